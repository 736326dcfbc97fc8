// Reading Prometheus text in tests: one sample by name and labels.

export type Labels = Record<string, string>;

const LINE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g;

/** The value of the sample `name` whose labels are exactly `labels` (undefined when absent). */
export function sample(text: string, name: string, labels: Labels = {}): number | undefined {
  const want = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m || m[1] !== name) continue;
    const got = [...(m[2] ?? '').matchAll(LABEL)].map((l) => [l[1]!, l[2]!] as const).sort(([a], [b]) => a.localeCompare(b));
    if (JSON.stringify(got) === JSON.stringify(want)) return Number(m[3]);
  }
  return undefined;
}

/** `sample` with absent counted as 0 (a counter not incremented yet). */
export const count = (text: string, name: string, labels: Labels = {}) => sample(text, name, labels) ?? 0;

export async function scrape(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`${url}/metrics`, { headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}
