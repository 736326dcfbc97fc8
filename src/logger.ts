// Structured logs with pino; anything that may carry a secret is redacted.
// Access lines (one per request) are written asynchronously: under load a
// request no longer waits for its line to reach stdout, and lines logged
// meanwhile go out in one write. Everything else is written synchronously, so
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

/** stdout through an asynchronous writer, one per process, flushed at exit. */
function asyncStdoutDestination(): pino.DestinationStream {
  if (asyncStdout) return asyncStdout;
  const dest = pino.destination({ dest: 1, sync: false });
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
