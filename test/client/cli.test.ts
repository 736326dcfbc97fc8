// `reelay`, the command-line client, as a user runs it: the compiled
// bin/reelay.mjs (no tsx) spawned with pipes (no terminal: line output)
// against the real server with the local renderer. Checks exit codes
// (0, 1, 2, 3, 130), downloaded MP4s, --json and error output.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePng } from '../emulators/media.js';
import { startTasksApiEmulator, type TasksApiEmulator } from '../emulators/tasks-api.js';
import { providerEntry } from '../e2e/helpers.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { buildOnce, freePort, ROOT } from '../support/processes.js';

const KEY = 'cli-key-123456789';
const BIN = path.join(ROOT, 'bin/reelay.mjs');
/** util-linux `script` runs a command on a pseudo-terminal (for the terminal behaviour). */
const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
/** Each test spawns several Node processes (a few seconds each on a loaded 2-core machine). */
const SLOW = 180_000;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

interface Cli {
  code: Promise<number | null>;
  stdout: string;
  stderr: string;
  /** Resolves once stdout matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal: NodeJS.Signals): void;
}

describe('reelay CLI (bin/reelay.mjs) against the real server', () => {
  let t: TestApp;
  let emu: TasksApiEmulator;
  let work: string;

  /** Spawns the CLI with the server's URL and key in the environment (REELAY_URL, REELAY_API_KEY). */
  function reelay(args: string[], env: Record<string, string> = {}): Cli {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: work,
      env: { ...process.env, REELAY_URL: t.url, REELAY_API_KEY: KEY, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const cli: Cli = {
      stdout: '',
      stderr: '',
      code: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)))),
      waitFor: (re, timeoutMs = 60_000) =>
        new Promise((resolve, reject) => {
          const check = () => {
            const m = cli.stdout.match(re);
            if (!m) return false;
            child.stdout.off('data', check);
            clearTimeout(timer);
            resolve(m);
            return true;
          };
          const timer = setTimeout(() => reject(new Error(`no ${re} in: ${cli.stdout} ${cli.stderr}`)), timeoutMs);
          if (!check()) child.stdout.on('data', () => setImmediate(check));
          void cli.code.then(() => setImmediate(() => check() || reject(new Error(`exited without ${re}: ${cli.stdout} ${cli.stderr}`))));
        }),
      kill: (signal) => child.kill(signal),
    };
    child.stdout.on('data', (d) => (cli.stdout += String(d)));
    child.stderr.on('data', (d) => (cli.stderr += String(d)));
    return cli;
  }

  async function done(args: string[], env?: Record<string, string>) {
    const cli = reelay(args, env);
    const code = await cli.code;
    return { code, stdout: cli.stdout, stderr: cli.stderr };
  }

  const task = async (id: string) => (await t.gql(`query($id: ID!) { task(id: $id) { id status result { sizeBytes } error { code } } }`, { id }, KEY)).data.task;

  beforeAll(async () => {
    buildOnce();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-cli-'));
    // `parked`: an emulated upstream where a "[never]" prompt stays PROCESSING until cancelled.
    emu = await startTasksApiEmulator();
    t = await startTestApp({
      env: { REELAY_API_KEYS: `cli:${KEY}` },
      providers: [{ id: 'local', kind: 'local' }, providerEntry('parked', 'tasks-api', emu.baseUrl, { timeoutMs: 600_000 })],
      defaultProvider: 'local',
    });
  }, SLOW);
  afterAll(async () => {
    await t?.stop();
    await emu?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  }, SLOW);

  it('generate: progress lines, the MP4 saved to --out, exit 0', async () => {
    const out = path.join(work, 'clip.mp4');
    const r = await done(['generate', 'A paper boat', '--provider', 'local', '--duration', '1', '--size', '320x240', '--seed', '5', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const id = r.stdout.match(UUID)![0];
    expect(r.stdout).toMatch(new RegExp(`^${id} (QUEUED|PROCESSING)`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^${id} COMPLETED$`, 'm'));
    expect(r.stdout).toContain(`saved ${out} (`);
    const bytes = fs.readFileSync(out);
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    const stored = await task(id);
    expect(stored.status).toBe('COMPLETED');
    expect(bytes.length).toBe(stored.result.sizeBytes);
  }, SLOW);

  it('generate --json: the finished task as JSON, saved under the task id by default; progress on stderr', async () => {
    const r = await done(['generate', 'JSON please', '--duration', '1', '--size', '320x240', '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const json = JSON.parse(lines[0]);
    expect(json).toMatchObject({ status: 'COMPLETED', prompt: 'JSON please', provider: 'local', result: { contentType: 'video/mp4' } });
    expect(json.file).toBe(path.join(fs.realpathSync(work), `${json.id}.mp4`));
    expect(fs.statSync(json.file).size).toBe(json.result.sizeBytes);
    expect(r.stderr).toContain(`${json.id} PROCESSING`);
  }, SLOW);

  it('an error the API returns (unknown provider): exit 2 with its code; --json gets it as JSON', async () => {
    const r = await done(['generate', 'x', '--provider', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/UNKNOWN_PROVIDER.*nope.*\(field: provider\)/);
    const j = await done(['generate', 'x', '--provider', 'nope', '--json']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout)).toEqual({ error: { code: 'UNKNOWN_PROVIDER', message: expect.stringContaining('nope'), field: 'provider' } });
  }, SLOW);

  it('usage errors exit 2: bad option values, unknown commands, missing files', async () => {
    const cases = [['generate', 'x', '--size', 'big'], ['generate', 'x', '--seed', '1.5'], ['generate'], ['frobnicate'], ['tasks', '--status', 'DONE'], ['tasks', '--limit', '0'], ['generate', 'x', '--image', path.join(work, 'missing.png')]];
    const results = await Promise.all(cases.map((args) => done(args)));
    cases.forEach((args, i) => {
      expect(results[i].code, args.join(' ')).toBe(2);
      expect(results[i].stderr, args.join(' ')).not.toBe('');
    });
  }, SLOW);

  it('--no-wait with --out: exit 2 before a task is created (nothing would be saved)', async () => {
    const prompt = `no wait but out ${Date.now()}`;
    const r = await done(['generate', prompt, '--no-wait', '--out', path.join(work, 'never.mp4')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--no-wait');
    const list = await done(['tasks', '--json', '--limit', '100']);
    expect(list.stdout).not.toContain(prompt);
  }, SLOW);

  it('usage errors with --json: the error as JSON on stdout too, whoever found it (commander or the command)', async () => {
    const cases = [['generate', 'x', '--seed', '1.5', '--json'], ['generate', 'x', '--json', '--bogus'], ['tasks', '--limit', '0', '--json'], ['generate', 'x', '--size', 'big', '--json']];
    const results = await Promise.all(cases.map((args) => done(args)));
    cases.forEach((args, i) => {
      expect(results[i].code, args.join(' ')).toBe(2);
      expect(JSON.parse(results[i].stdout), args.join(' ')).toEqual({ error: { code: 'USAGE', message: expect.any(String) } });
    });
    expect(JSON.parse(results[0].stdout).error.message).toContain('--seed');
  }, SLOW);

  it('a wrong key: exit 2 with UNAUTHENTICATED (--key overrides REELAY_API_KEY)', async () => {
    const r = await done(['tasks', '--key', 'wrong-key-123456']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('UNAUTHENTICATED');
  }, SLOW);

  it('a server that cannot be reached: exit 3 (--url overrides REELAY_URL)', async () => {
    const port = await freePort(); // nothing listens there
    const cases = [['generate', 'x'], ['tasks'], ['watch', '00000000-0000-4000-8000-000000000000'], ['stats']];
    const results = await Promise.all(cases.map((args) => done([...args, '--url', `http://127.0.0.1:${port}`])));
    cases.forEach((args, i) => {
      expect(results[i].code, args[0]).toBe(3);
      expect(results[i].stderr, args[0]).toContain('NETWORK_ERROR');
    });
  }, SLOW);

  it('a task that FAILS: exit 1 with its error code (an image URL on a private address)', async () => {
    const r = await done(['generate', 'From a private URL', '--image', 'http://127.0.0.1:9/x.png', '--duration', '1', '--size', '320x240']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FAILED: IMAGE_URL_FORBIDDEN: /);
  }, SLOW);

  it('--image FILE is uploaded (multipart)', async () => {
    const png = path.join(work, 'in.png');
    fs.writeFileSync(png, makePng(64, 48, { rgb: [10, 200, 90] }));
    const r = await done(['generate', 'From a file', '--image', png, '--duration', '1', '--size', '320x240', '--json', '--out', path.join(work, 'from-image.mp4')]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'COMPLETED', inputImage: { contentType: 'image/png' }, file: path.join(work, 'from-image.mp4') });
  }, SLOW);

  it('--no-wait, watch, cancel (exit 1 for the watcher), retry, cancel of a finished task (exit 2)', async () => {
    const created = await done(['generate', '[never] A long one', '--provider', 'parked', '--no-wait']);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(UUID);

    const watcher = reelay(['watch', id]);
    await watcher.waitFor(new RegExp(`^${id} (QUEUED|PROCESSING)`, 'm'));
    const cancel = await done(['cancel', id]);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toMatch(new RegExp(`^${id} `));
    expect(await watcher.code).toBe(1);
    expect(watcher.stderr).toContain(`task ${id} CANCELLED`);

    expect(await done(['cancel', id])).toMatchObject({ code: 2, stderr: expect.stringContaining('TASK_FINISHED') });
    const retry = await done(['retry', id, '--json']);
    expect(retry.code).toBe(0);
    const again = JSON.parse(retry.stdout);
    expect(again).toMatchObject({ status: 'QUEUED', retryOf: { id } });
    expect((await done(['cancel', again.id])).code).toBe(0);
    expect((await done(['watch', '00000000-0000-4000-8000-000000000000'])).code).toBe(2);
  }, SLOW);

  it('Ctrl-C without a terminal leaves the task running and prints its id (exit 130)', async () => {
    const cli = reelay(['generate', '[never] Interrupted', '--provider', 'parked']);
    const [line] = await cli.waitFor(new RegExp(`^${UUID.source} (QUEUED|PROCESSING).*$`, 'm'));
    const id = line.slice(0, 36);
    cli.kill('SIGINT');
    expect(await cli.code).toBe(130);
    expect(cli.stdout).toContain(`task ${id} is still running`);
    expect(['QUEUED', 'PROCESSING']).toContain((await task(id)).status);
    expect((await done(['cancel', id])).code).toBe(0);
  }, SLOW);

  /** `cmd` run by script(1), so the CLI has a terminal; `seen(text)` waits until its output holds `text`. */
  function onTerminal(cmd: string) {
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: work, env: { ...process.env, SHELL: '/bin/sh', REELAY_URL: t.url, REELAY_API_KEY: KEY }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    const code = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const seen = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => out.includes(text) && (child.stdout.off('data', check), resolve());
        child.stdout.on('data', check);
        child.once('exit', () => reject(new Error(`no "${text}" in ${JSON.stringify(out)}`)));
        check();
      });
    return { child, code, seen, output: () => out };
  }

  it.skipIf(!hasScript)('on a terminal: a progress bar; Ctrl-C asks whether to cancel (y: CANCELLED, exit 1; n: keeps running, exit 130)', async () => {
    for (const answer of ['y', 'n']) {
      // script runs the command with `$SHELL -c`. A shell that stays (dash, the /bin/sh used when SHELL
      // is unset, does not exec a lone command) is in the terminal's foreground process group too: it
      // gets Ctrl-C's SIGINT as well and, once the CLI exits (1 after `y`), kills itself with SIGINT, so
      // script reports 130. A user's interactive shell runs the CLI in a process group of its own; `exec`
      // does the same here, whatever the shell (SHELL is pinned to /bin/sh so the command is POSIX sh).
      const cmd = `exec ${process.execPath} ${BIN} generate '[never] On a terminal' --provider parked`;
      const { child, code, seen, output } = onTerminal(cmd);
      await seen('% | PROCESSING');
      expect(output()).toMatch(/[░█]{30} \d+% \| /); // cli-progress's bar, not lines
      child.stdin.write('\x03'); // Ctrl-C, through the terminal's line discipline: SIGINT
      await seen('? [y/N]');
      const id = output().match(UUID)![0];
      child.stdin.write(`${answer}\r`);
      if (answer === 'y') {
        // With the output in the message: a failure here shows what the CLI printed.
        expect(await code, `exit code; the CLI printed ${JSON.stringify(output())}`).toBe(1);
        expect(output()).toContain(`task ${id} CANCELLED`);
        expect((await task(id)).status).toBe('CANCELLED');
      } else {
        expect(await code, `exit code; the CLI printed ${JSON.stringify(output())}`).toBe(130);
        expect(output()).toContain(`task ${id} is still running`);
        expect((await task(id)).status).toBe('PROCESSING');
        expect((await done(['cancel', id])).code).toBe(0);
      }
      child.stdin.end();
    }
  }, SLOW);

  it.skipIf(!hasScript)('on a terminal with stdout in a file (--json > file): the bar on stderr, Ctrl-C still asks', async () => {
    // A person at the terminal with the JSON going to a file: stdin and stderr are the terminal, so
    // Ctrl-C asks there (it used to look at stdout and leave at once, not asking).
    const file = path.join(work, 'cancelled.json');
    const cmd = `exec ${process.execPath} ${BIN} generate '[never] JSON to a file' --provider parked --json > ${file}`;
    const { child, code, seen, output } = onTerminal(cmd);
    await seen('% | PROCESSING');
    expect(output()).toMatch(/[░█]{30} \d+% \| /);
    child.stdin.write('\x03');
    await seen('? [y/N]');
    child.stdin.write('y\r');
    expect(await code, `exit code; the CLI printed ${JSON.stringify(output())}`).toBe(1);
    const task = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(task.status).toBe('CANCELLED');
    child.stdin.end();
  }, SLOW);

  it('tasks (table and --json), providers, stats', async () => {
    const table = await done(['tasks', '--status', 'completed', '--limit', '2']);
    expect(table.code).toBe(0);
    const rows = table.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^ID\s+STATUS\s+PROGRESS\s+PROVIDER\s+CREATED \(UTC\)\s+PROMPT$/);
    expect(rows[1]).toMatch(new RegExp(`^${UUID.source}\\s+COMPLETED\\s+100%\\s+local`));
    const json = await done(['tasks', '--status', 'cancelled,failed', '--json']);
    const list = JSON.parse(json.stdout);
    expect(list.length).toBeGreaterThanOrEqual(2);
    expect(list.every((x: { status: string }) => ['CANCELLED', 'FAILED'].includes(x.status))).toBe(true);

    const providers = await done(['providers']);
    expect(providers.code).toBe(0);
    expect(providers.stdout).toMatch(/^local \*\s+local\s+yes/m);
    expect(providers.stdout).toMatch(/^parked\s+tasks-api\s+yes/m);
    expect(JSON.parse((await done(['providers', '--json'])).stdout)[0]).toMatchObject({ id: 'local', kind: 'local' });

    const stats = await done(['stats']);
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/^completed\s+\d+$/m);
    const s = JSON.parse((await done(['stats', '--json'])).stdout);
    expect(s.completed).toBeGreaterThanOrEqual(3);
    expect(s.failed).toBeGreaterThanOrEqual(1);
  }, SLOW);

  it('--help names the environment variables and exit codes', async () => {
    const r = await done(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('REELAY_API_KEY');
    expect(r.stdout).toContain('Not REELAY_API_KEYS');
    expect(r.stdout).toMatch(/3\s+the server cannot be reached/);
  }, SLOW);
});
