// The device daemon assembled: the reconciler starts at once from the persisted target (a device without network
// still converges), and the online part (authentication, polling, reporting) comes up beside it when it can.
// The device-local API starts with the reconciler and needs no network; the push channel (online/push-channel.ts) only
// shortens the wait for a new target. In local mode the reconciler runs the developer's target, not the fleet's.
import { type DevicePlatform, devicePlatform } from './device/platform.js';
import path from 'node:path';
import { SignatureError } from '../protocol/signature.js';
import { ValidationError } from '../protocol/validate.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';
import { ApiClient, ApiError } from './online/api-client.js';
import { canonicalJson } from '../protocol/canonical-json.js';
import { configFile, loadConfig, onlineRefusal, saveConfig, trustedKeysOf, type IdentifiedConfig } from './config.js';
import { decodePublicKey, encodePublicKey } from '../protocol/signature.js';
import { readCurrentState } from './reconcile/current-state.js';
import { imagesOf } from './plan/desired-state.js';
import { dockerEngine, type Engine } from './engine/engine.js';
import { HeldServices } from './reconcile/held-services.js';
import { localApiKey } from './local-api/key.js';
import { startLocalApi, type DeviceControl, type LocalApi } from './local-api/listen.js';
import { runReboot, serviceAction, serviceLogs } from './local-api/services.js';
import { ImageDelivery } from './images/delivery.js';
import { ReleaseFiles } from './images/release-files.js';
import { pathOf } from '../protocol/http/route.js';
import { DEVICE_RELEASE_FILE_ROUTES } from '../protocol/http/release-files.js';
import { gatherDiskFacts } from './images/disk-facts.js';
import { IMAGE_HISTORY_FILE, ImageCleanup } from './images/cleanup.js';
import { LocalTargetFile } from './local-api/local-mode.js';
import { MetricsSampler } from './device/metrics.js';
import { MANAGED_FILTER } from './plan/naming.js';
import {
  DEFAULT_LOCAL_API_PORT,
  type Health,
  type LocalState,
  type LocalTargetRequest,
} from '../protocol/local-api.js';
import type { TargetState } from '../protocol/target-state.js';
import { Poller } from './online/poller.js';
import { loadOrCreateIdentity } from './device/identity.js';
import { DeviceSession } from './online/session.js';
import { ensureProvisioned } from './online/provision.js';
import { Reconciler } from './reconcile/reconciler.js';
import { buildReport, Reporter, type ReportInput } from './online/reporter.js';
import { TargetEvents } from './online/push-channel.js';
import { meterRequests, tuneConnections } from '../lib/http-request.js';
import { thinningOf, type BudgetFacts } from './plan/data-budget.js';
import { PatchDigests, purposeOfUrl, totalOf, TrafficCounters } from './device/traffic.js';
import { LogShipper } from './online/log-shipper.js';
import { DeviceTunnel } from './online/tunnel.js';
import { RemoteActions, type ActionOutcome } from './online/remote-actions.js';
import { collectDiagnostics } from './device/diagnostics.js';
import { readMeterSerial } from './device/meter-serial.js';
import type { DeviceActionOrder } from '../protocol/device-actions.js';
import { parseImageReference } from '../protocol/image-reference.js';
import { registryScheme } from '../lib/insecure-registries.js';
import { signedWith, type SignedTarget, type TrustedKeys } from './target/gate.js';
import { TargetStore } from './target/store.js';
import { acceptedIssueOf, FreshnessError, judgeFreshness, staleness } from './target/freshness.js';
import { ReleaseTrust } from './target/release-signature.js';
import { updateWindowState, windowReport } from './reconcile/update-window.js';
import { SUPERVISOR_VERSION } from './version.js';
import { startHostOs } from './os-update/host-os.js';
import type { OsUpdater } from './os-update/os-updater.js';
import { AppReleaseWatch } from './app-health/watch.js';

export interface SupervisorOptions {
  dataDir: string;
  log?: Logger;
  /** Overrides the target's poll interval (demos, tests). */
  pollIntervalMs?: number;
  /** Minimum time between two state reports. */
  reportIntervalMs?: number;
  /** Metrics are sampled for reports at most this often. */
  metricsIntervalMs?: number;
  /** A converged device re-reads its engine this often (tests). */
  resyncIntervalMs?: number;
  /** How often the running release's health is judged (app-health/watch.ts). */
  appWatchIntervalMs?: number;
  /** Registries spoken to over plain HTTP besides loopback ones (SKIFF_INSECURE_REGISTRIES, config.ts). */
  insecureRegistries?: readonly string[];
}

/** How often the meter serial file is read: a meter is swapped (or a cable moved) rarely, a check costs a read. */
const METER_SERIAL_CHECK_MS = 10_000;

export class Supervisor {
  private readonly shutdown = new AbortController();
  private readonly reconciler: Reconciler;
  private readonly store: TargetStore;
  /** The API keys targets must be signed with; moved in place by a key rotation (rotateKeys). */
  private readonly keys: TrustedKeys | null;
  private readonly delivery: ImageDelivery;
  /** The device's session with the API once online: where its current token is. */
  private session: DeviceSession | undefined;
  private poller: Poller | undefined;
  private reporter: Reporter | undefined;
  /** The device's data use by purpose (device/traffic.ts); set once online. */
  private traffic: TrafficCounters | undefined;
  /** Delta patches being fetched: their blob requests count as deltas (device/traffic.ts). */
  private readonly patches = new PatchDigests();
  /** Host OS updates (A/B with RAUC); null on a device whose image does not configure them. */
  private osUpdater: OsUpdater | null = null;
  private events: TargetEvents | undefined;
  /** Fleet logs: ships service logs only while someone asks through the API (online/log-shipper.ts). */
  private logShipper: LogShipper | undefined;
  /** The reverse SSH tunnel's key and settings (online/tunnel.ts); set once online. */
  private tunnel: DeviceTunnel | undefined;
  /** The meter serial the meter reader announced last (device/meter-serial.ts); null: none yet. */
  private meterSerial: string | null = null;
  private meterSerialTimer: NodeJS.Timeout | undefined;
  /** Each service's directory for its update lock, hand-over and meter serial files. */
  private get lockRoot(): string {
    return path.join(this.options.dataDir, 'locks');
  }
  /** Remote actions the API hands out (online/remote-actions.ts). */
  private remoteActions: RemoteActions | undefined;
  private localApi: LocalApi | undefined;
  private readonly localFile: LocalTargetFile;
  /** Services stopped through the local API: not started again until started through it. */
  private readonly held: HeldServices;
  /** The developer's target while in local mode; null otherwise. */
  private local: { request: LocalTargetRequest; target: TargetState } | null = null;
  /** The last fleet target accepted: what runs again when local mode ends. */
  private fleetTarget: TargetState | null = null;
  /** Whether the last poll reached the API; null before the first. */
  private apiReachable: boolean | null = null;
  private online: Promise<void> | undefined;
  /** Why the last target offered (from disk or the API) was refused; cleared by the next accepted one. */
  private targetError: string | null = null;
  /** The release keys targets' releases must be signed with; null: the config pins none. */
  private releaseTrust: ReleaseTrust | null = null;
  /** Judges the running release's health and rolls it back to the last good one by itself. */
  private readonly appWatch: AppReleaseWatch;

  private constructor(
    private readonly options: SupervisorOptions,
    private readonly config: IdentifiedConfig,
    private readonly engine: Engine,
    private readonly log: Logger,
    private readonly platform: DevicePlatform,
  ) {
    this.store = new TargetStore(options.dataDir, config.uuid);
    this.keys = trustedKeysOf(config);
    this.localFile = new LocalTargetFile(options.dataDir);
    this.held = new HeldServices(options.dataDir);
    this.delivery = new ImageDelivery({
      engine,
      dataDir: options.dataDir,
      credentials: () => this.registryCredentials(),
      insecureRegistries: options.insecureRegistries,
      platform: platform.registry,
      log: log.child({ component: 'images' }),
      onPatch: (digest) => this.patches.add(digest),
    });
    this.reconciler = new Reconciler({
      engine,
      log: log.child({ component: 'reconciler' }),
      lockRoot: this.lockRoot,
      fetchImage: (image, signal) => this.delivery.fetch(image, signal),
      releaseFiles: new ReleaseFiles({
        dataDir: options.dataDir,
        urlOf: (digest) =>
          this.session === undefined
            ? null
            : new URL(pathOf(DEVICE_RELEASE_FILE_ROUTES.releaseFile, { uuid: config.uuid, digest }), config.apiUrl)
                .href,
        headers: (): Record<string, string> =>
          this.session === undefined ? {} : { authorization: `Bearer ${this.session.token()}` },
        bucket: this.delivery.bucket,
        log: log.child({ component: 'release-files' }),
      }),
      held: () => this.held.current(),
      resyncIntervalMs: options.resyncIntervalMs,
      // Within the month's data budget, counted by the device's own counters (every purpose).
      budgetFacts: (target) => this.budgetOf(target),
      // Disk check before downloading, and image clean-up after converging.
      diskFacts: (missing, current, target) =>
        gatherDiskFacts(
          {
            engine,
            registry: this.delivery.registry,
            platform: platform.registry,
            log: log.child({ component: 'disk' }),
            downloads: this.delivery.store,
          },
          missing,
          current,
          target,
        ),
      cleanup: async (current, target) => {
        // In local mode the fleet's target comes back when local mode ends, possibly offline: keep its images.
        const fleetImages = this.local !== null && this.fleetTarget !== null ? imagesOf(this.fleetTarget) : [];
        await new ImageCleanup(
          path.join(options.dataDir, IMAGE_HISTORY_FILE),
          engine,
          log.child({ component: 'images' }),
        ).afterConverged(current, target, fleetImages);
      },
      // --- end disk check and image clean-up
    });
    this.appWatch = new AppReleaseWatch({
      dataDir: options.dataDir,
      deviceUuid: config.uuid,
      engine,
      keys: this.keys,
      releaseTrust: () => this.releaseTrust,
      log: log.child({ component: 'app-health' }),
      intervalMs: options.appWatchIntervalMs,
      converged: () => this.reconciler.currentStatus().phase === 'converged',
      applying: () => {
        const status = this.reconciler.currentStatus();
        // Not while the update window or an update lock holds the release back: it is not applied yet.
        const held = status.heldByWindow !== undefined || status.locked !== undefined;
        return status.phase === 'converged' || (status.phase === 'applying' && !held);
      },
      onRun: () => this.runFleet(),
      onChange: () => this.reporter?.trigger(),
    });
  }

  /** The registry's token server knows the device by uuid and its API token, the one the session renews. */
  private registryCredentials(): { username: string; password: string } | undefined {
    const token = (this.session?.current() ?? this.config).deviceToken;
    return token === undefined ? undefined : { username: this.config.uuid, password: token };
  }

  static async create(options: SupervisorOptions): Promise<Supervisor> {
    const log = options.log ?? createLogger('supervisor');
    const config = await loadConfig(options.dataDir);
    const engine = dockerEngine(config.dockerHost ?? process.env.DOCKER_HOST, log.child({ component: 'engine' }));
    const platform = await devicePlatform(config.platform, engine, log);
    log.info({ platform: platform.name, from: platform.source }, 'device platform');
    return new Supervisor(options, config, engine, log.child({ uuid: config.uuid }), platform);
  }

  async start(): Promise<void> {
    try {
      const held = await this.held.load();
      if (held.size > 0) this.log.info({ held: [...held] }, 'services held stopped through the local API');
    } catch (err) {
      // Holding nothing is the device's ordinary work: its services run. The next hold rewrites the file.
      this.log.error({ err: messageOf(err) }, 'held services refused; no service is held');
    }
    this.releaseTrust = await ReleaseTrust.load(this.options.dataDir, this.config.releaseKeys, (err, doing) =>
      this.log.error({ err: messageOf(err) }, doing),
    );
    await this.appWatch.load();
    let fleetSigned: SignedTarget | null = null;
    try {
      const signed = await this.store.load(this.keys, this.releaseTrust);
      fleetSigned = signed;
      if (signed !== null) {
        this.fleetTarget = signed.target;
        // As the watch's record has it; a release the record does not know yet is watched below, after local mode
        // is known (a device in local mode watches the fleet's release only once it runs it).
        this.runFleet();
        this.log.info({ release: signed.target.release?.id ?? null }, 'persisted target loaded');
      } else {
        this.log.info('no persisted target: waiting for one from the API');
      }
    } catch (err) {
      // Nothing is planned without a valid target, so what runs keeps running.
      this.targetError = messageOf(err);
      this.log.error({ err: messageOf(err) }, 'persisted target refused; running containers are left alone');
    }
    await this.resumeLocalMode();
    if (fleetSigned !== null) await this.appWatch.follow(fleetSigned);
    this.reconciler.start();
    this.appWatch.start();
    await this.startLocalApi();
    this.online = this.goOnline().catch((err: unknown) => {
      if (!this.shutdown.signal.aborted) this.log.error({ err: messageOf(err) }, 'online part stopped');
    });
  }

  /** Ends every loop; containers keep running. */
  async stop(): Promise<void> {
    this.shutdown.abort(new Error('supervisor stopping'));
    clearInterval(this.meterSerialTimer);
    await Promise.all([
      this.poller?.stop(),
      this.reporter?.stop(),
      this.events?.stop(),
      this.reconciler.stop(),
      this.appWatch.stop(),
      this.localApi?.close(),
      this.logShipper?.stop(),
      this.tunnel?.stop(),
      this.remoteActions?.stop(),
      this.osUpdater?.stop(),
    ]);
    this.delivery.stop();
    await this.online;
    await this.traffic?.stop();
  }

  /** The fleet's target as the device runs it: with its release, or its last good one while it rolled that back. */
  private runFleet(): void {
    if (this.local !== null || this.fleetTarget === null) return;
    this.run(this.appWatch.effective(this.fleetTarget));
  }

  /** The target the reconciler converges to from now on; its config also sets the download cap. */
  private run(target: TargetState): void {
    this.reconciler.setTarget(target);
    this.delivery.follow(target);
  }

  private async goOnline(): Promise<void> {
    const refusal = onlineRefusal(this.config, configFile(this.options.dataDir));
    if (refusal !== null) {
      this.targetError = refusal;
      this.log.error({ reason: refusal }, 'not going online; running containers are left alone');
      return;
    }
    const traffic = await TrafficCounters.load({
      dataDir: this.options.dataDir,
      log: this.log.child({ component: 'traffic' }),
    });
    this.traffic = traffic;
    // Registry, downloader and OS bundle requests: the API client names its own purposes.
    meterRequests((url, bytes) => traffic.add(purposeOfUrl(url, this.patches), bytes));
    const api = new ApiClient({
      baseUrl: this.config.apiUrl,
      onBytes: (purpose, bytes) => traffic.add(purpose, bytes),
    });
    const session = new DeviceSession({
      api,
      identity: await loadOrCreateIdentity(this.options.dataDir),
      config: this.config,
      platform: this.platform.name,
      save: (c) => saveConfig(this.options.dataDir, c),
      log: this.log.child({ component: 'auth' }),
    });
    this.session = session;
    await ensureProvisioned(session, { log: this.log.child({ component: 'provision' }), signal: this.shutdown.signal });
    if (this.shutdown.signal.aborted) return;
    // The same key ring the persisted target is checked with: a rotation updates it in place for every client.
    const deviceApi = api.forDevice(session, this.keys, this.releaseTrust);
    const uuid = this.config.uuid;
    const sampler = new MetricsSampler(this.options.dataDir);
    const reporter = new Reporter({
      observe: () => this.observe(),
      situation: () => this.situation(),
      send: (report, basedOn) => deviceApi.reportState(uuid, report, basedOn),
      metrics: () => sampler.sample(),
      metricsIntervalMs: this.options.metricsIntervalMs,
      thinning: () => {
        const target = this.reconciler.currentTarget();
        return thinningOf(target === null ? undefined : this.budgetOf(target));
      },
      fleetMetricsIntervalMs: () => {
        const seconds = this.reconciler.currentTarget()?.config.metricsIntervalSeconds;
        return seconds === undefined ? undefined : seconds * 1000;
      },
      log: this.log.child({ component: 'reporter' }),
      supervisorVersion: SUPERVISOR_VERSION,
      minIntervalMs: this.options.reportIntervalMs,
      traffic: () => traffic.month(),
    });
    const poller = new Poller({
      api: deviceApi,
      uuid,
      log: this.log.child({ component: 'poller' }),
      onTarget: (signed) => this.accept(signed),
      onOutcome: (err) => {
        this.apiReachable = err === null || !(err instanceof ApiError && err.status === null);
        if (err === null) this.targetError = null;
        else if (err instanceof ValidationError || err instanceof SignatureError || err instanceof FreshnessError)
          this.targetError = messageOf(err);
        reporter.trigger();
      },
      intervalOverrideMs: this.options.pollIntervalMs,
      initialIntervalSeconds: this.reconciler.currentTarget()?.config.pollIntervalSeconds,
    });
    this.reconciler.onStatus(() => reporter.trigger());
    const logShipper = new LogShipper({
      engine: this.engine,
      send: (batch) => deviceApi.postLogs(uuid, batch),
      log: this.log.child({ component: 'logs' }),
    });
    this.logShipper = logShipper;
    logShipper.start();
    const tunnel = new DeviceTunnel({
      dir: this.config.tunnelDir ?? path.join(this.options.dataDir, 'tunnel'),
      uuid,
      register: (publicKey) => deviceApi.registerTunnelKey(uuid, publicKey),
      log: this.log.child({ component: 'tunnel' }),
    });
    this.tunnel = tunnel;
    await tunnel
      .start()
      .then(() => tunnel.apply(this.fleetTarget?.tunnel))
      .catch((err: unknown) => this.log.error({ err: messageOf(err) }, 'the reverse SSH tunnel is unavailable'));
    const remoteActions = new RemoteActions({
      api: deviceApi,
      uuid,
      log: this.log.child({ component: 'actions' }),
      run: (order) => this.runAction(order),
    });
    this.remoteActions = remoteActions;
    const events = new TargetEvents({
      api: deviceApi,
      uuid,
      log: this.log.child({ component: 'push' }),
      knownEtag: () => poller.knownEtag(),
      onStale: () => poller.pollNow(),
      onConnected: (open, endedByApi) => {
        poller.setPushOpen(open);
        // The API ends each channel once a day: the device polls and reconnects then anyway, so the day's report
        // (metrics, data use) goes out on the same connection instead of opening one of its own at another hour.
        if (endedByApi) reporter.sendDaily();
      },
      onTimings: (timings) =>
        tuneConnections({ idleMs: timings.requestIdleMs, tcpKeepAliveMs: timings.tcpKeepAliveMs }),
      onLogs: (data) => logShipper.onEvent(data),
      onAction: () => remoteActions.wake(),
    });
    this.reporter = reporter;
    this.poller = poller;
    this.events = events;
    reporter.start();
    poller.start();
    events.start();
    const refreshMeter = (): void =>
      void this.refreshMeterSerial().catch((err: unknown) =>
        this.log.warn({ err: messageOf(err) }, 'cannot read the meter serial the meter reader announced'),
      );
    refreshMeter();
    this.meterSerialTimer = setInterval(refreshMeter, METER_SERIAL_CHECK_MS);
    this.meterSerialTimer.unref();
    // After the poller, so that an OS update resumed in verify-boot finds the API being reached.
    this.osUpdater = await startHostOs({
      dataDir: this.options.dataDir,
      apiBaseUrl: this.config.apiUrl,
      requestHeaders: () => ({ authorization: `Bearer ${session.token()}` }),
      engine: this.engine,
      reachApi: async () => {
        await deviceApi.fetchTarget(uuid, null);
      },
      target: () => this.reconciler.currentTarget(),
      log: this.log.child({ component: 'os-update' }),
      onChange: () => reporter.trigger(),
    }).catch((err: unknown) => {
      this.log.error({ err: messageOf(err) }, 'host OS updates unavailable');
      return null;
    });
    this.osUpdater?.offer(this.fleetTarget?.hostOs);
  }

  /** A verified, validated target from the API: persisted first, so a crash right after still converges to it. */
  private async accept(signed: SignedTarget): Promise<void> {
    const { target } = signed;
    const same = canonicalJson(target) === canonicalJson(this.fleetTarget);
    const verdict = judgeFreshness(target.issued, acceptedIssueOf(this.fleetTarget?.issued), Date.now(), same);
    if (!verdict.fresh) {
      this.log.warn({ kind: verdict.kind, version: target.issued?.version ?? null }, 'stale target refused');
      throw new FreshnessError('target state from the API', verdict.kind, verdict.reason);
    }
    if (same) return;
    await this.store.save(signed);
    await this.rotateKeys(signed);
    this.fleetTarget = target;
    await this.tunnel
      ?.apply(target.tunnel)
      .catch((err: unknown) => this.log.error({ err: messageOf(err) }, 'cannot write the tunnel settings'));
    this.osUpdater?.offer(target.hostOs);
    this.runFleet();
    // After the target runs: what runs is the same before and after the watch records it (a release the watch has
    // given up on stays given up on, any other runs), and the update need not wait for the record's disk sync.
    await this.appWatch.follow(signed);
    if (this.local !== null) {
      this.log.info({ release: target.release?.id ?? null }, 'new fleet target kept for after local mode');
      return;
    }
    this.log.info({ release: target.release?.id ?? null }, 'new target accepted');
  }

  /**
   * Follows the API's key rotation, after the target that moves it is saved: a next key announced by a target the
   * current key signed is trusted besides it; the first target signed with the next key makes it the only one.
   */
  private async rotateKeys(signed: SignedTarget): Promise<void> {
    const keys = this.keys;
    const session = this.session;
    if (keys === null || session === undefined) return;
    const byNextKey = keys.next !== null && !signedWith(keys.current, signed) && signedWith(keys.next, signed);
    if (byNextKey && keys.next !== null) {
      const promoted = encodePublicKey(keys.next);
      await session.trustKeys(promoted, undefined);
      keys.current = keys.next;
      keys.next = null;
      this.log.info({ apiSigningKey: promoted }, "the API's new signing key is now the only one trusted");
      return;
    }
    const announced = signed.target.issued?.nextSigningKey;
    if (byNextKey || announced === undefined) return;
    const current = encodePublicKey(keys.current);
    if (announced === current || (keys.next !== null && announced === encodePublicKey(keys.next))) return;
    const next = decodePublicKey(announced, 'the next signing key the target announces');
    await session.trustKeys(current, announced);
    keys.next = next;
    this.log.info({ apiNextSigningKey: announced }, 'the API announced its next signing key; trusting it too');
  }

  private async observe(): ReturnType<typeof readCurrentState> {
    const target = this.reconciler.currentTarget();
    return readCurrentState(this.engine, target === null ? [] : imagesOf(target));
  }

  private situation(): Pick<
    ReportInput,
    | 'target'
    | 'status'
    | 'targetError'
    | 'localMode'
    | 'downloads'
    | 'updateWindow'
    | 'hostOs'
    | 'held'
    | 'serviceHealth'
    | 'rollback'
    | 'meterSerial'
  > {
    const target = this.reconciler.currentTarget();
    const rollback = this.local === null ? this.appWatch.rollback() : undefined;
    return {
      serviceHealth: this.appWatch.serviceFacts(),
      ...(rollback === undefined ? {} : { rollback }),
      target,
      status: this.reconciler.currentStatus(),
      // A device cut off from fresh targets (or served a frozen one) says so, and keeps running what it has.
      targetError: this.targetError ?? staleness(this.fleetTarget?.issued, Date.now()),
      localMode: this.local !== null,
      held: this.held.current(),
      ...(target === null ? {} : { downloads: this.delivery.downloads(target), updateWindow: this.windowNow(target) }),
      // In the report itself (not added when sending), so a change of the OS update alone is a change to report.
      ...(this.osUpdater === null ? {} : { hostOs: this.osUpdater.report() }),
      ...(this.meterSerial === null ? {} : { meterSerial: this.meterSerial }),
    };
  }

  /** Reads what the meter reader last announced; a new serial is reported at once. */
  private async refreshMeterSerial(): Promise<void> {
    const services = this.reconciler.currentTarget()?.services.map((s) => s.name) ?? [];
    const serial = await readMeterSerial(this.lockRoot, services);
    // A serial once heard stays until another replaces it: a reader restarting says nothing for a while.
    if (serial === null || serial === this.meterSerial) return;
    this.log.info({ meterSerial: serial, was: this.meterSerial }, 'the meter announces its serial');
    this.meterSerial = serial;
    this.reporter?.trigger();
  }

  /** A window the device cannot judge (a bad cron) is left out of the report; the reconciler's error says why. */
  private windowNow(target: TargetState): ReportInput['updateWindow'] {
    try {
      return windowReport(updateWindowState(target.config, new Date()));
    } catch {
      return undefined;
    }
  }

  /** The target's monthly data budget and what the device's own counters say is used of it; undefined: none. */
  private budgetOf(target: TargetState): BudgetFacts | undefined {
    const budgetBytes = target.config.dataBudgetBytesPerMonth;
    if (budgetBytes === undefined) return undefined;
    const used = this.traffic === undefined ? { sent: 0, received: 0 } : totalOf(this.traffic.month().bytes);
    return { budgetBytes, usedBytes: used.sent + used.received };
  }

  /** A device that was in local mode when it stopped stays in it. */
  private async resumeLocalMode(): Promise<void> {
    try {
      const request = await this.localFile.load();
      if (request === null) return;
      this.local = { request, target: await this.localTargetFor(request) };
      await this.appWatch.setPaused(true);
      this.run(this.local.target);
      this.log.warn(
        { release: this.local.target.release?.id },
        'in local mode: the fleet target is not applied until local mode is left',
      );
    } catch (err) {
      this.log.error(
        { err: messageOf(err), file: this.localFile.file },
        'local target refused; running the fleet target',
      );
    }
  }

  /** The compose normaliser (and its YAML parser) is loaded only when a device is in local mode. */
  private async localTargetFor(request: LocalTargetRequest): Promise<TargetState> {
    const { localTargetOf } = await import('./target/local-target.js');
    return localTargetOf(request, {
      uuid: this.config.uuid,
      name: this.config.name ?? this.fleetTarget?.device.name ?? this.config.uuid,
      fleet: this.fleetTarget?.fleet.name ?? this.config.fleet ?? 'local',
      config: this.fleetTarget?.config ?? null,
    });
  }

  private async startLocalApi(): Promise<void> {
    const host = this.config.localApiHost ?? '127.0.0.1';
    const port = this.config.localApiPort ?? DEFAULT_LOCAL_API_PORT;
    try {
      this.localApi = await startLocalApi({
        control: this.control(),
        key: await localApiKey(this.options.dataDir),
        log: this.log.child({ component: 'local-api' }),
        host,
        port,
      });
    } catch (err) {
      // The device's real work goes on without its local API.
      this.log.error({ err: messageOf(err), host, port }, 'local API not started');
    }
  }

  /** One remote action, through the code the local API uses (protocol/device-actions.ts). */
  private async runAction(order: DeviceActionOrder): Promise<ActionOutcome> {
    if (order.action === 'diagnose') {
      const root = await this.engine.dataRootSpace().catch(() => undefined);
      return {
        message: 'diagnostics collected',
        diagnostics: await collectDiagnostics({
          uuid: this.config.uuid,
          supervisorVersion: SUPERVISOR_VERSION,
          config: this.config,
          engine: this.engine,
          paths: root === undefined ? [this.options.dataDir] : [this.options.dataDir, root.path],
          apiUrl: this.config.apiUrl,
          registryUrl: this.registryUrl(),
        }),
      };
    }
    if (order.action === 'reboot') {
      const command = this.config.rebootCommand ?? ['reboot'];
      this.log.warn({ command, action: order.id }, 'reboot asked through the API');
      return { message: `rebooting (${command.join(' ')})`, after: () => runReboot(command) };
    }
    const service = order.service;
    if (service === null) throw new Error(`the ${order.action} action names no service`);
    const container = await this.control().serviceAction(service, order.action);
    const done = { restart: 'restarted', stop: 'stopped (held until started)', start: 'started' }[order.action];
    return { message: `${done} service '${service}' (container ${container.slice(0, 12)})` };
  }

  /** The registry the current target's images come from, as scheme://host:port; null without a target. */
  private registryUrl(): string | null {
    const image = this.reconciler.currentTarget()?.services[0]?.image;
    if (image === undefined) return null;
    try {
      const { registry } = parseImageReference(image);
      return `${registryScheme(registry, this.options.insecureRegistries ?? [])}://${registry}`;
    } catch {
      return null;
    }
  }

  private control(): DeviceControl {
    const engine = this.engine;
    return {
      health: async (): Promise<Health> => {
        // Only what the supervisor itself needs: an unreachable API is the normal life of a device, not ill health.
        let engineCheck: string | null = null;
        try {
          await engine.listContainers(MANAGED_FILTER);
        } catch (err) {
          engineCheck = `the container engine does not answer: ${messageOf(err)}`;
        }
        const stopping = this.shutdown.signal.aborted ? 'the supervisor is stopping' : null;
        return {
          healthy: engineCheck === null && stopping === null,
          checks: { engine: engineCheck, supervisor: stopping },
        };
      },
      state: async (): Promise<LocalState> => ({
        uuid: this.config.uuid,
        report: buildReport({
          ...this.situation(),
          current: await this.observe(),
          supervisorVersion: SUPERVISOR_VERSION,
          now: new Date(),
        }),
        localMode: this.local !== null,
        apiReachable: this.apiReachable,
        pushConnected: this.events?.isConnected() ?? false,
        ...(this.traffic === undefined
          ? {}
          : { traffic: { month: this.traffic.month(), today: this.traffic.today() } }),
      }),
      serviceAction: async (service, action) => {
        try {
          return await serviceAction(engine, this.held, service, action);
        } finally {
          // A hold taken or released changes the plan and the report.
          this.reconciler.resync();
          this.reporter?.trigger();
        }
      },
      serviceLogs: (service, tail) => serviceLogs(engine, service, tail),
      reportHealth: (service, request) => this.appWatch.report(service, request),
      reboot: async () => {
        const command = this.config.rebootCommand ?? ['reboot'];
        this.log.warn({ command }, 'reboot asked through the local API');
        await runReboot(command);
        return command;
      },
      localTarget: () => this.local?.request ?? null,
      enterLocalMode: async (request) => {
        const target = await this.localTargetFor(request);
        await this.localFile.save(request);
        this.local = { request, target };
        await this.appWatch.setPaused(true);
        this.run(target);
        this.reporter?.trigger();
        this.log.warn(
          { release: target.release?.id, services: target.services.length },
          'local mode: running a local target',
        );
        return { releaseId: target.release?.id ?? '', services: target.services.map((s) => s.name) };
      },
      leaveLocalMode: async () => {
        if (this.local === null) return false;
        await this.localFile.remove();
        this.local = null;
        await this.appWatch.setPaused(false);
        if (this.fleetTarget !== null) this.runFleet();
        else this.log.warn('left local mode with no fleet target yet: what runs stays until one arrives');
        this.reporter?.trigger();
        this.poller?.pollNow();
        this.log.warn({ release: this.fleetTarget?.release?.id ?? null }, 'local mode left: back to the fleet target');
        return true;
      },
    };
  }
}
