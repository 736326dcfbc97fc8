// Counts and times every call into a provider (reelay_upstream_requests_total,
// reelay_upstream_request_duration_seconds) by wrapping the Provider object
// once, when the registry is built: adapters and the runner stay unaware. A
// call is one operation (a poll that also reads a result is one); the
// instruments of the usual outcome are bound up front, so a poll allocates no
// label objects of its own.
import { upstreamOutcome, upstreamRequestDuration, upstreamRequests } from '../metrics.js';
import type { CallContext, Provider } from './types.js';

export type Operation = 'submit' | 'poll' | 'lookup' | 'cancel' | 'health';

interface Bound {
  ok: { inc(): void };
  duration: { observe(v: number): void };
}

export function metered(provider: Provider, providerId: string): Provider {
  const bind = (op: Operation): Bound => ({ ok: upstreamRequests.labels(providerId, op, 'ok'), duration: upstreamRequestDuration.labels(providerId, op) });
  const instruments: Record<Operation, Bound> = { submit: bind('submit'), poll: bind('poll'), lookup: bind('lookup'), cancel: bind('cancel'), health: bind('health') };

  async function timed<T>(op: Operation, ctx: CallContext, call: Promise<T>): Promise<T> {
    const b = instruments[op];
    const started = performance.now();
    try {
      const value = await call;
      b.ok.inc();
      return value;
    } catch (err) {
      upstreamRequests.inc({ provider: providerId, operation: op, outcome: upstreamOutcome(err, ctx.signal) });
      throw err;
    } finally {
      b.duration.observe((performance.now() - started) / 1000);
    }
  }

  const wrapped: Provider = {
    get id() {
      return provider.id;
    },
    get kind() {
      return provider.kind;
    },
    get capabilities() {
      return provider.capabilities;
    },
    submit: (request, ctx) => timed('submit', ctx, provider.submit(request, ctx)),
    poll: (providerTaskId, ctx) => timed('poll', ctx, provider.poll(providerTaskId, ctx)),
    cancel: (providerTaskId, ctx) => timed('cancel', ctx, provider.cancel(providerTaskId, ctx)),
  };
  if (provider.findSubmitted) wrapped.findSubmitted = (request, opts, ctx) => timed('lookup', ctx, provider.findSubmitted!(request, opts, ctx));
  if (provider.health) wrapped.health = (ctx) => timed('health', ctx, provider.health!(ctx));
  if (provider.close) wrapped.close = () => provider.close!();
  return wrapped;
}
