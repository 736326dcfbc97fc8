// Follows a task to its end for `generate` and `watch`: live progress, Ctrl-C
// (on a terminal: ask whether to cancel; otherwise leave the task running and
// say its id), then the result downloaded, or the failure printed. Returns
// the exit code.
import readline from 'node:readline';
import { isTerminal, type ReelayClient, type VideoTask } from '../client/index.js';
import { downloadResult, targetPath } from './download.js';
import { describeFailure, EXIT } from './exit-codes.js';
import { progressView } from './progress-view.js';

export interface FollowOptions {
  json: boolean;
  /** Download a COMPLETED result (generate always; watch with --out). */
  download: boolean;
  out?: string;
}

const DETACH = Symbol('detach');

/** Asks on the terminal whether to cancel; a second Ctrl-C or no answer means no. */
async function askCancel(id: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await new Promise<boolean>((resolve) => {
      rl.on('SIGINT', () => resolve(false));
      rl.on('close', () => resolve(false));
      rl.question(`\nCancel task ${id}? [y/N] `, (answer) => resolve(/^y(es)?$/i.test(answer.trim())));
    });
  } finally {
    rl.close();
  }
}

export async function followTask(client: ReelayClient, initial: VideoTask, opts: FollowOptions): Promise<number> {
  // Progress goes to stdout, or to stderr when stdout carries --json.
  const out = opts.json ? process.stderr : process.stdout;
  const view = progressView(out);
  // A person at a terminal answers the question: it is read from stdin and asked on stderr, so
  // those two decide (stdout may be a file, as with `--json > task.json`, and a person still there).
  const onTerminal = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  const stop = new AbortController();
  let asking = false;
  const onSigint = () => {
    if (!onTerminal || asking) return stop.abort(DETACH);
    asking = true;
    view.pause();
    askCancel(initial.id).then(async (yes) => {
      asking = false;
      if (!yes) return stop.abort(DETACH);
      view.resume();
      // The watch then ends with CANCELLED (or whatever state the task reached first).
      await client.cancelTask(initial.id).catch((e) => process.stderr.write(`\nreelay: could not cancel: ${describeFailure(e).message}\n`));
    });
  };
  process.on('SIGINT', onSigint);

  let final: VideoTask;
  try {
    view.update(initial);
    final = isTerminal(initial.status) ? initial : await client.watch(initial.id, (t) => view.update(t), { signal: stop.signal });
  } catch (e) {
    view.stop();
    if (e === DETACH) {
      out.write(`interrupted: task ${initial.id} is still running (follow it with \`reelay watch ${initial.id}\`, stop it with \`reelay cancel ${initial.id}\`)\n`);
      return EXIT.INTERRUPTED;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
  view.stop();

  if (final.status !== 'COMPLETED') {
    const why = final.error ? `: ${final.error.code}: ${final.error.message}` : '';
    process.stderr.write(`reelay: task ${final.id} ${final.status}${why}\n`);
    if (opts.json) process.stdout.write(JSON.stringify(final) + '\n');
    return EXIT.TASK_FAILED;
  }
  let file: string | undefined;
  if (opts.download && final.result) {
    file = targetPath(final, opts.out);
    const bytes = await downloadResult(final, file);
    if (!opts.json) process.stdout.write(`saved ${file} (${bytes} bytes)\n`);
  } else if (!opts.json) process.stdout.write(`${final.id} COMPLETED ${final.result?.url ?? ''}\n`);
  if (opts.json) process.stdout.write(JSON.stringify(file ? { ...final, file } : final) + '\n');
  return EXIT.OK;
}
