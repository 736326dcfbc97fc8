// Matching a lost submission in an upstream's task list: same prompt (and
// model when the upstream reports one), created after we sent it, and not a
// task reelay already knows. The oldest match wins.
export interface ListedTask {
  id: string;
  prompt: string | null | undefined;
  model?: string | null;
  /** Parsed creation time, null when the upstream gives none or no time zone. */
  createdAt: Date | null;
}

/** Clock skew tolerated between reelay and the upstream. */
const SKEW_MS = 60_000;

export function matchSubmitted(listed: ListedTask[], want: { prompt: string; model?: string | null; since: Date; exclude: ReadonlySet<string> }): string | null {
  const earliest = want.since.getTime() - SKEW_MS;
  const hits = listed.filter(
    (t) =>
      t.prompt === want.prompt &&
      !want.exclude.has(t.id) &&
      (!want.model || !t.model || t.model === want.model) &&
      (t.createdAt === null || t.createdAt.getTime() >= earliest),
  );
  hits.sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0));
  return hits[0]?.id ?? null;
}

/** An ISO time with an explicit zone, else null (a naive time cannot be compared safely). */
export function zonedTime(value: string | null | undefined): Date | null {
  if (!value || !/(Z|[+-]\d{2}:?\d{2})$/i.test(value.trim())) return null;
  const t = Date.parse(value);
  return Number.isFinite(t) ? new Date(t) : null;
}
