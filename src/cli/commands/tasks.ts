// `reelay tasks`: the caller's newest tasks as a table (or JSON).
import type { Command } from 'commander';
import type { TaskStatus } from '../../client/index.js';
import { connect } from '../connection.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { percent, table, timestamp, truncate } from '../format.js';
import { parseInteger, type Run } from '../run.js';

const STATUSES: readonly TaskStatus[] = ['QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED'];

/** "completed,failed" → ['COMPLETED', 'FAILED']. */
export function parseStatuses(value: string): TaskStatus[] {
  return value.split(',').map((s) => {
    const status = s.trim().toUpperCase() as TaskStatus;
    if (!STATUSES.includes(status)) throw new UsageError(`--status: "${s.trim()}" is not one of ${STATUSES.join(', ')}`);
    return status;
  });
}

export function registerTasks(program: Command, run: Run): void {
  program
    .command('tasks')
    .description('list your tasks, newest first')
    .option('--status <statuses>', `only these statuses, comma-separated (${STATUSES.join(', ')})`)
    .option('--limit <n>', 'how many (1-100)', parseInteger('--limit', 1, 100), 20)
    .option('--json', 'print the tasks as a JSON array')
    .action(async (flags: { status?: string; limit: number; json?: boolean }, cmd: Command) =>
      run(cmd, async () => {
        const status = flags.status ? parseStatuses(flags.status) : undefined;
        const client = connect(cmd.optsWithGlobals());
        try {
          const page = await client.tasks({ first: flags.limit, filter: status ? { status } : undefined });
          if (flags.json) {
            process.stdout.write(JSON.stringify(page.nodes) + '\n');
            return EXIT.OK;
          }
          const rows = page.nodes.map((t) => [t.id, t.status, percent(t.progress), t.provider, timestamp(t.createdAt), truncate(t.prompt, 48)]);
          process.stdout.write(table(['ID', 'STATUS', 'PROGRESS', 'PROVIDER', 'CREATED (UTC)', 'PROMPT'], rows) + '\n');
          if (page.totalCount > page.nodes.length) process.stdout.write(`(${page.nodes.length} of ${page.totalCount}; --limit shows more)\n`);
          return EXIT.OK;
        } finally {
          await client.close();
        }
      }),
    );
}
