// Each kind documents its upstream's status words in a table; this turns a
// table into the case-insensitive lookup the adapter uses.
import type { Snapshot } from './types.js';

export type NormalizedState = Snapshot['state'];
export type StatusMap = Readonly<Record<string, NormalizedState>>;

/** A lookup of upstream status words; undefined for a word the table does not know. */
export function statusLookup(map: StatusMap): (word: string) => NormalizedState | undefined {
  const byWord = new Map(Object.entries(map).map(([word, state]) => [word.toLowerCase(), state]));
  return (word) => byWord.get(word.trim().toLowerCase());
}
