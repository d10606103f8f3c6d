// First contact, and every start after: the device needs a token from the API before it polls. A cached token is
// used as it is (the API may be away; containers never wait for it), otherwise the device authenticates with its
// own key (session.ts), retrying with backoff while the API is unreachable, refuses it, or an operator has
// yet to accept it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import { backoffDelay, withJitter, type BackoffPolicy } from '../../lib/backoff.js';
import type { DeviceSession } from './session.js';

export interface ProvisionOptions {
  log: Logger;
  /** Aborting ends the retries (shutdown); the promise then rejects with the abort reason. */
  signal: AbortSignal;
  retry?: BackoffPolicy;
  /** How often a pending device asks again whether an operator accepted it. */
  pendingPollMs?: number;
}

/** Resolves once the session holds a token: at once with a cached one, else when the API admits the device. */
export async function ensureProvisioned(session: DeviceSession, options: ProvisionOptions): Promise<void> {
  if (session.hasUsableToken()) return;
  const { log, signal } = options;
  const retry = options.retry ?? { initialMs: 2_000, maxMs: 300_000 };
  const pendingPollMs = options.pendingPollMs ?? 30_000;
  for (let attempt = 1; ; attempt++) {
    signal.throwIfAborted();
    let delay: number;
    try {
      const state = await session.authenticate();
      if (state === 'accepted') {
        const { uuid, fleet, name } = session.current();
        log.info({ uuid, fleet, name }, 'device admitted by the API');
        return;
      }
      delay = withJitter(pendingPollMs, 0.1);
    } catch (err) {
      delay = withJitter(backoffDelay(attempt, retry), 0.1);
      log.warn({ err: messageOf(err), attempt, retryInMs: delay }, 'authentication failed');
    }
    await sleep(delay, undefined, { signal });
  }
}
