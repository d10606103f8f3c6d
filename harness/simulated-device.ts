// A device simulated at the protocol level, for tests of what the API decides over many devices (rollouts, the
// pages that follow them): it signs in with its own key (test-device.ts), polls its signed target and reports the
// release it names as running, as a supervisor on a quick link would, with no engine behind it. The fleet
// simulator (fleet-sim/) is the one for load; this one is driven step by step by the test.
import { paths } from '../protocol/http/paths.js';
import type { StateReport } from '../protocol/state-report.js';
import { TargetStateSchema } from '../protocol/target-state.js';
import { parse } from '../protocol/validate.js';
import type { TestDevice } from './test-device.js';

/**
 * What a device running `releaseId` converged reports: its one service `reader` running and healthy, the
 * application's own health good unless `appFailing` (few good telegrams).
 */
export function runningReport(releaseId: string | null, options: { appFailing?: boolean } = {}): StateReport {
  const at = new Date().toISOString();
  return {
    supervisorVersion: '0.0.0-sim',
    updateStatus: 'converged',
    targetReleaseId: releaseId,
    releaseId,
    services:
      releaseId === null
        ? []
        : [
            {
              name: 'reader',
              releaseId,
              image: `127.0.0.1:5000/meters/reader@sha256:${'a'.repeat(64)}`,
              containerId: 'c0ffee',
              state: 'running',
              health: 'healthy',
              exitCode: null,
              restarts: 0,
              appHealth:
                options.appFailing === true
                  ? { ok: false, value: 0.12, detail: 'few good telegrams', reportedAt: at }
                  : { ok: true, value: 0.99, detail: null, reportedAt: at },
            },
          ],
    error: null,
    reportedAt: at,
  };
}

export class SimulatedDevice {
  /** Its device token, once signed in. */
  token = '';
  /** The ETag of the last target it fetched: the next poll is a 304 while it holds. */
  etag: string | null = null;
  /** The release its target names; null: none. */
  target: string | null = null;
  /** The release it last reported running. */
  reported: string | null = null;

  constructor(readonly device: TestDevice) {}

  get uuid(): string {
    return this.device.uuid;
  }

  async signIn(apiUrl: string, admission: Parameters<TestDevice['token']>[1]): Promise<void> {
    this.token = (await this.device.token(apiUrl, admission)).token;
  }

  /** Fetches its target from the API at `apiUrl` (a 304 keeps what it had). */
  async poll(apiUrl: string): Promise<void> {
    const response = await fetch(`${apiUrl}${paths.target(this.uuid)}`, {
      headers: { authorization: `Bearer ${this.token}`, ...(this.etag === null ? {} : { 'if-none-match': this.etag }) },
    });
    const text = await response.text();
    if (response.status === 200) {
      const target = parse(TargetStateSchema, JSON.parse(text), `the target of ${this.uuid}`);
      this.etag = response.headers.get('etag');
      this.target = target.release?.id ?? null;
    } else if (response.status !== 304) {
      throw new Error(`GET target of ${this.uuid} answered ${response.status}: ${text}`);
    }
  }

  /** Sends `report` whole to the API at `apiUrl`. */
  async report(apiUrl: string, report: StateReport): Promise<void> {
    const answer = await fetch(`${apiUrl}${paths.state(this.uuid)}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(report),
    });
    if (answer.status !== 204)
      throw new Error(`report of ${this.uuid} answered ${answer.status}: ${await answer.text()}`);
  }

  /**
   * Polls and, when its target names another release than it last reported, runs it at once and reports
   * `reportOf(target)`; `report` false: only looks.
   */
  async step(apiUrl: string, reportOf: (releaseId: string | null) => StateReport, report = true): Promise<void> {
    await this.poll(apiUrl);
    if (!report || this.reported === this.target) return;
    await this.report(apiUrl, reportOf(this.target));
    this.reported = this.target;
  }
}
