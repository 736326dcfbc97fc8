// LightX2V status words and what they mean for reelay. The first four are the
// documented ones (seed 003); the others are what the LightX2V server itself
// reports (pending/processing/completed/cancelled), accepted for robustness.
import { statusLookup, type StatusMap } from '../status-map.js';

export type { NormalizedState } from '../status-map.js';

export const statusMap: StatusMap = Object.freeze({
  submitted: 'processing',
  running: 'processing',
  succeed: 'completed',
  failed: 'failed',
  pending: 'processing',
  processing: 'processing',
  completed: 'completed',
  cancelled: 'cancelled',
});

export const mapStatus = statusLookup(statusMap);
