// An amount in a currency, as prices, recorded costs and `stats` sums carry it.

export interface Money {
  amount: number;
  /** ISO 4217 code, e.g. "USD". */
  currency: string;
}

/** Amounts are kept to a millionth of the currency unit (no 0.30000000000000004). */
export function roundAmount(amount: number): number {
  return Math.round(amount * 1e6) / 1e6;
}
