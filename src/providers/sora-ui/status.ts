// Sora UI task status words (seed 002) and what they mean for reelay.
import { statusLookup, type StatusMap } from '../status-map.js';

export type { NormalizedState } from '../status-map.js';

export const statusMap: StatusMap = Object.freeze({
  QUEUED: 'processing',
  PROCESSING: 'processing',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
});

export const mapStatus = statusLookup(statusMap);
