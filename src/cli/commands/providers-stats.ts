// `reelay providers` and `reelay stats`: what the server offers, and counts
// over the caller's tasks.
import type { Command } from 'commander';
import { connect } from '../connection.js';
import { EXIT } from '../exit-codes.js';
import { seconds, table } from '../format.js';
import type { Run } from '../run.js';

export function registerProvidersStats(program: Command, run: Run): void {
  program
    .command('providers')
    .description('list the configured providers, their models and health')
    .option('--json', 'print them as JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) =>
      run(cmd, async () => {
        const client = connect(cmd.optsWithGlobals());
        try {
          const providers = await client.providers();
          if (flags.json) {
            process.stdout.write(JSON.stringify(providers) + '\n');
            return EXIT.OK;
          }
          const rows = providers.map((p) => {
            const c = p.capabilities;
            const can = [c.textToVideo && 'text', c.imageToVideo && 'image', c.negativePrompt && 'negative', c.seed && 'seed', c.cancel && 'cancel'].filter(Boolean).join(',');
            const durations = c.durations ? `${c.durations.min}-${c.durations.max}s` : '';
            return [p.id + (p.isDefault ? ' *' : ''), p.kind, p.healthy ? 'yes' : 'no', String(p.maxConcurrency), durations, can, p.models.join(', ')];
          });
          process.stdout.write(table(['ID', 'KIND', 'HEALTHY', 'SLOTS', 'DURATION', 'INPUTS', 'MODELS'], rows) + '\n(* the default provider)\n');
          return EXIT.OK;
        } finally {
          await client.close();
        }
      }),
    );
  program
    .command('stats')
    .description('counts and success rate of your tasks')
    .option('--json', 'print them as JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) =>
      run(cmd, async () => {
        const client = connect(cmd.optsWithGlobals());
        try {
          const s = await client.stats();
          if (flags.json) {
            process.stdout.write(JSON.stringify(s) + '\n');
            return EXIT.OK;
          }
          const lines = [
            ['total', String(s.total)],
            ['queued', String(s.queued)],
            ['processing', String(s.processing)],
            ['completed', String(s.completed)],
            ['failed', String(s.failed)],
            ['cancelled', String(s.cancelled)],
            ['success rate', s.successRate == null ? '-' : `${(s.successRate * 100).toFixed(1)}%`],
            ['average duration', s.avgDurationSeconds == null ? '-' : seconds(s.avgDurationSeconds)],
          ];
          const width = Math.max(...lines.map(([k]) => k.length));
          process.stdout.write(lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n');
          if (s.byProvider.length) {
            const rows = s.byProvider.map((p) => [p.provider, String(p.total), String(p.completed), String(p.failed)]);
            process.stdout.write('\n' + table(['PROVIDER', 'TOTAL', 'COMPLETED', 'FAILED'], rows) + '\n');
          }
          return EXIT.OK;
        } finally {
          await client.close();
        }
      }),
    );
}
