// `reelay cancel ID` and `reelay retry ID`: one mutation each; errors the API
// returns (NOT_FOUND, TASK_FINISHED, TASK_NOT_RETRYABLE, …) exit with 2.
import type { Command } from 'commander';
import { connect } from '../connection.js';
import { EXIT } from '../exit-codes.js';
import type { Run } from '../run.js';

export function registerCancelRetry(program: Command, run: Run): void {
  program
    .command('cancel')
    .description('cancel a QUEUED or PROCESSING task')
    .argument('<id>', 'task id')
    .option('--json', 'print the task as JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) =>
      run(cmd, async () => {
        const client = connect(cmd.optsWithGlobals());
        try {
          const task = await client.cancelTask(id);
          process.stdout.write(flags.json ? JSON.stringify(task) + '\n' : `${task.id} ${task.status}\n`);
          return EXIT.OK;
        } finally {
          await client.close();
        }
      }),
    );
  program
    .command('retry')
    .description('create a new task with the input of a FAILED or CANCELLED one; prints the new id')
    .argument('<id>', 'id of the FAILED or CANCELLED task')
    .option('--json', 'print the new task as JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) =>
      run(cmd, async () => {
        const client = connect(cmd.optsWithGlobals());
        try {
          const task = await client.retryTask(id);
          process.stdout.write(flags.json ? JSON.stringify(task) + '\n' : `${task.id} ${task.status} (retry of ${id})\n`);
          return EXIT.OK;
        } finally {
          await client.close();
        }
      }),
    );
}
