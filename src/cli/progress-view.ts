// How a followed task is shown: a live bar (cli-progress) on a terminal, plain
// lines elsewhere (one per change of status or queue position, and per 10% of
// progress), so logs and pipes stay readable.
import cliProgress from 'cli-progress';
import type { VideoTask } from '../client/index.js';
import { percent, seconds } from './format.js';

export interface ProgressView {
  update(task: VideoTask): void;
  /** Takes the bar off the screen (before a question or a final message). */
  pause(): void;
  resume(): void;
  stop(): void;
}

/** Seconds the server expects the task still needs (VideoTask.estimatedSecondsRemaining; null without history). */
function eta(task: VideoTask): number | null {
  const v = task.estimatedSecondsRemaining;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** "QUEUED · position 2", "PROCESSING 40% · ETA 12s" (the bar shows the percentage itself). */
export function describeState(task: VideoTask, withPercent = true): string {
  const parts: string[] = [task.status];
  if (withPercent && task.status === 'PROCESSING' && typeof task.progress === 'number') parts.push(percent(task.progress));
  let s = parts.join(' ');
  if (task.queuePosition != null) s += ` · position ${task.queuePosition}`;
  const left = eta(task);
  if (left != null && (task.status === 'QUEUED' || task.status === 'PROCESSING')) s += ` · ETA ${seconds(left)}`;
  return s;
}

export function lineView(out: NodeJS.WritableStream): ProgressView {
  let last = '';
  return {
    update(task) {
      // One line per status, queue position and tenth of progress (ETA alone does not make a line).
      const key = `${task.status}|${task.queuePosition ?? ''}|${typeof task.progress === 'number' ? Math.floor(task.progress * 10) : ''}`;
      if (key === last) return;
      last = key;
      out.write(`${task.id} ${describeState(task)}\n`);
    },
    pause() {},
    resume() {},
    stop() {},
  };
}

export function barView(out: NodeJS.WriteStream): ProgressView {
  const bar = new cliProgress.SingleBar(
    { format: '{bar} {percentage}% | {state}', stream: out, hideCursor: true, clearOnComplete: false, barsize: 30, fps: 10 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let paused = false;
  let current: VideoTask | undefined;
  const show = (task: VideoTask) => {
    const value = task.status === 'COMPLETED' ? 100 : Math.round((task.progress ?? 0) * 100);
    if (!started) {
      bar.start(100, value, { state: describeState(task, false) });
      started = true;
    } else bar.update(value, { state: describeState(task, false) });
  };
  const hide = () => {
    if (started) bar.stop();
    started = false;
  };
  return {
    update(task) {
      current = task;
      // While paused (a question on the terminal) changes are only remembered.
      if (!paused) show(task);
    },
    pause() {
      paused = true;
      hide();
    },
    resume() {
      paused = false;
      if (current) show(current);
    },
    stop() {
      paused = true;
      hide();
    },
  };
}

/** A bar when `out` is a terminal, lines otherwise. */
export function progressView(out: NodeJS.WriteStream): ProgressView {
  return out.isTTY ? barView(out) : lineView(out);
}
