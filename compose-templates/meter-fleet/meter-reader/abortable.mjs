// @ts-check
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits `ms`, or less when the signal aborts: true when the full time passed.
 * @param {number} ms
 * @param {AbortSignal} signal
 */
export async function pause(ms, signal) {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
