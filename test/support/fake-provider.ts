// A scriptable in-memory Provider for runner tests: each upstream task walks
// through the snapshots a test queues, and every call is recorded.
import type { ProviderConfig } from '../../src/providers/types.js';
import type { CallContext, GenerationRequest, PollContext, Provider, ProviderCapabilities, Snapshot, SubmitOutcome } from '../../src/providers/types.js';

export type Step = Snapshot | Error | { delayMs: number };

export class FakeProvider implements Provider {
  readonly kind = 'fake';
  capabilities: ProviderCapabilities = {
    textToVideo: true,
    imageToVideo: true,
    cancel: true,
    progress: true,
    negativePrompt: true,
    seed: true,
    durations: { min: 1, max: 60 },
    customSize: true,
    aspectRatios: [],
    models: [],
    resubmitSafe: false,
  };
  submits: GenerationRequest[] = [];
  /** Set to make the fake a kind that can list its tasks. */
  findSubmitted?: Provider['findSubmitted'];
  polls: string[] = [];
  cancels: string[] = [];
  /** Errors (or outcomes) for the next submits, in order; then a normal accept. */
  submitScript: Array<Error | SubmitOutcome | { delayMs: number }> = [];
  /** Snapshots per poll for every task, in order; the last one repeats. */
  pollScript: Step[] = [{ state: 'processing', progress: 0.5 }];
  private perTask = new Map<string, number>();
  private seq = 0;

  constructor(readonly id = 'fake') {}

  async submit(request: GenerationRequest, ctx: CallContext): Promise<SubmitOutcome> {
    this.submits.push(request);
    const step = this.submitScript.shift();
    if (step instanceof Error) throw step;
    if (step && 'delayMs' in step) await abortableDelay(step.delayMs, ctx.signal);
    else if (step) return step;
    return { providerTaskId: `up-${++this.seq}` };
  }

  async poll(providerTaskId: string, ctx: PollContext): Promise<Snapshot> {
    this.polls.push(providerTaskId);
    const i = this.perTask.get(providerTaskId) ?? 0;
    this.perTask.set(providerTaskId, i + 1);
    const step = this.pollScript[Math.min(i, this.pollScript.length - 1)]!;
    if (step instanceof Error) throw step;
    if ('delayMs' in step) {
      await abortableDelay(step.delayMs, ctx.signal);
      return { state: 'processing', progress: null };
    }
    return step;
  }

  async cancel(providerTaskId: string): Promise<void> {
    this.cancels.push(providerTaskId);
  }
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });
}

export function fakeConfig(id: string, over: Partial<ProviderConfig> = {}): ProviderConfig {
  return { id, kind: 'fake', models: [], maxConcurrency: 4, pollIntervalMs: 50, timeoutMs: 60_000, fallback: [], allowHosts: [], options: {}, ...over };
}
