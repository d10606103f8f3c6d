// A fleet of simulated devices in one Node process, for tests and benches beside real supervisors. Each device
// speaks the real device protocol over HTTP: it makes its own Ed25519 key and registers with the fleet's
// provisioning key (a signed auth request), polls its target with If-None-Match and checks the API's signature and
// the target itself as a supervisor does (supervisor/target/gate.ts), holds its push channel and polls when it
// announces a change, and reports its state (services, health, application health, metrics, rollbacks) in full
// and then as partial reports with If-Match. What it does with a target is simulated (no containers): it "applies"
// it in a jittered time and then runs it, or fails in the way its behaviour says (behaviour.ts).
//
// Devices are plain objects; every timed thing (polls, metric reports, the end of an update, offline spells)
// is an entry of one scheduler (scheduler.ts), and all devices share one keep-alive HTTP agent per API node.
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SseParser } from '../../lib/sse.js';
import { messageOf } from '../../lib/errors.js';
import { DEVICE_SIGNATURE_HEADER, DeviceAuthResponseSchema, signDeviceRequest } from '../../protocol/device-auth.js';
import { TARGET_EVENT, TargetEventSchema } from '../../protocol/device-events.js';
import { eventPaths, paths } from '../../protocol/http/paths.js';
import { SIGNATURE_HEADER, decodePublicKey, encodePublicKey } from '../../protocol/signature.js';
import {
  serviceChangesOf,
  type AppRollback,
  type PartialStateReport,
  type ServiceReport,
  type StateReport,
  type UpdateStatus,
} from '../../protocol/state-report.js';
import type { TargetState } from '../../protocol/target-state.js';
import { parse } from '../../protocol/validate.js';
import { acceptSignedTarget } from '../../supervisor/target/gate.js';
import {
  DEFAULT_BEHAVIOUR,
  checkBehaviour,
  fixedDraw,
  jittered,
  type FailureMode,
  type SimBehaviour,
} from './behaviour.js';
import { SimHttp, type SimAnswer, type SimRequest } from './http.js';
import { Scheduler } from './scheduler.js';

export const SIM_SUPERVISOR_VERSION = 'fleet-sim';

export interface FleetSimOptions {
  /** The API node(s); devices are spread over them in turn, as a load balancer would. */
  apiUrls: readonly string[];
  fleet: string;
  provisioningKey: string;
  /** The key targets must be signed with (base64 SPKI DER, the signingKey of GET /v1/info), pinned as a device does. */
  signingKey: string;
  behaviour?: Partial<SimBehaviour>;
  deviceType?: string;
  /** Requests in flight at most per API node (default 256); more wait in the simulator's queue. */
  maxInFlight?: number;
  /** Devices registering at once (default 16): admission is signature checks and writes on both sides. */
  admissionConcurrency?: number;
  /** How long a request may wait for its answer (default 120 s: a loaded API answers late, not never). */
  timeoutMs?: number;
  /** Loopback source addresses to connect from, in turn per device (default: the system's choice). */
  localAddresses?: readonly string[];
  /** Keep every poll's latency for takePollLatencies() (benches). */
  recordLatencies?: boolean;
}

/** What the fleet looks like from the simulator's side. */
export interface FleetCounts {
  devices: number;
  online: number;
  channels: number;
  /** Devices by the release they run ('none' for nothing yet). */
  running: Record<string, number>;
  /** Devices by the update status they last had acknowledged by the API. */
  status: Record<UpdateStatus, number>;
  polls: number;
  polls304: number;
  polls200: number;
  reports: number;
  /** Requests that failed (no answer, or an answer no device expects), with the last reason. */
  failures: number;
  lastFailure: string | null;
  /** Targets refused by the device's gate (signature, schema, wrong device): must stay 0 against a correct API. */
  refusedTargets: number;
}

interface RunningService {
  name: string;
  image: string;
}

/** One simulated device; only the simulator touches it. */
class SimDevice {
  token: string | null = null;
  lastAuthMs = 0;
  /** ETag of the target it holds. */
  etag: string | null = null;
  targetRelease: string | null = null;
  targetServices: RunningService[] = [];
  running: string | null = null;
  runningServices: RunningService[] = [];
  status: UpdateStatus = 'converged';
  error: string | null = null;
  /** How the release it runs fails (null: healthy). */
  failing: FailureMode | null = null;
  rollback: AppRollback | null = null;
  /** The release it gave up on: not tried again until its target names another release first. */
  gaveUpOn: string | null = null;
  applyingTo: string | null = null;
  /** The report the API holds (its ETag and content), for partial reports. */
  reportEtag: string | null = null;
  lastSent: StateReport | null = null;
  /** What the API acknowledged last: the release and status, for convergence counts. */
  ackRelease: string | null = null;
  ackStatus: UpdateStatus | null = null;
  /** Bumped when the device goes offline: scheduled work of an earlier life is dropped. */
  epoch = 0;
  online = true;
  channel: AbortController | null = null;
  channelOpen = false;
  polling = false;
  pollAgain = false;
  reporting = false;
  reportAgain = false;
  /** Its life (polls, channel, reports) has begun. */
  started = false;
  readonly bornMs = Date.now();

  constructor(
    readonly index: number,
    readonly uuid: string,
    readonly key: KeyObject,
    readonly publicKey: string,
    readonly node: SimHttp,
    readonly localAddress: string | undefined,
  ) {}
}

export class FleetSimulator {
  readonly behaviour: SimBehaviour;
  private readonly nodes: SimHttp[];
  private readonly scheduler = new Scheduler();
  private readonly devices: SimDevice[] = [];
  private readonly targetKey: KeyObject;
  private stopped = false;
  private readonly stats = {
    polls: 0,
    polls304: 0,
    polls200: 0,
    reports: 0,
    failures: 0,
    lastFailure: null as string | null,
    refusedTargets: 0,
  };
  private pollLatencies: number[] = [];

  constructor(private readonly options: FleetSimOptions) {
    if (options.apiUrls.length === 0) throw new Error('the fleet simulator needs at least one API URL');
    this.behaviour = { ...DEFAULT_BEHAVIOUR, ...options.behaviour };
    checkBehaviour(this.behaviour);
    this.targetKey = decodePublicKey(options.signingKey, "the API's target-signing key");
    this.nodes = options.apiUrls.map(
      (baseUrl) =>
        new SimHttp({ baseUrl, maxInFlight: options.maxInFlight ?? 256, timeoutMs: options.timeoutMs ?? 120_000 }),
    );
  }

  get size(): number {
    return this.devices.length;
  }

  /**
   * Makes `count` new devices and registers them (real keys, signed auth requests); resolves once all are admitted,
   * with how long that took. `live: false` admits them only: live() starts their polls, channels and reports.
   */
  async add(count: number, { live = true }: { live?: boolean } = {}): Promise<{ admittedMs: number; uuids: string[] }> {
    const started = performance.now();
    const fresh: SimDevice[] = [];
    const addresses = this.options.localAddresses ?? [];
    for (let i = 0; i < count; i++) {
      const index = this.devices.length;
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const device = new SimDevice(
        index,
        randomUUID(),
        privateKey,
        encodePublicKey(publicKey),
        this.nodes[index % this.nodes.length] as SimHttp,
        addresses.length === 0 ? undefined : addresses[index % addresses.length],
      );
      this.devices.push(device);
      fresh.push(device);
    }
    let next = 0;
    const concurrency = Math.min(this.options.admissionConcurrency ?? 16, fresh.length);
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < fresh.length && !this.stopped) {
          const device = fresh[next++] as SimDevice;
          await this.authenticate(device);
          if (live) this.begin(device);
        }
      }),
    );
    return { admittedMs: performance.now() - started, uuids: fresh.map((d) => d.uuid) };
  }

  /** Starts every admitted device that is not live yet (after add(n, { live: false })). */
  live(): void {
    for (const device of this.devices) if (device.token !== null && !device.started) this.begin(device);
  }

  counts(): FleetCounts {
    const running: Record<string, number> = {};
    const status: Record<UpdateStatus, number> = { converged: 0, downloading: 0, applying: 0, error: 0 };
    let online = 0;
    let channels = 0;
    for (const d of this.devices) {
      const release = d.running ?? 'none';
      running[release] = (running[release] ?? 0) + 1;
      if (d.ackStatus !== null) status[d.ackStatus] += 1;
      if (d.online) online += 1;
      if (d.channelOpen) channels += 1;
    }
    return { devices: this.devices.length, online, channels, running, status, ...this.stats };
  }

  /** Devices whose report of running `releaseId`, converged, the API has acknowledged. */
  convergedOn(releaseId: string): number {
    let n = 0;
    for (const d of this.devices) if (d.ackRelease === releaseId && d.ackStatus === 'converged') n += 1;
    return n;
  }

  /** Resolves once `check` holds of the counts; throws after `timeoutMs` with `what` and the counts then. */
  async waitFor(what: string, timeoutMs: number, check: (counts: FleetCounts) => boolean): Promise<FleetCounts> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const counts = this.counts();
      if (check(counts)) return counts;
      if (Date.now() > deadline)
        throw new Error(
          `simulated fleet: timed out after ${timeoutMs} ms waiting for ${what}: ${JSON.stringify(counts)}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Resolves once at least `share` (default all) of the devices report running `releaseId`, converged. */
  async waitConverged(releaseId: string, timeoutMs: number, share = 1): Promise<FleetCounts> {
    const wanted = Math.ceil(this.devices.length * share);
    return this.waitFor(`${wanted} devices converged on release ${releaseId}`, timeoutMs, () => {
      return this.convergedOn(releaseId) >= wanted;
    });
  }

  /** Resolves once every online device holds its push channel. */
  async waitChannels(timeoutMs: number): Promise<FleetCounts> {
    return this.waitFor('every online device holding its push channel', timeoutMs, (c) => c.channels >= c.online);
  }

  /** The latencies (ms) of polls answered since the last call (with recordLatencies). */
  takePollLatencies(): number[] {
    const taken = this.pollLatencies;
    this.pollLatencies = [];
    return taken;
  }

  /** Polls every device once now (what a fleet does after an API restart, or a bench's burst). */
  pollAll(): void {
    for (const d of this.devices) if (d.online && d.token !== null) void this.poll(d);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.scheduler.stop();
    for (const d of this.devices) d.channel?.abort();
    for (const node of this.nodes) node.close();
  }

  // --- one device's life ---

  private begin(d: SimDevice): void {
    d.started = true;
    if (this.behaviour.pushChannel) void this.openChannel(d);
    else void this.poll(d);
    this.schedulePeriodic(d);
    const offline = this.behaviour.offline;
    if (offline !== null && fixedDraw(d.uuid, 'offline') < offline.share) this.scheduleSpell(d);
  }

  private schedulePeriodic(d: SimDevice): void {
    const { pollIntervalMs, metricsIntervalMs, jitter } = this.behaviour;
    const epoch = d.epoch;
    if (pollIntervalMs !== null) {
      const pollLoop = (): void => {
        if (d.epoch !== epoch || this.stopped) return;
        void this.poll(d);
        this.scheduler.after(jittered(pollIntervalMs, jitter), pollLoop);
      };
      // The first one anywhere in the interval: a fleet's polls spread over it, not in step.
      this.scheduler.after(Math.random() * pollIntervalMs, pollLoop);
    }
    if (metricsIntervalMs !== null) {
      const metricsLoop = (): void => {
        if (d.epoch !== epoch || this.stopped) return;
        void this.report(d);
        this.scheduler.after(jittered(metricsIntervalMs, jitter), metricsLoop);
      };
      this.scheduler.after(Math.random() * metricsIntervalMs, metricsLoop);
    }
  }

  private scheduleSpell(d: SimDevice): void {
    const spells = this.behaviour.offline;
    if (spells === null) return;
    this.scheduler.after(jittered(spells.everyMs, this.behaviour.jitter), () => {
      if (this.stopped || !d.online) return;
      d.online = false;
      d.epoch += 1;
      d.channel?.abort();
      this.scheduler.after(jittered(spells.forMs, this.behaviour.jitter), () => {
        if (this.stopped) return;
        d.online = true;
        d.epoch += 1;
        // Back online: the supervisor polls at once (through its channel's opening) and reports what it runs.
        if (this.behaviour.pushChannel) void this.openChannel(d);
        else void this.poll(d);
        void this.report(d);
        this.schedulePeriodic(d);
        this.scheduleSpell(d);
      });
    });
  }

  private fail(what: string, err: unknown): void {
    this.stats.failures += 1;
    this.stats.lastFailure = `${what}: ${messageOf(err)}`.slice(0, 500);
  }

  private async authenticate(d: SimDevice): Promise<void> {
    // Each auth request must be signed at a later time than the last one the API took from this device.
    const ms = Math.max(Date.now(), d.lastAuthMs + 1);
    d.lastAuthMs = ms;
    const body = {
      uuid: d.uuid,
      publicKey: d.publicKey,
      deviceType: this.options.deviceType ?? 'generic-amd64',
      fleet: this.options.fleet,
      provisioningKey: this.options.provisioningKey,
      timestamp: new Date(ms).toISOString(),
    };
    const answer = await d.node.send({
      method: 'POST',
      path: paths.deviceAuth,
      headers: { [DEVICE_SIGNATURE_HEADER]: signDeviceRequest(d.key, body) },
      body,
      localAddress: d.localAddress,
    });
    if (answer.status !== 200)
      throw new Error(`registering simulated device ${d.uuid} answered ${answer.status}: ${answer.body.slice(0, 300)}`);
    const auth = parse(DeviceAuthResponseSchema, JSON.parse(answer.body), `the auth answer for ${d.uuid}`);
    if (auth.signingKey !== this.options.signingKey)
      throw new Error(`the API announced the signing key ${auth.signingKey} to ${d.uuid}, the device pins another one`);
    d.token = auth.token;
  }

  /** A request with the device's token; a 401 gets one new token and one more try, as the supervisor does. */
  private async deviceRequest(d: SimDevice, req: SimRequest): Promise<SimAnswer> {
    const withToken = (): SimRequest => ({
      ...req,
      localAddress: d.localAddress,
      headers: { ...req.headers, authorization: `Bearer ${d.token ?? ''}` },
    });
    const answer = await d.node.send(withToken());
    if (answer.status !== 401) return answer;
    await this.authenticate(d);
    return d.node.send(withToken());
  }

  private async poll(d: SimDevice): Promise<void> {
    if (d.polling) {
      d.pollAgain = true;
      return;
    }
    d.polling = true;
    try {
      do {
        d.pollAgain = false;
        await this.pollOnce(d);
      } while (d.pollAgain && d.online && !this.stopped);
    } finally {
      d.polling = false;
    }
  }

  private async pollOnce(d: SimDevice): Promise<void> {
    let answer: SimAnswer;
    try {
      answer = await this.deviceRequest(d, {
        method: 'GET',
        path: paths.target(d.uuid),
        headers: d.etag === null ? {} : { 'if-none-match': d.etag },
      });
    } catch (err) {
      if (!this.stopped) this.fail(`poll of ${d.uuid}`, err);
      return;
    }
    this.stats.polls += 1;
    if (this.options.recordLatencies) this.pollLatencies.push(answer.ms);
    if (answer.status === 304) {
      this.stats.polls304 += 1;
      return;
    }
    if (answer.status !== 200) {
      this.fail(`poll of ${d.uuid}`, `answered ${answer.status}: ${answer.body.slice(0, 200)}`);
      return;
    }
    this.stats.polls200 += 1;
    let target: TargetState;
    try {
      const signature = answer.headers[SIGNATURE_HEADER.toLowerCase()];
      target = acceptSignedTarget(
        JSON.parse(answer.body),
        typeof signature === 'string' ? signature : null,
        this.targetKey,
        d.uuid,
      ).target;
    } catch (err) {
      this.stats.refusedTargets += 1;
      this.fail(`target of ${d.uuid} refused`, err);
      return;
    }
    const etag = answer.headers.etag;
    d.etag = typeof etag === 'string' ? etag : null;
    this.takeTarget(d, target);
  }

  private takeTarget(d: SimDevice, target: TargetState): void {
    const release = target.release?.id ?? null;
    const services = target.services.map((s) => ({ name: s.name, image: s.image }));
    if (release === d.targetRelease) return;
    if (d.gaveUpOn !== null && release !== d.gaveUpOn) d.gaveUpOn = null;
    d.targetRelease = release;
    d.targetServices = services;
    if (release === null) {
      d.running = null;
      d.runningServices = [];
      d.applyingTo = null;
      d.status = 'converged';
      void this.report(d);
      return;
    }
    if (release === d.running || release === d.gaveUpOn) {
      d.applyingTo = null;
      void this.report(d);
      return;
    }
    d.applyingTo = release;
    d.status = 'downloading';
    d.error = null;
    void this.report(d);
    const epoch = d.epoch;
    this.scheduler.after(jittered(this.behaviour.applyMs, this.behaviour.jitter), () => {
      if (this.stopped || d.applyingTo !== release) return;
      // Offline meanwhile: the update went on (it needs no API), its report waits for the device to be back.
      this.finishApply(d, release, services);
      if (d.epoch === epoch && d.online) void this.report(d);
    });
  }

  private finishApply(d: SimDevice, release: string, services: RunningService[]): void {
    const { failureRate, failingReleases, failure } = this.behaviour;
    const fails =
      failureRate > 0 &&
      (failingReleases === null || failingReleases.includes(release)) &&
      fixedDraw(d.uuid, release) < failureRate;
    d.applyingTo = null;
    d.status = 'converged';
    d.error = null;
    if (!fails) {
      d.running = release;
      d.runningServices = services;
      d.failing = null;
      d.rollback = null;
      return;
    }
    switch (failure) {
      case 'error':
        d.status = 'error';
        d.error = `simulated: the images of release ${release} could not be downloaded`;
        return;
      case 'unhealthy':
      case 'app-health':
        d.running = release;
        d.runningServices = services;
        d.failing = failure;
        d.rollback = null;
        return;
      case 'rollback':
        d.rollback = {
          fromReleaseId: release,
          toReleaseId: d.running,
          reason: `simulated: release ${release} did not become healthy within its deadline`,
          at: new Date().toISOString(),
        };
        d.gaveUpOn = release;
        return;
    }
  }

  private stateOf(d: SimDevice): StateReport {
    const now = new Date().toISOString();
    const services: ServiceReport[] = d.runningServices.map((s, i) => ({
      name: s.name,
      releaseId: d.running,
      image: s.image,
      containerId: null,
      state: d.failing === 'unhealthy' ? 'restarting' : 'running',
      health: d.failing === 'unhealthy' ? 'unhealthy' : 'healthy',
      exitCode: d.failing === 'unhealthy' ? 1 : null,
      restarts: d.failing === 'unhealthy' ? 5 : 0,
      restartLoop: d.failing === 'unhealthy',
      // The first service speaks for the application (the meter reader's share of good telegrams).
      ...(i === 0
        ? {
            appHealth: {
              ok: d.failing !== 'app-health',
              value: d.failing === 'app-health' ? 0.42 : 0.99,
              detail: null,
              reportedAt: now,
            },
          }
        : {}),
    }));
    const uptimeSeconds = Math.round((Date.now() - d.bornMs) / 1000);
    return {
      supervisorVersion: SIM_SUPERVISOR_VERSION,
      updateStatus: d.status,
      targetReleaseId: d.targetRelease,
      releaseId: d.running,
      services,
      error: d.error,
      metrics: {
        cpuPercent: 3 + (d.index % 7),
        memoryUsedBytes: 180_000_000 + (d.index % 97) * 100_000,
        memoryTotalBytes: 1_000_000_000,
        temperatureCelsius: 48,
        diskUsedBytes: 3_000_000_000,
        diskTotalBytes: 30_000_000_000,
        uptimeSeconds,
      },
      ...(d.status === 'downloading' ? { progress: { imagesPresent: 0, imagesTotal: d.targetServices.length } } : {}),
      ...(d.rollback === null ? {} : { rollback: d.rollback }),
      reportedAt: now,
    };
  }

  /** Only the changed fields against the report the API holds, or null when a full one is needed. */
  private partialOf(last: StateReport, full: StateReport): PartialStateReport | null {
    // A field that went away cannot be said in a partial report.
    for (const key of Object.keys(last)) if (!(key in full)) return null;
    const partial: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(full)) {
      if (key === 'services') continue;
      if (JSON.stringify(value) !== JSON.stringify((last as Record<string, unknown>)[key])) partial[key] = value;
    }
    const changes = serviceChangesOf(last.services, full.services);
    if (changes.set.length > 0 || changes.removed.length > 0) partial.serviceChanges = changes;
    return partial as PartialStateReport;
  }

  private async report(d: SimDevice): Promise<void> {
    if (d.reporting) {
      d.reportAgain = true;
      return;
    }
    d.reporting = true;
    try {
      do {
        d.reportAgain = false;
        await this.reportOnce(d);
      } while (d.reportAgain && d.online && !this.stopped);
    } finally {
      d.reporting = false;
    }
  }

  private async reportOnce(d: SimDevice): Promise<void> {
    if (!d.online || d.token === null) return;
    const full = this.stateOf(d);
    const partial = d.lastSent === null || d.reportEtag === null ? null : this.partialOf(d.lastSent, full);
    try {
      let answer = await this.deviceRequest(d, {
        method: 'PATCH',
        path: paths.state(d.uuid),
        body: partial ?? full,
        headers: partial === null ? {} : { 'if-match': d.reportEtag ?? '' },
      });
      if (answer.status === 412 || answer.status === 409)
        answer = await this.deviceRequest(d, { method: 'PATCH', path: paths.state(d.uuid), body: full });
      if (answer.status !== 204) {
        d.reportEtag = null;
        this.fail(`report of ${d.uuid}`, `answered ${answer.status}: ${answer.body.slice(0, 200)}`);
        // An API that is overloaded or restarting answers later; a report it refused as wrong is not sent again.
        if (answer.status >= 500 || answer.status === 429) this.retryReport(d);
        return;
      }
      this.stats.reports += 1;
      const etag = answer.headers.etag;
      d.reportEtag = typeof etag === 'string' ? etag : null;
      d.lastSent = full;
      d.ackRelease = full.releaseId;
      d.ackStatus = full.updateStatus;
    } catch (err) {
      if (this.stopped) return;
      this.fail(`report of ${d.uuid}`, err);
      this.retryReport(d);
    }
  }

  /** Sends the report again later, as the supervisor's reporter retries; the next change would send it anyway. */
  private retryReport(d: SimDevice): void {
    const epoch = d.epoch;
    this.scheduler.after(jittered(5_000, 0.5), () => {
      if (d.epoch === epoch) void this.report(d);
    });
  }

  private async openChannel(d: SimDevice): Promise<void> {
    if (d.channel !== null || !d.online || this.stopped) return;
    const controller = new AbortController();
    d.channel = controller;
    const epoch = d.epoch;
    const reopen = (afterMs: number): void => {
      d.channelOpen = false;
      if (d.channel === controller) d.channel = null;
      if (this.stopped || !d.online || d.epoch !== epoch) return;
      this.scheduler.after(jittered(afterMs, 0.5), () => {
        if (d.epoch === epoch) void this.openChannel(d);
      });
    };
    const request = (): Promise<IncomingMessage> =>
      d.node.open(
        {
          method: 'GET',
          path: eventPaths.events(d.uuid),
          headers: { accept: 'text/event-stream', authorization: `Bearer ${d.token ?? ''}` },
          localAddress: d.localAddress,
        },
        controller.signal,
      );
    let response: IncomingMessage;
    try {
      response = await request();
      if (response.statusCode === 401) {
        response.resume();
        await this.authenticate(d);
        response = await request();
      }
    } catch (err) {
      if (!controller.signal.aborted && !this.stopped) this.fail(`push channel of ${d.uuid}`, err);
      // Meanwhile the device polls, as a supervisor without its channel does.
      void this.poll(d);
      reopen(5_000);
      return;
    }
    if (response.statusCode !== 200) {
      response.resume();
      // 503: the API holds its limit of channels; it says when to try again.
      const retryAfter = Number(response.headers['retry-after']);
      this.fail(`push channel of ${d.uuid}`, `answered ${response.statusCode}`);
      void this.poll(d);
      reopen(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 5_000);
      return;
    }
    d.channelOpen = true;
    const parser = new SseParser({ maxEventChars: 64 * 1024 });
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      try {
        for (const event of parser.push(chunk)) {
          if (event.event !== TARGET_EVENT) continue;
          const { etag } = parse(TargetEventSchema, JSON.parse(event.data), `a target event to ${d.uuid}`);
          if (etag !== d.etag) void this.poll(d);
        }
      } catch (err) {
        this.fail(`push channel of ${d.uuid}`, err);
        response.destroy();
      }
    });
    // The API ends channels (age, restart): the device is back on a new one within seconds.
    response.once('close', () => reopen(2_000));
    response.once('error', () => undefined);
  }
}
