// What a finished task costs, from its provider's `pricing`: the model's own
// price (perModel) when it has one, else the provider's; perVideo plus
// perSecond × seconds, where seconds are the stored result's duration when
// known, else the requested duration (else 0). Priced once, when the task
// completes, and recorded on the task: later price changes do not rewrite it.
import { roundAmount, type Money } from '../money.js';
import type { Price, Pricing } from '../providers/types.js';


/** The price of one completed task; null when the provider has no pricing. */
export function priceTask(pricing: Pricing | undefined, model: string | null, resultSeconds: number | null | undefined, requestedSeconds: number | null | undefined): Money | null {
  if (!pricing) return null;
  const own: Price = model !== null && pricing.perModel && Object.hasOwn(pricing.perModel, model) ? pricing.perModel[model]! : pricing;
  const seconds = resultSeconds ?? requestedSeconds ?? 0;
  const amount = (own.perVideo ?? 0) + (own.perSecond ?? 0) * Math.max(0, seconds);
  return { amount: roundAmount(amount), currency: pricing.currency };
}

/**
 * A task's cost as the API shows it: what was recorded when it completed; FAILED
 * and CANCELLED tasks that were not priced cost nothing (0 in their provider's
 * currency, when it has pricing); null while running or without pricing.
 */
export function shownCost(
  r: { status: string; costAmount: number | null; costCurrency: string | null; providerId: string },
  currencyOf: (providerId: string) => string | undefined,
): Money | null {
  if (r.costAmount !== null && r.costCurrency !== null) return { amount: r.costAmount, currency: r.costCurrency };
  const currency = r.status === 'FAILED' || r.status === 'CANCELLED' ? currencyOf(r.providerId) : undefined;
  return currency ? { amount: 0, currency } : null;
}
