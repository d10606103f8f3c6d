// The device daemon assembled: the reconciler starts at once from the persisted target (a device without network
// still converges), and the online part (registration, polling, reporting) comes up beside it when it can.
import { SignatureError } from '../protocol/signature.js';
import { ValidationError } from '../protocol/validate.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';
import { ApiClient } from './api-client.js';
import { canonicalJson } from '../protocol/canonical-json.js';
import { apiSigningKeyOf, loadConfig, saveConfig, type IdentifiedConfig } from './config.js';
import { readCurrentState } from './current-state.js';
import { dockerEngine, type Engine } from './engine.js';
import { Poller } from './poller.js';
import { ensureProvisioned } from './provision.js';
import { Reconciler } from './reconciler.js';
import { Reporter } from './reporter.js';
import type { SignedTarget } from './target.js';
import { TargetStore } from './target-store.js';
import { SUPERVISOR_VERSION } from './version.js';

export interface SupervisorOptions {
  dataDir: string;
  log?: Logger;
  /** Overrides the target's poll interval (demos, tests). */
  pollIntervalMs?: number;
  /** Minimum time between two state reports. */
  reportIntervalMs?: number;
}

export class Supervisor {
  private readonly shutdown = new AbortController();
  private readonly reconciler: Reconciler;
  private readonly store: TargetStore;
  private poller: Poller | undefined;
  private reporter: Reporter | undefined;
  private online: Promise<void> | undefined;
  /** Why the last target offered (from disk or the API) was refused; cleared by the next accepted one. */
  private targetError: string | null = null;

  private constructor(
    private readonly options: SupervisorOptions,
    private readonly config: IdentifiedConfig,
    private readonly engine: Engine,
    private readonly log: Logger,
  ) {
    this.store = new TargetStore(options.dataDir, config.uuid);
    this.reconciler = new Reconciler({ engine, log: log.child({ component: 'reconciler' }) });
  }

  static async create(options: SupervisorOptions): Promise<Supervisor> {
    const log = options.log ?? createLogger('supervisor');
    const config = await loadConfig(options.dataDir);
    const engine = dockerEngine(config.dockerHost ?? process.env.DOCKER_HOST, log.child({ component: 'engine' }));
    return new Supervisor(options, config, engine, log.child({ uuid: config.uuid }));
  }

  async start(): Promise<void> {
    try {
      const signed = await this.store.load(apiSigningKeyOf(this.config));
      if (signed !== null) {
        this.reconciler.setTarget(signed.target);
        this.log.info({ release: signed.target.release?.id ?? null }, 'persisted target loaded');
      } else {
        this.log.info('no persisted target: waiting for one from the API');
      }
    } catch (err) {
      // Nothing is planned without a valid target, so what runs keeps running.
      this.targetError = messageOf(err);
      this.log.error({ err: messageOf(err) }, 'persisted target refused; running containers are left alone');
    }
    this.reconciler.start();
    this.online = this.goOnline().catch((err: unknown) => {
      if (!this.shutdown.signal.aborted) this.log.error({ err: messageOf(err) }, 'online part stopped');
    });
  }

  /** Ends every loop; containers keep running. */
  async stop(): Promise<void> {
    this.shutdown.abort(new Error('supervisor stopping'));
    await Promise.all([this.poller?.stop(), this.reporter?.stop(), this.reconciler.stop()]);
    await this.online;
  }

  private async goOnline(): Promise<void> {
    const api = new ApiClient({ baseUrl: this.config.apiUrl });
    const provisioned = await ensureProvisioned(this.config, {
      api,
      log: this.log.child({ component: 'provision' }),
      save: (c) => saveConfig(this.options.dataDir, c),
      signal: this.shutdown.signal,
    });
    if (this.shutdown.signal.aborted) return;
    const targetKey = apiSigningKeyOf(provisioned);
    if (targetKey === null) {
      this.log.error('no apiSigningKey in the config (provisioned before target states were signed): every target will be refused');
    }
    const deviceApi = api.forDevice(provisioned.deviceKey, targetKey);
    const uuid = this.config.uuid;
    const reporter = new Reporter({
      observe: () => readCurrentState(this.engine, []),
      situation: () => ({
        target: this.reconciler.currentTarget(),
        status: this.reconciler.currentStatus(),
        targetError: this.targetError,
      }),
      send: (report) => deviceApi.reportState(uuid, report),
      log: this.log.child({ component: 'reporter' }),
      supervisorVersion: SUPERVISOR_VERSION,
      minIntervalMs: this.options.reportIntervalMs,
    });
    const poller = new Poller({
      api: deviceApi,
      uuid,
      log: this.log.child({ component: 'poller' }),
      onTarget: (signed) => this.accept(signed),
      onOutcome: (err) => {
        if (err === null) this.targetError = null;
        else if (err instanceof ValidationError || err instanceof SignatureError) this.targetError = messageOf(err);
        reporter.trigger();
      },
      intervalOverrideMs: this.options.pollIntervalMs,
      initialIntervalSeconds: this.reconciler.currentTarget()?.config.pollIntervalSeconds,
    });
    this.reconciler.onStatus(() => reporter.trigger());
    this.reporter = reporter;
    this.poller = poller;
    reporter.start();
    poller.start();
  }

  /** A verified, validated target from the API: persisted first, so a crash right after still converges to it. */
  private async accept(signed: SignedTarget): Promise<void> {
    const { target } = signed;
    if (canonicalJson(target) === canonicalJson(this.reconciler.currentTarget())) return;
    await this.store.save(signed);
    this.reconciler.setTarget(target);
    this.log.info({ release: target.release?.id ?? null }, 'new target accepted');
  }
}
