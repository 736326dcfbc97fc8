// Drives one claimed task to its end through its steps: submit (once,
// retrying only what provably created nothing: submit-step.ts), poll at the
// provider's interval (poll-step.ts), store the result (finish-step.ts), each
// recorded through the state machine; an interruption ends it as task-end.ts
// says. The task's timeout and its signals live in its TaskRun context.
import path from 'node:path';
import type { TaskRow } from '../db/schema.js';
import type { GenerationRequest, Snapshot } from '../providers/types.js';
import { fileLink, type FileUrlSigning } from '../storage/signed-urls.js';
import { pollStep } from './poll-step.js';
import { submitStep } from './submit-step.js';
import { onAbort, onLost } from './task-end.js';
import { held, Lost, TaskAbort, type TaskRun, type WorkEnv } from './task-run.js';
import { failTask } from './transitions.js';

export { TaskAbort, type AbortKind, type WorkEnv } from './task-run.js';

/** reelay's own link to a stored file for an upstream: signed (when so configured) for at least the task's timeout. */
function upstreamLink(publicUrl: string, f: string, signing: FileUrlSigning | undefined, timeoutMs: number): string {
  return fileLink(publicUrl, f, signing, { ttlSeconds: Math.ceil(timeoutMs / 1000) });
}

function requestFor(task: TaskRow, env: WorkEnv): GenerationRequest {
  const img = task.inputImage;
  const { filesDir, publicUrl } = env;
  const file = (f: string) => ({
    kind: 'file' as const,
    path: path.join(filesDir, f),
    contentType: img?.contentType ?? 'application/octet-stream',
    ...(publicUrl ? { publicUrl: upstreamLink(publicUrl, f, env.fileUrls, env.entry.config.timeoutMs) } : {}),
  });
  return {
    taskId: task.id,
    prompt: task.prompt,
    negativePrompt: task.negativePrompt,
    model: task.model,
    image: !img ? null : img.kind === 'url' ? { kind: 'url', url: img.url! } : file(img.file!),
    ...task.params,
  };
}

export async function runTask(task: TaskRow, env: WorkEnv): Promise<void> {
  const { config } = env.entry;
  const started = task.startedAt?.getTime() ?? Date.now();
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new TaskAbort('timeout')), Math.max(0, started + config.timeoutMs - Date.now()));
  const signal = AbortSignal.any([env.signal, timeout.signal]);
  const soft = AbortSignal.any([signal, env.drain]);
  // A client's cancel must not cut a submission off mid-request: the upstream
  // may be creating the task, and only its answer gives the id to cancel it.
  const submitStop = new AbortController();
  const followUnlessCancel = () => {
    const r: unknown = env.signal.reason;
    if (!(r instanceof TaskAbort && r.kind === 'cancelled')) submitStop.abort(r);
  };
  if (env.signal.aborted) followUnlessCancel();
  else env.signal.addEventListener('abort', followUnlessCancel, { once: true });
  const submitSignal = AbortSignal.any([submitStop.signal, timeout.signal]);
  let providerTaskId = task.providerTaskId;

  try {
    const run: TaskRun = { task, env, request: requestFor(task, env), signal, soft, submitSignal };
    let snap: Snapshot | undefined;
    if (!providerTaskId) {
      const out = await submitStep(run);
      if (!out) return;
      // Recorded even when a cancel or shutdown arrived meanwhile: a cancelled
      // task then fails this write and its upstream task is cancelled by id.
      providerTaskId = out.providerTaskId;
      held(await env.batches.recordSubmitted({ taskId: task.id, providerId: config.id, providerTaskId }));
      snap = out.snapshot;
    }
    await pollStep(run, providerTaskId, snap);
  } catch (err) {
    const reason = signal.aborted ? signal.reason : soft.aborted ? soft.reason : undefined;
    if (reason instanceof TaskAbort) await onAbort(reason.kind, task, providerTaskId, env);
    else if (err instanceof Lost) await onLost(task, providerTaskId, env);
    else {
      env.log.error({ err, taskId: task.id }, 'unexpected error while working on a task');
      await failTask(env.db, task.id, 'INTERNAL_ERROR', 'reelay hit an unexpected error while working on this task', env.owner).catch(() => {});
    }
  } finally {
    clearTimeout(timer);
    env.signal.removeEventListener('abort', followUnlessCancel);
  }
}
