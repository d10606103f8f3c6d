// The remote-access routes (protocol/http/remote-access.ts): a device registers its tunnel key, an operator gets a
// certificate for one device and reports the session's end, the jump host asks which key may do what.
import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import { ROUTES } from '../../protocol/http/routes.js';
import type { SshCertificateAnswer, SshSessionEnded, TunnelKeyAnswer } from '../../protocol/http/remote-access.js';
import type { RouteDeps } from '../deps.js';
import { authenticatedCaller, authenticatedDevice, stampOf } from '../http/auth.js';
import { deviceNamed } from '../http/device-lookup.js';
import { conflict, forbidden, notFound, ProblemError } from '../http/problem.js';
import type { Register } from '../http/register.js';
import { sameSecret } from '../keys/secrets.js';
import { principalOf, type RemoteAccess } from './remote-access.js';

/** Certificates start a minute back: an operator's clock a little behind the API's still takes them. */
const CLOCK_SKEW_MS = 60_000;

function notConfigured(): ProblemError {
  return new ProblemError(
    501,
    'not-configured',
    'this API has no jump host configured (SKIFF_JUMP_HOST, SKIFF_JUMP_HOST_KEY, SKIFF_JUMP_HOST_TOKEN): no tunnels, no SSH certificates',
  );
}

export function remoteAccessRoutes(on: Register, deps: RouteDeps, remote: RemoteAccess | null): void {
  const { store, logger } = deps;
  const configured = (): RemoteAccess => {
    if (remote === null) throw notConfigured();
    return remote;
  };
  const jumpHost = (ctx: Context): boolean => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('Authorization'))?.[1];
    return remote !== null && bearer !== undefined && sameSecret(bearer, remote.settings.jumpHostToken);
  };

  // Each handler finds what the path names and reads the body before it says 501: a bad request is the caller's
  // to fix (4xx) whatever this API's configuration.
  on(ROUTES.registerTunnelKey, async (ctx, request) => {
    const me = authenticatedDevice(ctx);
    const body = await request.body();
    ctx.set('Cache-Control', 'no-store');
    if (remote === null) {
      ctx.body = { remotePort: null } satisfies TunnelKeyAnswer;
      return;
    }
    const access = remote;
    const tunnel = await store.tunnels.register(me.uuid, me.fleet, body.publicKey, access.settings.ports, {
      actor: `device:${me.uuid}`,
      at: deps.now().toISOString(),
    });
    logger.info({ uuid: me.uuid, port: tunnel.port }, 'tunnel key registered');
    ctx.body = { remotePort: tunnel.port } satisfies TunnelKeyAnswer;
  });

  on(ROUTES.issueSshCertificate, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid);
    const body = await request.body();
    const access = configured();
    if (device.authStatus !== 'accepted')
      throw conflict(
        `device '${device.uuid}' is ${device.revokedAt === null ? device.authStatus : `revoked (at ${device.revokedAt})`}: no SSH certificate for it`,
      );
    const tunnel = await store.tunnels.of(device.uuid);
    if (tunnel === null)
      throw conflict(
        `device '${device.uuid}' (${device.shortId}) has no tunnel yet: its supervisor registers a tunnel key once it is online with this API`,
      );
    const now = deps.now();
    const session = randomUUID();
    const principal = principalOf(device.uuid);
    const validBefore = new Date(now.getTime() + access.settings.certificateMinutes * 60_000);
    const certificate = await access.ca.sign({
      publicKey: body.publicKey,
      keyId: session,
      principal,
      validAfter: new Date(now.getTime() - CLOCK_SKEW_MS),
      validBefore,
      pty: body.purpose === 'ssh',
    });
    await store.tunnels.openSession(
      {
        id: session,
        uuid: device.uuid,
        purpose: body.purpose,
        principal,
        validBefore: validBefore.toISOString(),
        detail: body.forward === undefined ? {} : { forward: body.forward },
      },
      stampOf(ctx, deps.now),
      device.fleet,
    );
    logger.info(
      { uuid: device.uuid, session, actor: authenticatedCaller(ctx).user.name, purpose: body.purpose },
      'ssh certificate issued',
    );
    const { jumpHost } = access.settings;
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      session,
      certificate,
      principal,
      validAfter: new Date(now.getTime() - CLOCK_SKEW_MS).toISOString(),
      validBefore: validBefore.toISOString(),
      jumpHost: { host: jumpHost.host, port: jumpHost.port, user: jumpHost.user, hostKey: jumpHost.hostKey },
      remotePort: tunnel.port,
    } satisfies SshCertificateAnswer;
  });

  on(ROUTES.endSshSession, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid);
    const body = await request.body();
    configured();
    const id = request.params.session;
    const session = await store.tunnels.session(id);
    if (session === null || session.uuid !== device.uuid)
      throw notFound(`device '${device.uuid}' has no SSH session '${id.slice(0, 64)}'`);
    const caller = authenticatedCaller(ctx).user.name;
    if (session.actor !== caller)
      throw forbidden(`SSH session '${id}' was opened by '${session.actor}'; only they report its end`);
    const seconds = await store.tunnels.endSession(
      id,
      device.uuid,
      body.exitCode,
      stampOf(ctx, deps.now),
      device.fleet,
    );
    if (seconds === null) throw conflict(`SSH session '${id}' of device '${device.uuid}' has ended already`);
    ctx.body = { session: id, durationSeconds: seconds } satisfies SshSessionEnded;
  });

  on(
    ROUTES.jumpHostAuthorizedKeys,
    async (ctx, request) => {
      const query = request.query();
      const access = configured();
      ctx.set('Cache-Control', 'no-store');
      ctx.type = 'text/plain';
      ctx.body = await access.authorizedKeys(query.user, query.type, query.key);
    },
    { alsoAllow: jumpHost },
  );

  on(
    ROUTES.jumpHostPrincipals,
    async (ctx, request) => {
      const query = request.query();
      const access = configured();
      ctx.set('Cache-Control', 'no-store');
      ctx.type = 'text/plain';
      ctx.body = await access.authorizedPrincipals(query.user, query.keyId);
    },
    { alsoAllow: jumpHost },
  );
}
