// `reelay` (npx reelay, bin/reelay.mjs): the command-line client. Commands
// live in commands/, one module each; main() returns the exit code (see
// exit-codes.ts) instead of exiting, so tests and the bin decide.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerCancelRetry } from './commands/cancel-retry.js';
import { registerGenerate } from './commands/generate.js';
import { registerProvidersStats } from './commands/providers-stats.js';
import { registerTasks } from './commands/tasks.js';
import { registerWatch } from './commands/watch.js';
import { DEFAULT_URL } from './connection.js';
import { EXIT } from './exit-codes.js';
import { run } from './run.js';

function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const HELP_AFTER = `
Environment:
  REELAY_URL      the server (default ${DEFAULT_URL}); --url overrides it
  REELAY_API_KEY  your client key, sent as "Authorization: Bearer <key>"; --key overrides it.
                  Not REELAY_API_KEYS: that is the server's list of accepted keys.

Exit codes:
  0  done (generate/watch: the task COMPLETED)
  1  the task FAILED or was CANCELLED (its error code and message are printed)
  2  usage error, or an error the API returned (e.g. UNKNOWN_PROVIDER, NOT_FOUND, UNAUTHENTICATED)
  3  the server cannot be reached
  130  interrupted with Ctrl-C: the task keeps running

Examples:
  reelay generate "A lighthouse at dusk" --duration 4 --size 1280x720 --out lighthouse.mp4
  reelay generate "Pan over this" --image photo.png --provider local
  reelay tasks --status failed,cancelled
  reelay watch <id>`;

export function buildProgram(): Command {
  const program = new Command('reelay')
    .description('Command-line client for a reelay server: generate videos, follow tasks, list them.')
    .version(version())
    .option('--url <url>', `reelay server URL (default: $REELAY_URL, else ${DEFAULT_URL})`)
    .option('--key <key>', 'your client API key (default: $REELAY_API_KEY; not the server\'s REELAY_API_KEYS list)')
    .exitOverride()
    // Each command's --help also lists --url and --key.
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(reelay --help shows the usage)')
    .addHelpText('after', HELP_AFTER);
  registerGenerate(program, run);
  registerWatch(program, run);
  registerTasks(program, run);
  registerCancelRetry(program, run);
  registerProvidersStats(program, run);
  return program;
}

/** Whether the command line asks for --json (before any `--`). */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).slice(2).includes('--json');
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  if (argv.length <= 2) {
    program.outputHelp({ error: true });
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync(argv);
  } catch (e) {
    // Help and --version exit 0; every other commander error (unknown option, missing argument, bad value) is a usage error.
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return EXIT.OK;
      // Commander printed it on stderr; with --json, stdout carries it as JSON too, as for every other failure.
      if (wantsJson(argv)) process.stdout.write(JSON.stringify({ error: { code: 'USAGE', message: e.message.replace(/^error: /, '') } }) + '\n');
      return EXIT.USAGE;
    }
    throw e;
  }
  return Number(process.exitCode ?? EXIT.OK);
}

function isEntryPoint(): boolean {
  try {
    return Boolean(process.argv[1]) && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

// Also runnable as `node dist/cli/main.js …` (bin/reelay.mjs imports it instead).
if (isEntryPoint()) process.exit(await main());
