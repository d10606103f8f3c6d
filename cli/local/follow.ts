// Watching a device take a local target: GET /v1/state until it runs the target, or says why it cannot.
import type { LocalState } from '../../protocol/local-api.js';
import type { LocalApiClient } from './client.js';

export type FollowVerdict =
  | { kind: 'running'; state: LocalState }
  | { kind: 'error'; state: LocalState; error: string }
  | { kind: 'waiting'; line: string };

/**
 * What one state says about `releaseId`. An error counts only once the reconciler has left the error it had before
 * the target arrived (`staleError`): the new target's first pass has not run yet while that text still shows.
 */
export function judge(state: LocalState, releaseId: string, staleError: string | null): FollowVerdict {
  const { report } = state;
  if (report.targetReleaseId === releaseId && report.updateStatus === 'converged' && report.releaseId === releaseId) {
    return { kind: 'running', state };
  }
  if (
    report.targetReleaseId === releaseId &&
    report.updateStatus === 'error' &&
    report.error !== null &&
    report.error !== staleError
  ) {
    return { kind: 'error', state, error: report.error };
  }
  const services = report.services.map((s) => `${s.name} ${s.state}`).join(', ');
  const progress =
    report.progress === undefined ? '' : ` (${report.progress.imagesPresent}/${report.progress.imagesTotal} images)`;
  const downloads = (report.downloads ?? []).map((d) => ` ${d.services.join('+')} ${Math.floor(d.percent)}%`).join('');
  // Right after the target arrives the status still speaks of the last target until the first pass: not "converged".
  const phase =
    report.updateStatus === 'converged' || report.updateStatus === 'error' ? 'pending' : report.updateStatus;
  return { kind: 'waiting', line: `${phase}${progress}${downloads}: ${services || 'no services'}` };
}

export interface FollowOptions {
  releaseId: string;
  /** The reconciler's error just before the target was sent, if it had one. */
  staleError: string | null;
  timeoutMs: number;
  intervalMs: number;
  progress(line: string): void;
}

/** Resolves with the state that runs the target; throws with the device's error text, or after the timeout. */
export async function followLocalTarget(device: LocalApiClient, options: FollowOptions): Promise<LocalState> {
  const deadline = Date.now() + options.timeoutMs;
  let staleError = options.staleError;
  let lastLine: string | null = null;
  let last: LocalState | null = null;
  for (;;) {
    const state = await device.state();
    last = state;
    const verdict = judge(state, options.releaseId, staleError);
    if (verdict.kind === 'running') return verdict.state;
    if (verdict.kind === 'error') {
      throw new Error(
        `the device could not run local target ${options.releaseId}: ${verdict.error}\n` +
          '  it keeps retrying; fix the compose file and push again, or `skiff local leave` to go back to the fleet target',
      );
    }
    // Once the status moved on, an error with the old text is a new failure.
    if (state.report.updateStatus !== 'error') staleError = null;
    if (verdict.line !== lastLine) options.progress(verdict.line);
    lastLine = verdict.line;
    if (Date.now() >= deadline) {
      const error = last.report.error === null ? '' : `; last error: ${last.report.error}`;
      throw new Error(
        `the device has not run local target ${options.releaseId} after ${Math.round(options.timeoutMs / 1000)}s ` +
          `(${verdict.line}${error})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}
