// `reelay watch ID`: follows an existing task to its end (exit codes as for
// generate); --out also downloads the result.
import type { Command } from 'commander';
import { ReelayError } from '../../client/index.js';
import { connect } from '../connection.js';
import { followTask } from '../follow.js';
import type { Run } from '../run.js';

export function registerWatch(program: Command, run: Run): void {
  program
    .command('watch')
    .description('follow a task until it is COMPLETED, FAILED or CANCELLED')
    .argument('<id>', 'task id')
    .option('--out <file>', 'also download the result there (a directory works too)')
    .option('--json', 'print the finished task as JSON on stdout')
    .action(async (id: string, flags: { out?: string; json?: boolean }, cmd: Command) =>
      run(cmd, async () => {
        const client = connect(cmd.optsWithGlobals());
        try {
          // One read first: a wrong id or a server that is down fails fast, before any WebSocket.
          const task = await client.task(id);
          if (!task) throw new ReelayError({ kind: 'api', type: 'NotFoundError', code: 'NOT_FOUND', message: `no task ${id} for this client` });
          return await followTask(client, task, { json: Boolean(flags.json), download: Boolean(flags.out), out: flags.out });
        } finally {
          await client.close();
        }
      }),
    );
}
