// Whether an update's downloads fit the device's monthly data budget (the target's config.dataBudgetBytesPerMonth),
// and how hard the device's own chatter is to be thinned as the month's bytes run out. Pure: the bytes used this
// month (every purpose, supervisor/device/traffic.ts) and the clock are passed in.
//
// What comes first is what keeps the device reachable and current: target polls, the push channel, reports. They
// are never held back here; a share of the budget (ESSENTIALS_SHARE) is kept for them, so an update never spends
// the bytes the rest of the month needs to hear of the next one. An update whose downloads do not fit what is left
// is deferred whole (one that cannot finish is not begun) to the start of the next month (UTC), when the counters
// start afresh, and the device says so in its report. The estimate is the compressed layers still to download; a
// layer the backend has a delta for costs less, so the estimate errs on the side of deferring.

/** Kept for polls, the push channel and reports: an idle device uses about 1 MB a month (bench/metered). */
export const ESSENTIALS_SHARE = 0.1;
/** From this share of the budget used, metrics are reported less often and logs are not streamed on their own. */
export const THIN_FROM_SHARE = 0.8;

export interface BudgetFacts {
  /** The month's budget in bytes. */
  budgetBytes: number;
  /** Bytes the device moved this month so far, every purpose. */
  usedBytes: number;
}

export type BudgetVerdict =
  | { kind: 'fits' }
  | {
      kind: 'deferred';
      /** When the budget starts afresh (the next month, UTC). */
      until: Date;
      neededBytes: number;
      leftBytes: number;
      message: string;
    };

/** Normal; thin: metrics less often, logs only on request; essential: nothing but polls, channel, state changes. */
export type Thinning = 'normal' | 'thin' | 'essential';

/** The first instant of the month after `now`'s (UTC). */
export function nextMonthStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

function mb(bytes: number): string {
  return bytes < 1_000_000 ? `${Math.round(bytes / 1_000)} kB` : `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** Whether downloading `neededBytes` now keeps within the budget, with the essentials' share kept back. */
export function budgetVerdict(neededBytes: number, facts: BudgetFacts, now: Date): BudgetVerdict {
  if (!Number.isFinite(neededBytes) || neededBytes <= 0) return { kind: 'fits' };
  const reserve = Math.ceil(facts.budgetBytes * ESSENTIALS_SHARE);
  const leftBytes = Math.max(0, facts.budgetBytes - reserve - facts.usedBytes);
  if (neededBytes <= leftBytes) return { kind: 'fits' };
  const until = nextMonthStart(now);
  return {
    kind: 'deferred',
    until,
    neededBytes,
    leftBytes,
    message:
      `deferred to ${until.toISOString()} by the data budget: the update downloads ${mb(neededBytes)}, ` +
      `${mb(leftBytes)} of this month's ${mb(facts.budgetBytes)} is left for downloads ` +
      `(${mb(facts.usedBytes)} used, ${mb(reserve)} kept for polls and reports)`,
  };
}

/** How much of its own traffic the device is to thin, from the share of the budget used. */
export function thinningOf(facts: BudgetFacts | undefined): Thinning {
  if (facts === undefined) return 'normal';
  const used = facts.usedBytes / facts.budgetBytes;
  if (used >= 1) return 'essential';
  return used >= THIN_FROM_SHARE ? 'thin' : 'normal';
}
