// `reelay generate "<prompt>"`: creates a task from the options, then follows
// it to the end and downloads the result (unless --no-wait).
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { CreateVideoTaskInput } from '../../client/index.js';
import { connect } from '../connection.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { followTask } from '../follow.js';
import { parseInteger, parseNumber, type Run } from '../run.js';

interface GenerateFlags {
  provider?: string;
  model?: string;
  image?: string;
  duration?: number;
  size?: string;
  aspect?: string;
  seed?: number;
  negative?: string;
  out?: string;
  wait: boolean;
  json?: boolean;
  idempotencyKey?: string;
}

const IMAGE_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' };

/** --image: an http(s) URL or a data: URL as such, anything else a file to upload. */
async function imageInput(value: string): Promise<NonNullable<CreateVideoTaskInput['image']>> {
  if (/^https?:\/\//i.test(value)) return { url: value };
  if (/^data:/i.test(value)) return { base64: value };
  let stat: fs.Stats;
  try {
    stat = fs.statSync(value);
  } catch {
    throw new UsageError(`--image: no such file: ${value}`);
  }
  if (!stat.isFile()) throw new UsageError(`--image: not a file: ${value}`);
  const blob = await fs.openAsBlob(value, { type: IMAGE_TYPES[path.extname(value).toLowerCase()] ?? 'application/octet-stream' });
  // A File keeps the name in the multipart part (reelay checks the content, not the name).
  return { file: new File([blob], path.basename(value), { type: blob.type }) };
}

export async function buildInput(prompt: string, flags: GenerateFlags): Promise<CreateVideoTaskInput> {
  const input: CreateVideoTaskInput = { prompt };
  if (flags.provider) input.provider = flags.provider;
  if (flags.model) input.model = flags.model;
  if (flags.duration !== undefined) input.durationSeconds = flags.duration;
  if (flags.size) {
    const m = /^(\d+)[x×](\d+)$/i.exec(flags.size.trim());
    if (!m) throw new UsageError(`--size: expected WIDTHxHEIGHT, e.g. 1280x720, got "${flags.size}"`);
    input.width = Number(m[1]);
    input.height = Number(m[2]);
  }
  if (flags.aspect) input.aspectRatio = flags.aspect;
  if (flags.seed !== undefined) input.seed = flags.seed;
  if (flags.negative) input.negativePrompt = flags.negative;
  if (flags.idempotencyKey) input.idempotencyKey = flags.idempotencyKey;
  if (flags.image) input.image = await imageInput(flags.image);
  return input;
}

export function registerGenerate(program: Command, run: Run): void {
  program
    .command('generate')
    .description('create a video task, show its progress and download the result')
    .argument('<prompt>', 'what the video shows')
    .option('--provider <id>', 'provider id (default: the one listing --model, else the server default)')
    .option('--model <model>', 'model name')
    .option('--image <file|url>', 'input image: a PNG/JPEG/WebP file (uploaded) or an http(s) URL')
    .option('--duration <seconds>', 'length in seconds', parseNumber('--duration'))
    .option('--size <WxH>', 'frame size, e.g. 1280x720')
    .option('--aspect <ratio>', 'aspect ratio, e.g. 16:9')
    .option('--seed <n>', 'seed, for repeatable results', parseInteger('--seed'))
    .option('--negative <text>', 'negative prompt: what to avoid')
    .option('--idempotency-key <key>', 'the same key and request within 24 h returns the same task')
    .option('--out <file>', 'where to save the result (default: <task id>.mp4 in the current directory; a directory works too)')
    .option('--no-wait', 'print the task id and exit at once, without following it')
    .option('--json', 'print the task (finished, or created with --no-wait) as JSON on stdout')
    .action(async (prompt: string, flags: GenerateFlags, cmd: Command) =>
      run(cmd, async () => {
        // Nothing would be saved: refused before a task is created (and paid for).
        if (!flags.wait && flags.out) throw new UsageError('--out needs the result, which --no-wait does not wait for: drop one of them (`reelay watch <id> --out FILE` later)');
        const input = await buildInput(prompt, flags);
        const client = connect(cmd.optsWithGlobals());
        try {
          const task = await client.createVideoTask(input);
          if (!flags.wait) {
            process.stdout.write(flags.json ? JSON.stringify(task) + '\n' : `${task.id}\n`);
            return EXIT.OK;
          }
          return await followTask(client, task, { json: Boolean(flags.json), download: true, out: flags.out });
        } finally {
          await client.close();
        }
      }),
    );
}
