// Host OS releases: developers upload signed RAUC bundles per device type, operators pin a fleet or one device to
// one (the device's pin wins; no pin: the host OS is left alone), and devices download the bundle their target
// names, resuming with Range. The pin becomes the target's hostOs (target-state.ts), signed with the rest.
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Context } from 'koa';
import type { OsPin, OsRelease } from '../../../protocol/os-release.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { authenticatedDevice, stampOf } from '../auth.js';
import { answerContentAddressed } from '../content-answer.js';
import type { RouteDeps } from '../../deps.js';
import {
  BundleRefusedError,
  BundleTooLargeError,
  bundlePath,
  bundleSize,
  checkBundle,
  keepBundle,
  receiveBundle,
  type OsBundleSettings,
} from '../../os/bundles.js';
import { badRequest, notFound, ProblemError } from '../problem.js';
import type { Register } from '../register.js';
import type { OsPinOutcome, OsPinScope, OsReleaseRecord, Store } from '../../store/index.js';
import { fleetOr404 } from './fleets.js';
import { deviceNamed } from '../device-lookup.js';

export function osReleaseView(release: OsReleaseRecord): OsRelease {
  return {
    id: release.id,
    deviceType: release.deviceType,
    version: release.version,
    digest: release.digest,
    size: release.size,
    compatible: release.compatible,
    createdAt: release.createdAt,
    uploadedBy: release.uploadedBy,
  };
}

const pinView = (pinned: OsReleaseRecord | null, effective: OsReleaseRecord | null): OsPin => ({
  pinned: pinned === null ? null : osReleaseView(pinned),
  effective: effective === null ? null : osReleaseView(effective),
});

function bundlesOf(settings: OsBundleSettings | null, ctx: Context): OsBundleSettings {
  if (settings === null) {
    throw new ProblemError(
      501,
      'no-bundle-storage',
      `${ctx.method} ${ctx.path}: this API keeps no host OS bundles (started without a bundle directory)`,
    );
  }
  return settings;
}

async function osReleaseOr404(store: Store, id: string | undefined): Promise<OsReleaseRecord> {
  const release = id === undefined ? null : await store.osReleases.get(id);
  if (!release) throw notFound(`no host OS release has the id '${id ?? ''}'`);
  return release;
}

/** The pin outcome as an answer: the scope's pin, or the problem that stopped it. */
function pinnedOr4xx(outcome: OsPinOutcome, what: string): OsReleaseRecord | null {
  switch (outcome.kind) {
    case 'pinned':
      return outcome.release;
    case 'no-scope':
      throw notFound(`${what} is gone`);
    case 'no-release':
      throw notFound(`the host OS release to pin ${what} to is gone`);
    case 'wrong-type':
      throw new ProblemError(
        409,
        'conflict',
        `${what} is of device type '${outcome.expected}', the host OS release is for '${outcome.got}'`,
      );
  }
}

/** Removes a bundle file no release refers to any more (two releases may share the same bytes). */
async function dropUnusedFile(store: Store, settings: OsBundleSettings | null, file: string): Promise<void> {
  if (settings === null) return;
  const users = (await store.osReleases.list()).filter((r) => r.file === file);
  if (users.length === 0) await rm(bundlePath(settings, file), { force: true });
}

export function osReleaseRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  on(ROUTES.uploadOsRelease, async (ctx, request) => {
    const settings = bundlesOf(deps.osBundles, ctx);
    const query = request.query();
    const what = `host OS release ${query.version} of device type '${query.deviceType}'`;
    if (ctx.request.is('application/octet-stream') === false) {
      throw new ProblemError(
        415,
        'unsupported-media-type',
        `the body of ${ctx.method} ${ctx.path} must be the bundle as application/octet-stream, not ${ctx.request.type || 'untyped'}`,
      );
    }
    // Before the body is read: nobody streams a bundle only to hear it cannot be checked.
    if (settings.keyring === null) {
      throw new ProblemError(
        503,
        'no-keyring',
        `${what}: this API has no keyring to check host OS bundles against, so it refuses uploads; set SKIFF_OS_BUNDLE_KEYRING to the CA certificate (PEM) that signs your RAUC bundles and restart the API`,
      );
    }
    const keyring = settings.keyring;
    const declared = Number(ctx.get('Content-Length') || '0');
    if (declared > settings.maxBytes)
      throw new ProblemError(
        413,
        'too-large',
        `${what}: the bundle (${declared} bytes) is larger than ${settings.maxBytes} bytes`,
      );
    // Refused before the upload, so nobody streams gigabytes only to hear the version is taken.
    if (await store.osReleases.find(query.deviceType, query.version)) {
      throw new ProblemError(
        409,
        'conflict',
        `device type '${query.deviceType}' already has a host OS release with version '${query.version}'`,
      );
    }
    let received: Awaited<ReturnType<typeof receiveBundle>>;
    try {
      received = await receiveBundle(settings, ctx.req);
    } catch (err) {
      if (err instanceof BundleTooLargeError) throw new ProblemError(413, 'too-large', `${what}: ${err.message}`);
      throw err;
    }
    let compatible: string | null = null;
    try {
      if (received.size === 0) throw badRequest('empty-bundle', `${what}: the body is empty; send the .raucb file`);
      const manifest = await checkBundle(keyring, received.tempFile);
      const rauc = `rauc info: compatible '${manifest.compatible}', version '${manifest.version ?? '(none)'}'`;
      if (manifest.compatible !== query.deviceType) {
        throw badRequest(
          'compatible-mismatch',
          `${what}: the bundle is for another device type (${rauc}); devices of type '${query.deviceType}' would refuse it`,
        );
      }
      if (manifest.version !== null && manifest.version !== query.version) {
        throw badRequest('version-mismatch', `${what}: the bundle says another version (${rauc})`);
      }
      compatible = manifest.compatible;
    } catch (err) {
      await rm(received.tempFile, { force: true });
      if (err instanceof BundleRefusedError) throw badRequest('bundle-refused', `${what}: ${err.message}`);
      throw err;
    }
    const file = await keepBundle(settings, received);
    let release: OsReleaseRecord;
    try {
      release = await store.osReleases.create(
        {
          deviceType: query.deviceType,
          version: query.version,
          digest: received.digest,
          size: received.size,
          compatible,
          file,
          createdAt: deps.now().toISOString(),
        },
        stampOf(ctx, deps.now),
      );
    } catch (err) {
      await dropUnusedFile(store, settings, file);
      throw err;
    }
    logger.info(
      {
        osRelease: release.id,
        deviceType: release.deviceType,
        version: release.version,
        size: release.size,
      },
      'host OS release uploaded',
    );
    ctx.status = 201;
    ctx.body = osReleaseView(release);
  });

  on(ROUTES.listOsReleases, async (ctx, request) => {
    const query = request.query();
    ctx.body = (await store.osReleases.list(query.deviceType)).map(osReleaseView);
  });

  on(ROUTES.getOsRelease, async (ctx, request) => {
    ctx.body = osReleaseView(await osReleaseOr404(store, request.params.id));
  });

  on(ROUTES.deleteOsRelease, async (ctx, request) => {
    const release = await osReleaseOr404(store, request.params.id);
    const removed = await store.osReleases.remove(release.id, stampOf(ctx, deps.now));
    if (removed === null) throw notFound(`host OS release '${release.id}' is gone`);
    await dropUnusedFile(store, deps.osBundles, removed.file);
    logger.info(
      { osRelease: removed.id, deviceType: removed.deviceType, version: removed.version },
      'host OS release deleted',
    );
    ctx.body = osReleaseView(removed);
  });

  /** Pins `scope` (of `deviceType`) to the release the body names, by id or version. */
  const pinTo = async (ctx: Context, scope: OsPinScope, deviceType: string, wanted: string, what: string) => {
    const release = await store.osReleases.find(deviceType, wanted);
    if (!release)
      throw notFound(`device type '${deviceType}' of ${what} has no host OS release with id or version '${wanted}'`);
    const pinned = pinnedOr4xx(await store.osReleases.pin(scope, release.id, stampOf(ctx, deps.now)), what);
    logger.info({ ...scope, osRelease: release.id, version: release.version }, 'host OS pinned');
    return pinned;
  };

  on(ROUTES.fleetOs, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const pinned = await store.osReleases.pinOf({ fleet: fleet.name });
    ctx.body = pinView(pinned, pinned);
  });

  on(ROUTES.pinFleetOs, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const body = await request.body();
    const pinned = await pinTo(ctx, { fleet: fleet.name }, fleet.deviceType, body.release, `fleet '${fleet.name}'`);
    ctx.body = pinView(pinned, pinned);
  });

  on(ROUTES.unpinFleetOs, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    pinnedOr4xx(
      await store.osReleases.pin({ fleet: fleet.name }, null, stampOf(ctx, deps.now)),
      `fleet '${fleet.name}'`,
    );
    ctx.body = pinView(null, null);
  });

  on(ROUTES.deviceOs, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid ?? '');
    ctx.body = pinView(await store.osReleases.pinOf({ device: device.uuid }), await store.osReleases.targetFor(device));
  });

  on(ROUTES.pinDeviceOs, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid ?? '');
    const body = await request.body();
    const pinned = await pinTo(
      ctx,
      { device: device.uuid },
      device.deviceType,
      body.release,
      `device '${device.uuid}'`,
    );
    ctx.body = pinView(pinned, await store.osReleases.targetFor(device));
  });

  on(ROUTES.unpinDeviceOs, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid ?? '');
    pinnedOr4xx(
      await store.osReleases.pin({ device: device.uuid }, null, stampOf(ctx, deps.now)),
      `device '${device.uuid}'`,
    );
    ctx.body = pinView(null, await store.osReleases.targetFor(device));
  });

  on(ROUTES.osBundle, async (ctx, request) => {
    const me = authenticatedDevice(ctx);
    const release = await store.osReleases.get(request.params.id);
    // A bundle for another board is no business of this device: it does not exist for it.
    if (!release || release.deviceType !== me.deviceType) {
      throw notFound(`device type '${me.deviceType}' has no host OS release '${request.params.id}'`);
    }
    const settings = bundlesOf(deps.osBundles, ctx);
    const size = await bundleSize(settings, release.file);
    if (size === null) {
      logger.error({ osRelease: release.id, file: bundlePath(settings, release.file) }, 'host OS bundle file missing');
      throw notFound(`the bundle of host OS release ${release.version} (${release.id}) is missing on the server`);
    }
    const answer = answerContentAddressed(
      ctx,
      release.digest,
      size,
      `${ctx.get('Range')} lies outside the bundle of ${size} bytes`,
    );
    const file = bundlePath(settings, release.file);
    if (answer.kind === 'partial') {
      const { start, end } = answer.range;
      ctx.body = createReadStream(file, { start, end });
      ctx.length = end - start + 1;
    } else if (answer.kind === 'whole') {
      ctx.body = createReadStream(file);
      ctx.length = size;
    }
  });
}
