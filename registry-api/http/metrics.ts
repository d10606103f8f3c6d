// Prometheus metrics of the API (prom-client, its own registry per app): request counts and latencies by route
// template (never the raw path: one series per device uuid would swamp Prometheus), devices online, releases by
// status and jobs by state, read from the store and the queue when scraped, and the process's own metrics.
import type { Middleware } from 'koa';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isOnline } from '../devices/summary.js';
import type { Jobs } from '../jobs/index.js';
import type { Store } from '../store/index.js';

export interface MetricsSources {
  store: Store;
  jobs: Jobs;
  now: () => Date;
}

/** Device polls take milliseconds, a release push with a 1 MB compose file up to a second or so. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface RequestSeries {
  latency: { observe(seconds: number): void };
  count: { inc(): void };
}

export class ApiMetrics {
  readonly registry = new Registry();
  /** Request series by method, status and route template: a bounded set (the route table times a few statuses). */
  private readonly series = new Map<string, RequestSeries>();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly latency: Histogram<'method' | 'route' | 'status'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'skiff_api_' });
    this.requests = new Counter({
      name: 'skiff_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'skiff_http_request_duration_seconds',
      help: 'Time to answer HTTP requests, by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'skiff_devices',
      help: 'Registered devices by fleet and whether they are online (polled within three poll intervals)',
      labelNames: ['fleet', 'state'],
      registers,
      async collect() {
        this.reset();
        const now = sources.now();
        const fleets = await sources.store.fleets.list();
        const pollOf = new Map(fleets.map((f) => [f.name, f.pollIntervalSeconds]));
        for (const fleet of fleets) {
          this.set({ fleet: fleet.name, state: 'online' }, 0);
          this.set({ fleet: fleet.name, state: 'offline' }, 0);
        }
        for (const device of await sources.store.devices.list()) {
          const online = isOnline(device.lastSeen, pollOf.get(device.fleet) ?? 60, now);
          this.inc({ fleet: device.fleet, state: online ? 'online' : 'offline' });
        }
      },
    });
    new Gauge({
      name: 'skiff_releases',
      help: 'Releases by status (pending: images not verified yet)',
      labelNames: ['status'],
      registers,
      async collect() {
        for (const [status, count] of Object.entries(await sources.store.releases.countByStatus()))
          this.set({ status }, count);
      },
    });
    new Gauge({
      name: 'skiff_jobs',
      help: 'Background jobs by state (completed and failed: as far as the queue remembers them)',
      labelNames: ['backend', 'state'],
      registers,
      async collect() {
        for (const [state, count] of Object.entries(await sources.jobs.counts()))
          this.set({ backend: sources.jobs.backend, state }, count);
      },
    });
  }

  /** The series of one (method, route, status), found once: prom-client would hash the labels on every request. */
  seriesOf(method: string, route: string, status: number): RequestSeries {
    const key = `${method} ${status} ${route}`;
    let series = this.series.get(key);
    if (!series) {
      const labels = { method, route, status: String(status) };
      series = { latency: this.latency.labels(labels), count: this.requests.labels(labels) };
      this.series.set(key, series);
    }
    return series;
  }

  /** Counts and times every request; outermost but one, so it sees the final status of problem answers. */
  middleware(): Middleware {
    return async (ctx, next) => {
      const started = performance.now();
      try {
        await next();
      } finally {
        const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
        this.observe(ctx.method, typeof matched === 'string' ? matched : 'unmatched', ctx.status, started);
      }
    };
  }

  /** Counts one request answered outside the middleware (../fleet/poll-fast-path.ts); `started` is its performance.now(). */
  observe(method: string, route: string, status: number, started: number): void {
    const series = this.seriesOf(method, route, status);
    series.latency.observe((performance.now() - started) / 1000);
    series.count.inc();
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
