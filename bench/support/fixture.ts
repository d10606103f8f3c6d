// The release the supervisor bench converges, as a compose file a fleet would push: three small services the way a
// meter-reading device runs them (an API with a published port, a store with a named volume, a meter reader set
// up through its environment), each exiting at once on SIGTERM so no stop timeout hides in the figures. The next
// release changes only the meter, so "replace one service" is exactly one stop, remove, create and start.
// The same text feeds the API (memory soak), the in-process reconciler and the docker-compose baseline.
import { normalizeCompose } from '../../protocol/compose/normalize.js';
import type { TargetState } from '../../protocol/target-state.js';
import { DockerEngine } from '../../supervisor/engine/engine.js';
import type { Logger } from '../../lib/logger.js';
import type { BenchEnv } from './env.js';
import { buildTestImage } from '../../harness/images.js';
import { deviceDocker } from '../../harness/supervisor-device.js';
import { targetState } from '../../harness/supervisor-targets.js';

export interface FixtureImages {
  api: string;
  store: string;
  meter: string;
  /** A second meter image: what the one-service update moves to. */
  meterNext: string;
}

/** Builds the images, pushes them to the registry and pulls them into the device engine ("images present"). */
export async function prepareImages(env: BenchEnv, log: Logger): Promise<FixtureImages> {
  const [api, store, meter, meterNext] = await Promise.all([
    buildTestImage(env, { repo: 'bench-api' }),
    buildTestImage(env, { repo: 'bench-store' }),
    buildTestImage(env, { repo: 'bench-meter' }),
    buildTestImage(env, { repo: 'bench-meter' }),
  ]);
  const images = { api, store, meter, meterNext };
  const engine = new DockerEngine(deviceDocker(env), log);
  await Promise.all(Object.values(images).map((ref) => engine.pullImage(ref)));
  return images;
}

export interface Release {
  compose: string;
  /** Service name to digest reference, as the CLI pushes it with the compose file. */
  images: Record<string, string>;
}

/**
 * The fixture release running `meterImage`; `cycle` goes into the meter's environment, so each value gives the
 * meter a new container even on the same image.
 */
export function fixtureRelease(images: FixtureImages, meterImage: string, cycle?: number): Release {
  const compose = [
    'services:',
    '  api:',
    '    build: ./api',
    '    restart: always',
    '    ports:',
    '      - "127.0.0.1::8080"',
    '  store:',
    '    build: ./store',
    '    restart: always',
    '    volumes:',
    '      - readings:/data',
    '  meter:',
    '    build: ./meter',
    '    restart: always',
    '    environment:',
    '      METER_PORT: /dev/ttyUSB0',
    ...(cycle === undefined ? [] : [`      BENCH_CYCLE: "${cycle}"`]),
    'volumes:',
    '  readings: {}',
    '',
  ].join('\n');
  return { compose, images: { api: images.api, store: images.store, meter: meterImage } };
}

/** The target the API would serve for `release`, for driving the reconciler in-process. */
export function targetOf(release: Release, releaseId: string): TargetState {
  const normalized = normalizeCompose(release.compose, release.images);
  return targetState(normalized.services, { releaseId, volumes: normalized.volumes, networks: normalized.networks });
}

/** The first release, and the one that replaces only the meter. */
export function targetPair(images: FixtureImages): { first: TargetState; next: TargetState } {
  return {
    first: targetOf(fixtureRelease(images, images.meter), 'bench-1'),
    next: targetOf(fixtureRelease(images, images.meterNext), 'bench-2'),
  };
}
