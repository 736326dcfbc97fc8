// The server that owns an embedded database takes `npm run keys` commands on a
// Unix socket in the lock's private directory (mode 0700: only the server's
// user can connect), so a key created while it runs takes effect at once and is
// stored in the one database copy that is kept. One JSON line each way: the
// CLI's arguments in, the command's output and exit code back.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Db } from '../db/client.js';
import { runDirOf } from '../db/lock.js';
import type { Logger } from '../logger.js';
import { parseKeysArgs, refusal, runKeysCommand, type KeysResult } from './commands.js';

const MAX_REQUEST_BYTES = 64 * 1024;
const IDLE_TIMEOUT_MS = 10_000;

export function controlSocketPath(dataDir: string): string {
  return path.join(runDirOf(dataDir), 'keys.sock');
}

export interface KeysControl {
  close(): Promise<void>;
}

/** Serve key commands for the database in `dataDir`; undefined when this platform or path cannot (the CLI then refuses). */
export async function serveKeysControl(dataDir: string, db: Db, log: Logger): Promise<KeysControl | undefined> {
  if (process.platform === 'win32') return undefined;
  const socketPath = controlSocketPath(dataDir);
  // Left behind by a process that died; we hold the data directory's lock, so it is not in use.
  fs.rmSync(socketPath, { force: true });
  const server = net.createServer((conn) => {
    conn.setTimeout(IDLE_TIMEOUT_MS, () => conn.destroy());
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST_BYTES) return void conn.destroy();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      conn.removeAllListeners('data');
      void answer(buf.slice(0, nl)).then((result) => conn.end(JSON.stringify(result) + '\n'));
    });
    conn.on('error', () => {});
  });
  async function answer(line: string): Promise<KeysResult> {
    try {
      const argv = (JSON.parse(line) as { argv?: unknown }).argv;
      if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) return { code: 2, stdout: '', stderr: 'reelay keys: malformed request\n' };
      const result = await runKeysCommand(db, parseKeysArgs(argv));
      if (result.code === 0) log.info({ command: argv[0], name: argv[1] }, 'key command from npm run keys');
      return result;
    } catch (err) {
      const refused = refusal(err);
      if (refused) return refused;
      log.error({ err }, 'key command failed');
      return { code: 1, stdout: '', stderr: 'reelay keys: the server could not run the command (see its log)\n' };
    }
  }
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    log.warn({ err, socketPath }, 'cannot listen for "npm run keys" commands; the command refuses while this server runs');
    return undefined;
  }
  server.on('error', (err) => log.warn({ err }, 'key command socket failed'));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        fs.rmSync(socketPath, { force: true });
      }),
  };
}

/** Hand a command to the server that owns `dataDir`; undefined when none answers. */
export async function sendKeysCommand(dataDir: string, argv: string[], timeoutMs = 15_000): Promise<KeysResult | undefined> {
  const socketPath = controlSocketPath(dataDir);
  if (process.platform === 'win32' || !fs.existsSync(socketPath)) return undefined;
  return new Promise((resolve) => {
    const conn = net.connect(socketPath);
    let buf = '';
    let connected = false;
    const timer = setTimeout(() => conn.destroy(new Error('timeout')), timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => {
      connected = true;
      conn.write(JSON.stringify({ argv }) + '\n');
    });
    conn.on('data', (chunk: string) => (buf += chunk));
    conn.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as KeysResult);
      } catch {
        // Connected but no answer: the command may or may not have run.
        resolve(connected ? { code: 1, stdout: '', stderr: 'reelay keys: the running server did not answer; check `npm run keys -- list` before retrying\n' } : undefined);
      }
    });
    conn.on('error', () => {});
  });
}
