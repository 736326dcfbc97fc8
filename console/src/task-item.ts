// One task in the list: status, progress bar, queue position, ETA, elapsed
// time, Cancel / Retry / Delete; once finished, the video (or image) inline and
// a download link; its events as a timeline under "Details".
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { FINAL, isReelayError, type ReelayClient, type Task } from './api.js';
import { TaskEvents, type TaskEvent } from './documents.js';
import { bytes, clock, time } from './format.js';

interface Props {
  task: Task;
  client: ReelayClient;
  now: number;
  onChange(task: Task): void;
  onRemove(id: string): void;
  onCreated(task: Task): void;
}

function elapsed(t: Task, now: number): number {
  const start = Date.parse(t.startedAt ?? t.createdAt);
  const end = t.completedAt ? Date.parse(t.completedAt) : FINAL.has(t.status) ? Date.parse(t.updatedAt) : now;
  return (end - start) / 1000;
}

/** A real bar where the upstream reports progress, an indeterminate one otherwise. */
function Progress({ task }: { task: Task }) {
  const label = `Progress of "${task.prompt.slice(0, 40)}"`;
  // Keyed apart: a bar that once had a value cannot be made indeterminate again in place.
  if (task.status === 'COMPLETED') return html`<progress key="done" max="1" value="1" aria-label=${label}></progress>`;
  if (FINAL.has(task.status)) return null;
  if (task.status === 'PROCESSING' && task.progress != null)
    return html`<progress key="real" max="1" value=${task.progress} aria-label=${label}></progress><span class="pct">${Math.round(task.progress * 100)}%</span>`;
  return html`<progress key="indeterminate" aria-label=${label}></progress>`;
}

function Media({ task }: { task: Task }) {
  const r = task.result;
  if (!r) return null;
  const isImage = task.mediaType === 'IMAGE' || r.contentType?.startsWith('image/');
  return html`
    <div class="media">
      ${isImage
        ? html`<img src=${r.url} alt=${task.prompt} loading="lazy" />`
        : html`<video controls playsinline preload="metadata" src=${r.url} poster=${r.thumbnailUrl ?? undefined} aria-label=${`Video: ${task.prompt}`}></video>`}
      <p class="media-meta">
        <a href=${r.url} download>Download</a>
        <span class="muted">
          ${[r.contentType, r.width && r.height ? `${r.width}×${r.height}` : null, r.durationSeconds != null ? `${r.durationSeconds.toFixed(1)} s` : null, bytes(r.sizeBytes)].filter(Boolean).join(' · ')}
        </span>
      </p>
    </div>
  `;
}

/** The task's history, read when Details opens and again whenever the task changes while open. */
function Details({ task, client }: { task: Task; client: ReelayClient }) {
  const [open, setOpen] = useState(false);
  const [events, setEvents] = useState<TaskEvent[] | null>(null);
  const [problem, setProblem] = useState('');
  useEffect(() => {
    if (!open) return;
    let gone = false;
    client.request(TaskEvents, { id: task.id }).then(
      (d) => !gone && (setEvents(d.task?.events ?? []), setProblem('')),
      (err: Error) => !gone && setProblem(err.message),
    );
    return () => void (gone = true);
  }, [open, task.updatedAt, task.status]);
  const params = Object.entries((task.params ?? {}) as Record<string, unknown>).filter(([, v]) => v != null);
  return html`
    <details onToggle=${(e: Event) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary>Details</summary>
      <dl class="facts">
        <dt>id</dt><dd><code>${task.id}</code></dd>
        ${task.model ? html`<dt>model</dt><dd>${task.model}</dd>` : null}
        ${task.negativePrompt ? html`<dt>avoid</dt><dd>${task.negativePrompt}</dd>` : null}
        ${params.map(([k, v]) => html`<dt>${k}</dt><dd>${String(v)}</dd>`)}
        ${task.upstreamStatus ? html`<dt>upstream</dt><dd>${task.upstreamStatus}</dd>` : null}
        ${task.inputImage ? html`<dt>image</dt><dd><a href=${task.inputImage.url}>input image</a></dd>` : null}
      </dl>
      ${problem ? html`<p class="error">${problem}</p>` : null}
      ${open && events
        ? html`<ol class="timeline" aria-label="Events">
            ${events.map(
              (e) => html`<li>
                <time datetime=${e.at}>${time(e.at)}</time>
                <span class=${`badge s-${e.status.toLowerCase()}`}>${e.status.toLowerCase()}</span>
                ${e.progress != null ? html`<span>${Math.round(e.progress * 100)}%</span>` : null}
                ${e.message ? html`<span class="muted">${e.message}</span>` : null}
              </li>`,
            )}
          </ol>`
        : open
          ? html`<p class="muted">Loading events…</p>`
          : null}
    </details>
  `;
}

export function TaskItem({ task, client, now, onChange, onRemove, onCreated }: Props) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState('');
  const final = FINAL.has(task.status);

  const act = async (run: () => Promise<void>) => {
    setBusy(true);
    setProblem('');
    try {
      await run();
    } catch (err) {
      // An error result of the API (TASK_FINISHED, NOT_FOUND, …) with its code.
      setProblem(isReelayError(err) && err.kind === 'api' ? `${err.message} [${err.code}]` : err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const cancel = () => act(async () => onChange(await client.cancelTask(task.id)));
  const retry = () => act(async () => onCreated(await client.retryTask(task.id)));
  const remove = () => act(async () => onRemove(await client.deleteTask(task.id)));

  return html`
    <li class=${`task s-${task.status.toLowerCase()}`} data-task-id=${task.id} data-status=${task.status} aria-busy=${busy ? 'true' : 'false'}>
      <div class="task-head">
        <p class="prompt" id=${`prompt-${task.id}`}>${task.prompt}</p>
        <span class=${`badge s-${task.status.toLowerCase()}`}>${task.status.toLowerCase()}</span>
      </div>
      <div class="progress-row">
        <${Progress} task=${task} />
      </div>
      <p class="task-meta muted">
        <span>${task.provider}${task.model ? ` / ${task.model}` : ''}</span>
        ${task.status === 'QUEUED' && task.queuePosition != null ? html`<span>#${task.queuePosition} in queue</span>` : null}
        ${!final && task.estimatedSecondsRemaining != null ? html`<span>about ${clock(task.estimatedSecondsRemaining)} left</span>` : null}
        <span>elapsed <time>${clock(elapsed(task, now))}</time></span>
        <span>created <time datetime=${task.createdAt}>${time(task.createdAt)}</time></span>
      </p>
      ${task.error ? html`<p class="error">${task.error.message} [${task.error.code}]</p>` : null}
      ${task.status === 'COMPLETED' ? html`<${Media} task=${task} />` : null}
      <div class="task-actions">
        ${!final ? html`<button type="button" onClick=${cancel} disabled=${busy} aria-describedby=${`prompt-${task.id}`}>Cancel</button>` : null}
        ${task.status === 'FAILED' || task.status === 'CANCELLED' ? html`<button type="button" onClick=${retry} disabled=${busy} aria-describedby=${`prompt-${task.id}`}>Retry</button>` : null}
        ${final ? html`<button type="button" class="danger" onClick=${remove} disabled=${busy} aria-describedby=${`prompt-${task.id}`}>Delete</button>` : null}
      </div>
      ${problem ? html`<p class="error" role="alert">${problem}</p>` : null}
      <${Details} task=${task} client=${client} />
    </li>
  `;
}
