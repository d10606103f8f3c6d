// Fleet logs over HTTP (protocol/device-logs.ts): people ask for a device's last lines, or follow them as
// server-sent events; the device posts its batches. Asking is what makes the device send anything at all
// (device-logs.ts); a follower renews the device's want while it stays, so the link falls quiet soon after.
import { openEventStream } from '../event-stream.js';
import {
  DEFAULT_TAIL,
  DEFAULT_WAIT_SECONDS,
  GAP_EVENT,
  LINES_EVENT,
  type DeviceLogs as DeviceLogsAnswer,
  type DeviceLogsQuery,
  type GapEvent,
  type LinesEvent,
} from '../../../protocol/device-logs.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { authenticatedCaller, authenticatedDevice } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { DeviceNotConnected, DeviceSilent, type DeviceLogs, type Snapshot } from '../../logs/device-logs.js';
import { conflict, notFound, ProblemError } from '../problem.js';
import type { Register } from '../register.js';
import type { DeviceView } from '../../store/index.js';
import { deviceNamed } from '../device-lookup.js';

/** Comments that keep proxies from closing a quiet follow stream. */
const HEARTBEAT_MS = 15_000;

interface Asked {
  services: string[] | null;
  tail: number;
  waitMs: number;
}

function askedOf(query: DeviceLogsQuery): Asked {
  const services =
    query.service === undefined ? null : [...new Set(Array.isArray(query.service) ? query.service : [query.service])];
  const wait = query.wait === undefined ? DEFAULT_WAIT_SECONDS : Number(query.wait);
  return { services, tail: query.tail === undefined ? DEFAULT_TAIL : Number(query.tail), waitMs: wait * 1000 };
}

/** The snapshot, or the problem that says why there is none. */
async function snapshotOf(logs: DeviceLogs, device: DeviceView, asked: Asked, followMs: number): Promise<Snapshot> {
  const who = `device '${device.uuid}' (${device.shortId})`;
  let snapshot: Snapshot;
  try {
    snapshot = await logs.snapshot(device.uuid, { ...asked, followMs });
  } catch (err) {
    if (err instanceof DeviceNotConnected) {
      throw conflict(
        `${who} has no push channel open to the API: it is offline (last seen ${device.lastSeen ?? 'never'}), ` +
          'or its supervisor is too old for fleet logs',
      );
    }
    if (err instanceof DeviceSilent) {
      throw new ProblemError(
        504,
        'device-silent',
        `${who} did not send its logs within ${err.waitedMs / 1000} s ` +
          `(${err.linesSoFar} lines so far): its link may be slow (ask with a longer ?wait= or a smaller ?tail=), or its supervisor is too old for fleet logs`,
      );
    }
    throw err;
  }
  const missing = (asked.services ?? []).filter((s) => !snapshot.services.includes(s));
  if (missing.length > 0) {
    throw notFound(
      `${who} runs no service ${missing.map((s) => `'${s}'`).join(', ')} (it runs: ${snapshot.services.join(', ') || 'none'})`,
    );
  }
  return { ...snapshot, services: asked.services ?? snapshot.services };
}

export function deviceLogRoutes(on: Register, deps: RouteDeps, logs: DeviceLogs): void {
  const { store, logger } = deps;

  /** The device the path names (uuid or short id), admitted: others have no channel to ask through. */
  const deviceOf = async (given: string): Promise<DeviceView> => {
    const device = await deviceNamed(store, given);
    if (device.authStatus !== 'accepted')
      throw conflict(`device '${device.uuid}' is ${device.authStatus}: it sends no logs`);
    return device;
  };

  on(ROUTES.deviceLogs, async (ctx, request) => {
    const device = await deviceOf(request.params.uuid);
    const asked = askedOf(request.query());
    logger.info({ uuid: device.uuid, user: authenticatedCaller(ctx).user.name, ...asked }, 'device logs asked');
    const snapshot = await snapshotOf(logs, device, asked, 0);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { uuid: device.uuid, services: snapshot.services, lines: snapshot.lines } satisfies DeviceLogsAnswer;
  });

  on(ROUTES.followDeviceLogs, async (ctx, request) => {
    const device = await deviceOf(request.params.uuid);
    const asked = askedOf(request.query());
    const user = authenticatedCaller(ctx).user.name;
    // Kept from before the device hears of it: no followed line can slip between the snapshot and the stream.
    const handle = logs.follow(device.uuid);
    let snapshot: Snapshot;
    try {
      snapshot = await snapshotOf(logs, device, asked, logs.followMs);
    } catch (err) {
      handle.close();
      throw err;
    }
    logger.info({ uuid: device.uuid, user, ...asked }, 'device logs followed');

    const res = openEventStream(ctx);
    const send = (event: string, data: LinesEvent | GapEvent): void => {
      if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    send(LINES_EVENT, { lines: snapshot.lines, services: snapshot.services });

    const services = asked.services === null ? null : new Set(asked.services);
    let cursor = snapshot.cursor;
    const flush = (): void => {
      // A reader that does not keep up is left to the ring: what it pushes out meanwhile comes back as a gap.
      if (res.writableNeedDrain || res.writableEnded) return;
      const read = handle.ring.read(cursor, services);
      cursor = read.next;
      if (read.gaps.length > 0) send(GAP_EVENT, { services: read.gaps });
      if (read.lines.length > 0) send(LINES_EVENT, { lines: read.lines });
    };
    flush();
    const unlisten = handle.listen((signal) => {
      if (signal.kind === 'dropped') send(GAP_EVENT, { services: [], dropped: signal.count });
      else flush();
    });
    res.on('drain', flush);
    const heartbeat = setInterval(() => {
      if (!res.writableEnded) res.write(': heartbeat\n\n');
    }, HEARTBEAT_MS);
    const renewal = setInterval(() => {
      logs.renew(device.uuid, asked.services).then(
        (heard) => {
          if (!heard)
            logger.info({ uuid: device.uuid }, 'device logs: the followed device has no push channel open right now');
        },
        (err: unknown) => logger.warn({ err, uuid: device.uuid }, 'device logs: cannot renew a follow'),
      );
    }, logs.renewMs);

    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      clearInterval(renewal);
      unlisten();
      handle.close();
      res.end();
      logger.info({ uuid: device.uuid, user }, 'device logs follower left');
    };
    ctx.req.on('close', end);
    res.on('close', end);
    res.on('error', end);
  });

  on(ROUTES.postDeviceLogs, async (ctx, request) => {
    const me = authenticatedDevice(ctx);
    const batch = await request.body();
    await logs.receive(me.uuid, batch);
    store.devices.seen(me.uuid, deps.now().getTime());
    ctx.status = 204;
  });
}
