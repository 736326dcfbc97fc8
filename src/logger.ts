// Structured logs with pino; anything that may carry a secret is redacted.
// Access lines (one per request) are written asynchronously and in batches:
// a request does not wait for its line to reach stdout, and the lines of many
// requests go out in one write (at most ACCESS_FLUSH_MS after the first). Everything else is written synchronously, so
// that the last words of a process that exits are never lost.
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'apiKey',
  '*.apiKey',
  '*.*.apiKey',
  'key',
  '*.key',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'connectionParams.authorization',
  'config.providers[*].apiKey',
  'secret',
  '*.secret',
  'config.fileUrls.secret',
];

const options = (level: string): pino.LoggerOptions => ({ level, base: { service: 'reelay' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });

/** Loggers writing to stdout (no destination of their own given). */
const toStdout = new WeakSet<Logger>();

export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  const log = pino(options(level), destination);
  if (!destination) toStdout.add(log);
  return log;
}

let asyncStdout: pino.DestinationStream | undefined;

/** Access lines are written once this many bytes wait… */
export const ACCESS_BATCH_BYTES = 8 * 1024; // below sonic-boom's maxWrite (16 KB)
/** …or this long after the first of them, whichever comes first. */
export const ACCESS_FLUSH_MS = 100;

/**
 * A writer that buffers lines and writes them out in batches: when `batchBytes`
 * wait, `flushMs` after the first line of a batch, and at exit. Under load one
 * write carries many lines instead of (nearly) one write per line.
 */
export function batchingDestination(dest: { write(line: string): unknown; flush(): void; flushSync(): void }, flushMs: number): pino.DestinationStream & { flushSync(): void } {
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    dest.flush();
  };
  return {
    write(line: string) {
      dest.write(line);
      if (!timer) (timer = setTimeout(flush, flushMs)).unref();
    },
    flushSync() {
      clearTimeout(timer);
      timer = undefined;
      dest.flushSync();
    },
  };
}

/** stdout through an asynchronous, batching writer, one per process, flushed at exit. */
function asyncStdoutDestination(): pino.DestinationStream {
  if (asyncStdout) return asyncStdout;
  const dest = batchingDestination(pino.destination({ dest: 1, sync: false, minLength: ACCESS_BATCH_BYTES }), ACCESS_FLUSH_MS);
  process.once('exit', () => {
    try {
      dest.flushSync();
    } catch {
      /* stdout already gone */
    }
  });
  return (asyncStdout = dest);
}

/**
 * The logger for access lines: `log` itself, or, when `log` writes to stdout,
 * a logger with the same level writing there asynchronously. Access lines are
 * `{ method, path, status, ms }` (the path without its query) and nothing else:
 * no field a redaction path names, so that logger skips the redaction pass, a
 * copy of every line's object made for nothing (see accessEntry in server/http.ts).
 */
export function accessLogger(log: Logger): Logger {
  if (!toStdout.has(log) || !log.isLevelEnabled('info')) return log;
  return pino({ level: log.level, base: { service: 'reelay' } }, asyncStdoutDestination());
}
