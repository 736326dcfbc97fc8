// `npm run emulators`: starts a fake upstream for every remote provider kind
// (the same emulators the tests use), prints a ready-to-use reelay config and
// writes it to ./reelay.emulators.json. Runs until Ctrl-C.
//
//   EMULATOR_BASE_PORT   first port (default 7001; the kinds take base..base+4; 0 = random ports)
//   (everything listens on 127.0.0.1)
//
// Prompt keywords work on every kind: "[fail]" (the upstream fails the task),
// "[never]" (it never finishes), "[vanish]" (the task or its video disappears).
import fs from 'node:fs';
import path from 'node:path';
import { startGrokImagineEmulator } from '../test/emulators/grok-imagine.js';
import { startLightx2vEmulator } from '../test/emulators/lightx2v.js';
import { SORA_UI_TEST_TOKEN, startSoraUiEmulator } from '../test/emulators/sora-ui.js';
import { startTasksApiEmulator } from '../test/emulators/tasks-api.js';
import { startVideogenV1Emulator } from '../test/emulators/videogen-v1.js';

const GROK_KEY = 'emulator-grok-key';
const LOOPBACK = ['127.0.0.1'];

function basePort(): number {
  const raw = process.env.EMULATOR_BASE_PORT;
  if (raw === undefined || raw === '') return 7001;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65530) {
    console.error(`EMULATOR_BASE_PORT must be an integer between 0 and 65530 (got ${JSON.stringify(raw)})`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const base = basePort();
  const port = (offset: number) => (base === 0 ? 0 : base + offset);

  const closers: Array<() => Promise<void>> = [];
  const started = async <T extends { close(): Promise<void> }>(name: string, start: () => Promise<T>): Promise<T> => {
    try {
      const emu = await start();
      closers.push(() => emu.close());
      return emu;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      console.error(`cannot start the ${name} emulator: ${code === 'EADDRINUSE' ? 'its port is in use (set EMULATOR_BASE_PORT)' : (err as Error).message}`);
      await Promise.allSettled(closers.map((c) => c()));
      process.exit(1);
    }
  };

  // Realistic but quick: queued for a second or two, finished after 5–10 s.
  const videogen = await started('videogen-v1', () => startVideogenV1Emulator({ port: port(0), processingAfterMs: 1500, completeAfterMs: 6000 }));
  const grok = await started('grok-imagine', () => startGrokImagineEmulator({ port: port(1), apiKey: GROK_KEY, delayMs: 3000 }));
  const sora = await started('sora-ui', () => startSoraUiEmulator({ port: port(2), processingAfterMs: 1000, completeAfterMs: 8000 }));
  const lightx2v = await started('lightx2v', () => startLightx2vEmulator({ port: port(3), processingAfterMs: 1000, completeAfterMs: 7000 }));
  const tasksApi = await started('tasks-api', () => startTasksApiEmulator({ port: port(4), processingAfterMs: 1500, completeAfterMs: 5000 }));

  const config = {
    providers: [
      { id: 'local', kind: 'local', maxConcurrency: 2, allowHosts: LOOPBACK },
      { id: 'videogen', kind: 'videogen-v1', baseUrl: videogen.url, pollIntervalMs: 1000, allowHosts: LOOPBACK },
      { id: 'grok', kind: 'grok-imagine', baseUrl: grok.url, apiKey: GROK_KEY, allowHosts: LOOPBACK },
      { id: 'sora', kind: 'sora-ui', baseUrl: sora.url, apiKey: SORA_UI_TEST_TOKEN, pollIntervalMs: 1000, allowHosts: LOOPBACK },
      { id: 'lightx2v', kind: 'lightx2v', baseUrl: lightx2v.url, pollIntervalMs: 1000, allowHosts: LOOPBACK, options: { stopEndpoint: true } },
      { id: 'tasks', kind: 'tasks-api', baseUrl: tasksApi.baseUrl, pollIntervalMs: 1000, allowHosts: LOOPBACK },
    ],
    defaultProvider: 'local',
  };
  const json = JSON.stringify(config, null, 2);
  const file = path.resolve('reelay.emulators.json');
  fs.writeFileSync(file, json + '\n');

  const rows: Array<[string, string]> = [
    ['videogen-v1', videogen.url],
    ['grok-imagine', grok.url],
    ['sora-ui', sora.url],
    ['lightx2v', lightx2v.url],
    ['tasks-api', tasksApi.baseUrl],
  ];
  console.log('Emulators listening:');
  for (const [kind, url] of rows) console.log(`  ${kind.padEnd(13)} ${url}`);
  console.log('\nreelay config (written to reelay.emulators.json):\n');
  console.log(json);
  console.log('\nIn another terminal:  REELAY_CONFIG=reelay.emulators.json npm start');
  console.log('Prompt keywords: [fail] fails upstream, [never] never finishes, [vanish] makes the task disappear. Ctrl-C stops.');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the emulators`);
    await Promise.allSettled(closers.map((c) => c()));
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

void main();
