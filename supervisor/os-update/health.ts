// After booting a new OS, is the device well? Every check must pass within one deadline; each is retried until
// then, because the engine, the network and the services come up at their own pace after a boot.
import { messageOf } from '../../lib/errors.js';

export interface HealthCheck {
  name: string;
  /** Resolves when healthy; throws saying what is wrong. */
  run(signal: AbortSignal): Promise<void>;
}

export type HealthVerdict = { ok: true } | { ok: false; reason: string };

export interface HealthOptions {
  deadlineMs: number;
  retryMs?: number;
  signal?: AbortSignal;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function checkHealth(checks: HealthCheck[], options: HealthOptions): Promise<HealthVerdict> {
  const deadline = AbortSignal.timeout(options.deadlineMs);
  const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal]);
  const failing = new Map<string, string>(checks.map((c) => [c.name, 'not checked yet']));
  while (true) {
    for (const check of checks) {
      if (!failing.has(check.name)) continue;
      try {
        await check.run(signal);
        failing.delete(check.name);
      } catch (err) {
        failing.set(check.name, messageOf(err));
      }
    }
    if (failing.size === 0) return { ok: true };
    if (signal.aborted) {
      const why = [...failing].map(([name, reason]) => `${name}: ${reason}`).join('; ');
      return { ok: false, reason: `health check failed within ${Math.round(options.deadlineMs / 1000)} s: ${why}` };
    }
    await sleep(options.retryMs ?? 2000, signal);
  }
}
