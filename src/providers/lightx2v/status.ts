// LightX2V status words and what they mean for reelay. The first four are the
// documented ones (seed 003); the others are what the LightX2V server itself
// reports (pending/processing/completed/cancelled), accepted for robustness.
import type { Snapshot } from '../types.js';

export type NormalizedState = Snapshot['state'];

export const statusMap: Readonly<Record<string, NormalizedState>> = Object.freeze({
  submitted: 'processing',
  running: 'processing',
  succeed: 'completed',
  failed: 'failed',
  pending: 'processing',
  processing: 'processing',
  completed: 'completed',
  cancelled: 'cancelled',
});

/** The normalized state of an upstream status word (case-insensitive), undefined when unknown. */
export function mapStatus(word: string): NormalizedState | undefined {
  const key = word.trim().toLowerCase();
  return Object.hasOwn(statusMap, key) ? statusMap[key] : undefined;
}
