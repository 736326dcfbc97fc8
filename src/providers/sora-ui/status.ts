// Sora UI task status words (seed 002) and what they mean for reelay.
import type { Snapshot } from '../types.js';

export type NormalizedState = Snapshot['state'];

export const statusMap: Readonly<Record<string, NormalizedState>> = Object.freeze({
  QUEUED: 'processing',
  PROCESSING: 'processing',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
});

/** The normalized state of an upstream status word (case-insensitive), undefined when unknown. */
export function mapStatus(word: string): NormalizedState | undefined {
  return statusMap[word.trim().toUpperCase()];
}
