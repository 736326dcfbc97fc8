// Matching a lost submission in an upstream's task list: same prompt (and
// model when the upstream reports one), created at or after the moment we sent
// it, and not a task reelay already knows. A listed task whose creation time
// the upstream does not give (or gives without a time zone reelay knows) is
// never adopted: it may be an older task with the same prompt, and adopting it
// would deliver someone else's video while ours is paid for and lost. The
// oldest match wins.
export interface ListedTask {
  id: string;
  prompt: string | null | undefined;
  model?: string | null;
  /** Parsed creation time, null when the upstream gives none or no time zone. */
  createdAt: Date | null;
}

/**
 * Upstreams commonly report creation times in whole seconds (truncated or
 * rounded), so a task created 300 ms after we sent it can read as up to a
 * second before; clocks of hosts kept by NTP differ by far less than that.
 */
export const CREATED_TOLERANCE_MS = 1000;

export function matchSubmitted(listed: ListedTask[], want: { prompt: string; model?: string | null; since: Date; exclude: ReadonlySet<string> }): string | null {
  const earliest = want.since.getTime() - CREATED_TOLERANCE_MS;
  const hits = listed.filter(
    (t): t is ListedTask & { createdAt: Date } =>
      t.prompt === want.prompt &&
      !want.exclude.has(t.id) &&
      (!want.model || !t.model || t.model === want.model) &&
      t.createdAt !== null &&
      t.createdAt.getTime() >= earliest,
  );
  hits.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  return hits[0]?.id ?? null;
}

const ZONE = /^(Z|[+-]\d{2}:\d{2})$/;

/** Whether `zone` is a time zone `zonedTime` accepts as `assumeZone`: `Z` or `±HH:MM`. */
export function isZone(zone: string): boolean {
  return ZONE.test(zone);
}

/**
 * An ISO time with an explicit zone, else null (a naive time cannot be compared
 * safely) unless the operator declared the upstream's zone as `assumeZone`.
 */
export function zonedTime(value: string | null | undefined, assumeZone?: string): Date | null {
  const v = value?.trim();
  if (!v) return null;
  const zoned = /(Z|[+-]\d{2}:?\d{2})$/i.test(v) ? v : assumeZone && isZone(assumeZone) && /[T ]\d{2}:\d{2}/.test(v) ? v + assumeZone : null;
  if (!zoned) return null;
  const t = Date.parse(zoned);
  return Number.isFinite(t) ? new Date(t) : null;
}
