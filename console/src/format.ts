// How numbers and times read in the console.

/** 75 → "1:15", 3725 → "1:02:05". */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function percent(x: number | null | undefined): string {
  return x == null ? '–' : `${Math.round(x * 100)}%`;
}

export function seconds(x: number | null | undefined): string {
  return x == null ? '–' : `${x < 10 ? x.toFixed(1) : Math.round(x)} s`;
}

export function time(iso: string): string {
  return new Date(iso).toLocaleTimeString();
}
