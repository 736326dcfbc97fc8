// The instants a `timestamptz` column takes as drizzle writes them (ISO strings):
// years 0001 to 9999. JavaScript dates reach further (±275760), Postgres refuses those.
const MIN_MS = Date.parse('0001-01-01T00:00:00.000Z');
const MAX_MS = Date.parse('9999-12-31T23:59:59.999Z');

export function isStorableTime(ms: number): boolean {
  return Number.isFinite(ms) && ms >= MIN_MS && ms <= MAX_MS;
}
