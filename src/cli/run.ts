// Runs one command's action: its result or failure becomes the exit code, and
// a failure is printed as `reelay: CODE: message` (and as JSON with --json).
import { InvalidArgumentError, type Command } from 'commander';
import { describeFailure, exitCodeFor } from './exit-codes.js';

export type Run = (cmd: Command, action: () => Promise<number>) => Promise<void>;

export const run: Run = async (cmd, action) => {
  try {
    process.exitCode = await action();
  } catch (e) {
    const failure = describeFailure(e);
    const where = failure.field ? ` (field: ${failure.field})` : '';
    process.stderr.write(`reelay: ${failure.code}: ${failure.message}${where}\n`);
    if (cmd.opts().json) process.stdout.write(JSON.stringify({ error: failure }) + '\n');
    process.exitCode = exitCodeFor(e);
  }
};

export function parseNumber(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name}: expected a positive number, got "${value}"`);
    return n;
  };
}

export function parseInteger(name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || n < min || n > max) {
      throw new InvalidArgumentError(`${name}: expected a whole number${min > Number.MIN_SAFE_INTEGER ? ` from ${min} to ${max}` : ''}, got "${value}"`);
    }
    return n;
  };
}
