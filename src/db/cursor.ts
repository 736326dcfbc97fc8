// Opaque keyset cursors: (createdAt, id) of the row, base64url-encoded JSON.
import { isStorableTime } from './timestamps.js';

export interface CursorKey {
  createdAt: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeCursor(key: CursorKey): string {
  // The text of JSON.stringify([ms, id]) without building an array: ms is an
  // integer and id a UUID (a row's), so there is nothing to escape.
  return Buffer.from(`[${key.createdAt.getTime()},"${key.id}"]`, 'latin1').toString('base64url');
}

/** null when the cursor is not one of ours (or names no storable key). */
export function decodeCursor(cursor: string): CursorKey | null {
  if (cursor.length > 256) return null; // ours are about 80 characters
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return null;
    const [ms, id] = value as unknown[];
    // Only keys a row can have: anything else would reach SQL as a value Postgres refuses.
    if (typeof ms !== 'number' || !Number.isInteger(ms) || !isStorableTime(ms) || typeof id !== 'string' || !UUID.test(id)) return null;
    return { createdAt: new Date(ms), id };
  } catch {
    return null;
  }
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}
