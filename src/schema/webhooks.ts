// Webhooks in the API: createVideoTask's `webhook` input and
// VideoTask.webhookDeliveries (README "Webhooks").
import type { WebhookDeliveryRow } from '../db/webhook-deliveries.js';
import { WEBHOOK_EVENTS, type WebhookEvent } from '../tasks/webhook-input.js';
import { builder } from './builder.js';
import { VideoTaskRef } from './task.js';

export const WebhookEventEnum = builder.enumType('WebhookEvent', {
  description:
    'What a webhook is sent for. STARTED: the task went to PROCESSING (once). PROGRESS: its progress changed (at most one per task per 5 s, carrying the latest). COMPLETED, FAILED, CANCELLED: the final states.',
  values: WEBHOOK_EVENTS,
});

export const WebhookInput = builder.inputType('WebhookInput', {
  description: 'Where to POST signed task events (Standard Webhooks 1.0).',
  fields: (t) => ({
    url: t.string({ required: true, description: 'An http(s) URL; private, local and metadata addresses are refused unless REELAY_WEBHOOK_ALLOW_HOSTS lists the host.' }),
    events: t.field({ type: [WebhookEventEnum], required: false, description: 'Default: COMPLETED, FAILED, CANCELLED.' }),
  }),
});

const WebhookDeliveryRef = builder.objectRef<WebhookDeliveryRow>('WebhookDelivery').implement({
  description: 'One event sent (or being sent) to the task\'s webhook. `id` is the `webhook-id` header, the same across retries.',
  fields: (t) => ({
    id: t.exposeID('id'),
    event: t.field({ type: WebhookEventEnum, resolve: (d) => d.event as WebhookEvent }),
    url: t.exposeString('url'),
    attempts: t.exposeInt('attempts', { description: 'Attempts made so far (0: not yet tried).' }),
    lastStatus: t.int({ nullable: true, description: "The receiver's HTTP status at the last attempt; null when it did not answer.", resolve: (d) => d.lastStatus }),
    lastError: t.string({ nullable: true, description: 'Why the last attempt failed; null when it succeeded or none was made.', resolve: (d) => d.lastError }),
    deliveredAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.deliveredAt }),
    nextAttemptAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the next attempt is due; null once delivered or given up (after 24 h of failures).',
      resolve: (d) => d.nextAttemptAt,
    }),
  }),
});

builder.objectField(VideoTaskRef, 'webhookDeliveries', (t) =>
  t.field({
    type: [WebhookDeliveryRef],
    description: "The task's webhook deliveries, oldest first (empty without a webhook).",
    resolve: (r, _a, ctx) => ctx.loaders.webhookDeliveries.load(r.id),
  }),
);
