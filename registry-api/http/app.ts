// The registry-api HTTP application: middleware order is the contract here. Logging sees the final status,
// the problem boundary turns every failure below it into problem+json, the router answers 405 for wrong methods.
import { FleetEventBus } from '../events/bus.js';
import { DEFAULT_EVENT_STREAM_SETTINGS, FleetEventRing } from '../events/stream.js';
import Koa from 'koa';
import Router from '@koa/router';
import { accessControl, type ApiState } from './auth.js';
import type { AppDeps, RouteDeps } from '../deps.js';
import { DeviceLogs } from '../logs/device-logs.js';
import { DeviceActionNotifier } from '../remote-actions/notifier.js';
import { deviceActionRoutes } from '../remote-actions/routes.js';
import { DeviceSessions } from '../devices/sessions.js';
import { localInvalidation } from '../fleet/invalidation.js';
import { startInProcessQueue } from '../jobs/start.js';
import { ApiMetrics } from './metrics.js';
import { pollFastPath } from '../fleet/poll-fast-path.js';
import { problems } from './problem.js';
import { registrar } from './register.js';
import { requestLog } from './request-log.js';
import { auditRoutes } from './routes/audit.js';
import { configRoutes } from './routes/config.js';
import { deviceApiRoutes } from './routes/device-api.js';
import { deviceEventRoutes } from './routes/device-events.js';
import { DEFAULT_HEARTBEAT_SECONDS } from '../../protocol/device-events.js';
import { deviceGroupRoutes } from './routes/device-groups.js';
import { deviceRoutes } from './routes/devices.js';
import { eventRoutes } from './routes/events.js';
import { deviceLogRoutes } from './routes/logs.js';
import { fleetRoutes } from './routes/fleets.js';
import { infoRoutes } from './routes/info.js';
import { lifecycleRoutes } from './routes/lifecycle.js';
import { metricsRoutes } from './routes/metrics.js';
import { openApiRoutes } from './routes/openapi.js';
import { osReleaseRoutes } from './routes/os-releases.js';
import { registryTokenRoutes } from './routes/registry-token.js';
import { releaseKeyRoutes } from './routes/release-keys.js';
import { releaseFileRoutes } from './routes/release-files.js';
import { releaseRoutes } from './routes/releases.js';
import { releaseReviewRoutes } from './routes/release-review.js';
import { rolloutRoutes } from './routes/rollouts.js';
import { userRoutes } from './routes/users.js';
import { remoteAccessRoutes } from '../remote-access/routes.js';
import { authRoutes } from '../web/auth-routes.js';
import { dashboard } from '../web/static.js';
import { LoginLimits } from '../web/login-limits.js';
import { DEFAULT_TARGET_VALIDITY_MS, TargetCache } from '../fleet/target-cache.js';
import {
  DEFAULT_MAX_PUSH_CHANNELS,
  MAX_PUSH_CHANNELS_PER_DEVICE,
  PUSH_CHANNEL_MAX_AGE_MS,
  PushChannels,
} from './push-channels.js';

export type { AppDeps } from '../deps.js';

export function createApp(appDeps: AppDeps): Koa<ApiState> {
  const now = appDeps.now ?? (() => new Date());
  const jobs =
    appDeps.jobs ??
    startInProcessQueue({
      store: appDeps.store,
      logger: appDeps.logger,
      now,
      registryToken: appDeps.registryToken ?? null,
    });
  const metrics = appDeps.metrics ?? new ApiMetrics({ store: appDeps.store, jobs, now });
  const targetValidityMs = appDeps.targetValidityMs ?? DEFAULT_TARGET_VALIDITY_MS;
  const remoteAccess = appDeps.remoteAccess ?? null;
  const targetCache =
    appDeps.targetCache ??
    new TargetCache({
      store: appDeps.store,
      signingKey: appDeps.signingKey,
      validityMs: targetValidityMs,
      now,
      ...(remoteAccess === null ? {} : { tunnel: (device) => remoteAccess.targetOf(device) }),
    });
  const invalidation = appDeps.invalidation ?? localInvalidation(appDeps.store.changes);
  const deps: RouteDeps = {
    registryToken: null,
    metricsToken: null,
    osBundles: null,
    deviceLogs: {},
    remoteAccess: null,
    maxPushChannels: DEFAULT_MAX_PUSH_CHANNELS,
    pushHeartbeatSeconds: DEFAULT_HEARTBEAT_SECONDS,
    pushChannelMaxAgeMs: PUSH_CHANNEL_MAX_AGE_MS,
    dashboardDir: null,
    loginLimits: {},
    trustProxy: false,
    eventStream: {},
    ...appDeps,
    now,
    targetValidityMs,
    jobs,
    metrics,
    targetCache,
    invalidation,
    events: appDeps.events ?? new FleetEventBus(now),
  };
  const deviceLogs = new DeviceLogs(deps.deviceLogs, deps.logger);
  const sessions = new DeviceSessions({ store: deps.store, bus: invalidation, now });
  const router = new Router<ApiState>();
  // Every handler is registered against its route's declaration, which says who may call it (protocol/access-policy.ts says which
  // roles may do a people's route's action class).
  const on = registrar(router, deps, accessControl(deps));
  infoRoutes(on, deps);
  openApiRoutes(on, deps);
  registryTokenRoutes(on, deps);
  fleetRoutes(on, deps);
  releaseRoutes(on, deps);
  releaseFileRoutes(on, deps);
  releaseKeyRoutes(on, deps);
  releaseReviewRoutes(on, deps);
  rolloutRoutes(on, deps);
  configRoutes(on, deps);
  metricsRoutes(on, deps);
  deviceRoutes(on, deps);
  deviceGroupRoutes(on, deps);
  lifecycleRoutes(on, deps);
  userRoutes(on, deps);
  authRoutes(on, deps, new LoginLimits(deps.loginLimits));
  auditRoutes(on, deps);
  osReleaseRoutes(on, deps);
  deviceLogRoutes(on, deps, deviceLogs);
  deviceApiRoutes(on, deps);
  remoteAccessRoutes(on, deps, deps.remoteAccess);
  const actions = new DeviceActionNotifier();
  deviceActionRoutes(on, deps, actions);
  const eventStream = { ...DEFAULT_EVENT_STREAM_SETTINGS, ...deps.eventStream };
  eventRoutes(on, deps, { ring: new FleetEventRing(deps.events, eventStream.ringSize), settings: eventStream });
  deviceEventRoutes(on, deps, {
    logs: deviceLogs,
    actions,
    heartbeatSeconds: deps.pushHeartbeatSeconds,
    maxAgeMs: deps.pushChannelMaxAgeMs,
    channels: new PushChannels({ perDevice: MAX_PUSH_CHANNELS_PER_DEVICE, total: deps.maxPushChannels }),
  });

  const app = new Koa<ApiState>();
  // Only the hop the proxy itself appended is believed: earlier X-Forwarded-For entries are the client's to forge.
  app.proxy = deps.trustProxy;
  app.maxIpsCount = 1;
  // Koa's own error printer would bypass the structured log; the problem boundary handles request errors, this
  // sees what happens outside it (e.g. a client hanging up mid-answer).
  app.on('error', (err: unknown) => deps.logger.warn({ err }, 'http error outside a request handler'));
  // Plain target polls, most of the traffic, are answered before all of the below; everything else passes on.
  app.use(pollFastPath({ ...deps, sessions }));
  app.use(requestLog(deps.logger));
  app.use(metrics.middleware());
  app.use(problems(deps.logger));
  // The dashboard's page and files, on every GET outside the API's own paths (web/static.ts).
  app.use(dashboard({ dir: deps.dashboardDir ?? undefined, logger: deps.logger }));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
