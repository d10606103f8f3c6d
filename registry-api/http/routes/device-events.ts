// GET /v1/device/{uuid}/events: the push channel (protocol/device-events.ts). Authenticated like every device
// route; the stream stays open until the device hangs up, the API stops, the device may no longer listen, or a
// limit of push-channels.ts ends it (too many of the device's own, too old, or a peer that stopped reading).
import { openEventStream } from '../event-stream.js';
import {
  ACTION_EVENT,
  DEFAULT_HEARTBEAT_SECONDS,
  HEARTBEAT_HEADER,
  TARGET_EVENT,
  pushTimings,
  type ActionEvent,
  type TargetEvent,
} from '../../../protocol/device-events.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { authenticatedDevice, bearerOf, deviceFromToken } from '../auth.js';
import { announcePresence } from '../../events/publish.js';
import type { RouteDeps } from '../../deps.js';
import { LOGS_EVENT } from '../../../protocol/device-logs.js';
import type { DeviceLogs } from '../../logs/device-logs.js';
import type { DeviceActionNotifier } from '../../remote-actions/notifier.js';
import type { Register } from '../register.js';
import { TargetWatch } from '../../fleet/target-watch.js';
import { ProblemError } from '../problem.js';
import {
  PUSH_CHANNEL_MAX_AGE_MS,
  PUSH_CHANNEL_MAX_BUFFERED_BYTES,
  PUSH_CHANNEL_SEEN_INTERVAL_MS,
  PushChannels,
  DEFAULT_MAX_PUSH_CHANNELS,
  MAX_PUSH_CHANNELS_PER_DEVICE,
} from '../push-channels.js';

export interface DeviceEventOptions {
  /** The heartbeat period (SKIFF_PUSH_HEARTBEAT_SECONDS), announced to devices; every other timing derives from it. */
  heartbeatSeconds?: number;
  /** How often every connected device's target is checked besides the changes the bus announces (target-watch.ts). */
  checkIntervalMs?: number;
  /** Fleet logs: `logs` events reach the device through its channel (device-logs.ts). */
  logs?: DeviceLogs;
  /** Remote actions: `action` events reach the device through its channel (remote-actions/notifier.ts). */
  actions?: DeviceActionNotifier;
  /** The open channels and their limits; absent: the defaults of push-channels.ts. */
  channels?: PushChannels;
  /** How long a channel lives before the API ends it (the device reconnects). */
  maxAgeMs?: number;
}

export function deviceEventRoutes(on: Register, deps: RouteDeps, options: DeviceEventOptions = {}): TargetWatch {
  const { store, logger } = deps;
  const heartbeatSeconds = options.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS;
  const { heartbeatMs, tcpKeepAliveMs } = pushTimings(heartbeatSeconds);
  const watch = new TargetWatch({
    store,
    targets: deps.targetCache,
    logger,
    bus: deps.invalidation,
    intervalMs: options.checkIntervalMs,
  });
  const channels =
    options.channels ?? new PushChannels({ perDevice: MAX_PUSH_CHANNELS_PER_DEVICE, total: DEFAULT_MAX_PUSH_CHANNELS });
  const maxAgeMs = options.maxAgeMs ?? PUSH_CHANNEL_MAX_AGE_MS;
  // A change to a device (from any instance) may have retired the token its channels were opened with.
  deps.invalidation.subscribe((changes) => {
    const devices = changes.some((c) => c.kind === 'everything')
      ? 'all'
      : changes.flatMap((c) => (c.kind === 'device' ? [c.uuid] : []));
    if (devices !== 'all' && devices.length === 0) return;
    channels.recheck(devices).then(
      (ended) => {
        if (ended > 0) logger.info({ ended }, 'events: channels of retired device tokens closed');
      },
      (err: unknown) => logger.warn({ err }, 'events: cannot recheck the tokens of open channels'),
    );
  });
  // An open channel is a device that is there: it counts as seen without polling. One timer for all channels.
  let seenTimer: NodeJS.Timeout | undefined;
  const markSeen = (): void => {
    const at = deps.now().getTime();
    for (const uuid of channels.devices()) store.devices.seen(uuid, at);
    if (channels.size === 0) {
      clearInterval(seenTimer);
      seenTimer = undefined;
    }
  };

  on(ROUTES.deviceEvents, async (ctx) => {
    const me = authenticatedDevice(ctx);
    await store.devices.touch(me.uuid, deps.now().toISOString());
    // Admission may end this channel only once a later one of the device is admitted, which cannot happen before
    // `end` is set below: nothing between here and there awaits.
    let end = (): void => {};
    const token = bearerOf(ctx) ?? '';
    const place = channels.admit(
      me.uuid,
      () => end(),
      async () => (await deviceFromToken(store, token, deps.now())) !== null,
    );
    if (place === null) {
      logger.warn({ uuid: me.uuid, open: channels.size }, 'events: push channel refused, the limit is reached');
      throw new ProblemError(
        503,
        'too-many-push-channels',
        `this API instance holds its limit of ${channels.limits.total} push channels (SKIFF_MAX_PUSH_CHANNELS); poll meanwhile and retry later`,
        undefined,
        { 'Retry-After': '60' },
      );
    }
    if (seenTimer === undefined) {
      seenTimer = setInterval(markSeen, PUSH_CHANNEL_SEEN_INTERVAL_MS);
      seenTimer.unref();
    }
    // Heartbeats and their ACKs restart the keepalive timer: probes only go out to a peer that went quiet.
    ctx.req.socket.setKeepAlive(true, tcpKeepAliveMs);
    const res = openEventStream(ctx, { [HEARTBEAT_HEADER]: String(heartbeatSeconds) });
    const stream = {
      write: (text: string): void => void (res.writableEnded || res.write(text)),
      end: (): void => void res.end(),
    };

    let ended = false;
    end = (): void => {
      if (ended) return;
      ended = true;
      place.release();
      // Seen until the very end: the device polls at once after, so it stays online unless it is gone.
      store.devices.seen(me.uuid, deps.now().getTime());
      clearInterval(heartbeat);
      clearTimeout(expiry);
      unwatch();
      detachLogs?.();
      detachActions?.();
      stream.end();
    };
    const expiry = setTimeout(() => {
      logger.debug({ uuid: me.uuid, maxAgeMs }, 'events: channel at its age limit, the device reconnects');
      end();
    }, maxAgeMs);
    const heartbeat = setInterval(() => {
      if (res.writableLength > PUSH_CHANNEL_MAX_BUFFERED_BYTES) {
        logger.info(
          { uuid: me.uuid, unsentBytes: res.writableLength },
          'events: the device stopped reading its channel: closed',
        );
        res.destroy();
        end();
        return;
      }
      // The shortest comment there is: every byte of it is paid by every device, every heartbeat.
      stream.write(':\n\n');
    }, heartbeatMs);
    const unwatch = watch.watch(me, {
      onTarget: (etag) => {
        const event: TargetEvent = { etag };
        stream.write(`event: ${TARGET_EVENT}\ndata: ${JSON.stringify(event)}\n\n`);
        logger.debug({ uuid: me.uuid, etag }, 'events: target changed');
      },
      onGone: (reason) => {
        logger.info({ uuid: me.uuid, reason }, 'events: connection closed by the API');
        end();
      },
    });
    const detachLogs = options.logs?.attach(me.uuid, (event) =>
      stream.write(`event: ${LOGS_EVENT}\ndata: ${JSON.stringify(event)}\n\n`),
    );
    const writeAction = (event: ActionEvent): void =>
      stream.write(`event: ${ACTION_EVENT}\ndata: ${JSON.stringify(event)}\n\n`);
    const detachActions = options.actions?.attach(me.uuid, writeAction);
    // What waited while the device was away: each pending action once more, so it fetches them now.
    if (options.actions !== undefined) {
      store.deviceActions.pendingIds(me.uuid, deps.now().toISOString()).then(
        (ids) => {
          for (const id of ids) if (!ended) writeAction({ id });
        },
        (err: unknown) => logger.warn({ err, uuid: me.uuid }, 'events: cannot read the pending actions of the device'),
      );
    }
    ctx.req.on('close', end);
    res.on('close', end);
    res.on('error', end);
    logger.debug({ uuid: me.uuid, connections: watch.size, channels: channels.size }, 'events: device connected');
    // Offline is the last-seen sweep's to say (events/activity.ts): a channel's end is mostly a reconnect.
    const at = deps.now().toISOString();
    void announcePresence(deps.events, store, { ...me, lastSeen: at }, true, at, logger, 'push channel opened');
  });
  return watch;
}
