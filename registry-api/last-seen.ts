// When a poll writes the device's last-seen time. Every device polls every poll interval, so writing it on every
// poll would make the busiest read in the API a write. The database's value may lag the last poll by at most
// min(30 s, a quarter of the poll interval): a device that keeps polling is at most 1.25 intervals old there, far
// inside the 3 intervals + 30 s that count as online (device-summary.ts); one that stops goes offline at most
// that lag early. Decided from the value the poll read with the device's token, so it holds for any number of API
// instances and needs no memory of its own. State reports and auth requests still write it every time.

/** The most a stored last-seen time may lag behind the device's last poll. */
export const MAX_LAST_SEEN_LAG_MS = 30_000;

export function lastSeenLagMs(pollIntervalSeconds: number): number {
  return Math.min(MAX_LAST_SEEN_LAG_MS, (pollIntervalSeconds * 1000) / 4);
}

/** Whether a poll at `now` must write the last-seen time (the stored one is `lastSeen`). */
export function lastSeenIsStale(lastSeen: string | null, pollIntervalSeconds: number, now: Date): boolean {
  return lastSeenIsStaleAt(lastSeen === null ? null : Date.parse(lastSeen), pollIntervalSeconds, now.getTime());
}

/** lastSeenIsStale on times already parsed (ms since the epoch), for polls answered from memory. */
export function lastSeenIsStaleAt(lastSeenMs: number | null, pollIntervalSeconds: number, nowMs: number): boolean {
  if (lastSeenMs === null) return true;
  return nowMs - lastSeenMs >= lastSeenLagMs(pollIntervalSeconds);
}
