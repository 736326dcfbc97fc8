// Operate: provider health and the key's `stats` (counts, success rate,
// durations), with a bar chart of `stats.series` (the last 24 hours).
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import type { ReelayClient } from './api.js';
import { Operate, type OperateData } from './documents.js';
import { percent, seconds, time } from './format.js';

const EVERY_MS = 10_000;

/** One bar of the chart: a label and named numbers. */
export interface SeriesPoint {
  label: string;
  values: Record<string, number>;
}

const points = (series: OperateData['stats']['series']): SeriesPoint[] => series.map((b) => ({ label: b.start, values: { completed: b.completed, failed: b.failed } }));

/** Stacked bars, one per point, one colour per value; plain SVG (no script, no style attribute). */
export function BarChart({ points }: { points: SeriesPoint[] }) {
  if (!points.length) return html`<p class="muted">No data yet.</p>`;
  const keys = Object.keys(points[0]!.values);
  const max = Math.max(1, ...points.map((p) => keys.reduce((s, k) => s + (p.values[k] ?? 0), 0)));
  const W = 300;
  const H = 100;
  const bw = W / points.length;
  return html`
    <figure class="chart">
      <svg viewBox=${`0 0 ${W} ${H}`} role="img" aria-label=${`Tasks over time: ${keys.join(', ')}`} preserveAspectRatio="none">
        ${points.map((p, i) => {
          let y = H;
          return keys.map((k, j) => {
            const h = ((p.values[k] ?? 0) / max) * H;
            y -= h;
            return html`<rect x=${i * bw + 0.5} y=${y} width=${Math.max(0.5, bw - 1)} height=${h} class=${`c${j % 6}`}><title>${p.label}: ${k} ${p.values[k]}</title></rect>`;
          });
        })}
      </svg>
      <figcaption>${keys.map((k, j) => html`<span class=${`key c${j % 6}`}>${k}</span>`)}</figcaption>
    </figure>
  `;
}

export function OperatePanel({ client, refresh }: { client: ReelayClient; refresh: number }) {
  const [health, setHealth] = useState<OperateData['health'] | null>(null);
  const [stats, setStats] = useState<OperateData['stats'] | null>(null);
  const [problem, setProblem] = useState('');
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), EVERY_MS);
    return () => clearInterval(t);
  }, []);

  // Re-read on the timer, and shortly after tasks finish (a burst of them is one read).
  useEffect(() => {
    let gone = false;
    const t = setTimeout(() => {
      client.request(Operate).then(
        (d) => !gone && (setHealth(d.health), setStats(d.stats), setProblem('')),
        (err: Error) => !gone && setProblem(err.message),
      );
    }, refresh ? 300 : 0);
    return () => ((gone = true), clearTimeout(t));
  }, [client, tick, refresh]);

  return html`
    <section class="card operate" aria-labelledby="operate-title">
      <h2 id="operate-title">Operate</h2>
      ${problem ? html`<p class="error" role="alert">${problem}</p>` : null}
      <h3>Providers</h3>
      <ul class="health" aria-label="Provider health">
        ${(health?.providers ?? []).map(
          (p) => html`<li>
            <span class=${`dot ${p.healthy ? 'ok' : 'bad'}`} aria-hidden="true"></span>
            <strong>${p.id}</strong> <span class="muted">${p.kind}</span> ${p.healthy ? 'healthy' : 'unhealthy'}
            ${p.message ? html`<span class="muted"> · ${p.message}</span>` : null}
            ${p.checkedAt ? html`<span class="muted"> · checked ${time(p.checkedAt)}</span>` : null}
          </li>`,
        )}
      </ul>
      ${health && !health.db ? html`<p class="error">The database does not answer.</p>` : null}
      <h3>Stats</h3>
      ${stats
        ? html`
            <dl class="stats">
              <div><dt>total</dt><dd>${stats.total}</dd></div>
              <div><dt>queued</dt><dd>${stats.queued}</dd></div>
              <div><dt>processing</dt><dd>${stats.processing}</dd></div>
              <div><dt>completed</dt><dd>${stats.completed}</dd></div>
              <div><dt>failed</dt><dd>${stats.failed}</dd></div>
              <div><dt>cancelled</dt><dd>${stats.cancelled}</dd></div>
              <div><dt>success rate</dt><dd>${percent(stats.successRate)}</dd></div>
              <div><dt>avg duration</dt><dd>${seconds(stats.avgDurationSeconds)}</dd></div>
            </dl>
            ${stats.byProvider.length
              ? html`<table class="by-provider">
                  <caption>By provider</caption>
                  <thead><tr><th scope="col">provider</th><th scope="col">total</th><th scope="col">completed</th><th scope="col">failed</th></tr></thead>
                  <tbody>
                    ${stats.byProvider.map((p) => html`<tr><th scope="row">${p.provider}</th><td>${p.total}</td><td>${p.completed}</td><td>${p.failed}</td></tr>`)}
                  </tbody>
                </table>`
              : null}
            <${BarChart} points=${points(stats.series)} />
          `
        : html`<p class="muted">Loading…</p>`}
      <button type="button" onClick=${() => setTick((n) => n + 1)}>Refresh</button>
    </section>
  `;
}
