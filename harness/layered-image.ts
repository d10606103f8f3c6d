// Test images with several layers of random (incompressible) bytes, so that a download's byte count means
// something: built in the dev engine FROM skiff/busybox:base, pushed to the environment's registry, returned as a
// digest reference with the manifest's blob sizes.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MANIFEST_ACCEPT } from '../protocol/oci-image.js';
import { connectEngine } from '../supervisor/engine/engine.js';
import { buildImage, pushImage } from './engine-build.js';
import type { TestEnv } from './env.js';
import { BASE_IMAGE, PROMPT_STOP_COMMAND } from './images.js';

export interface LayeredImage {
  /** REGISTRY/REPO@sha256:... */
  ref: string;
  repository: string;
  digest: string;
  config: { digest: string; size: number };
  layers: { digest: string; size: number }[];
}

export interface LayeredImageOptions {
  /** An image of the build engine to build on (another layered image's tag); skiff/busybox:base if absent. */
  base?: string;
  /** Keep the tag in the build engine, to build on it; the caller removes it. */
  keep?: boolean;
}

export async function buildLayeredImage(
  env: TestEnv,
  layerSizes: number[],
  repo = 'layered',
  options: LayeredImageOptions = {},
): Promise<LayeredImage & { tag: string }> {
  const base = options.base ?? BASE_IMAGE;
  const docker = connectEngine(env.devDockerHost);
  const repository = `skiff-test/${repo}`;
  const tag = `${env.registry}/${repository}:${randomBytes(6).toString('hex')}`;
  const dir = await mkdtemp(path.join(tmpdir(), 'skiff-layered-'));
  try {
    const names = layerSizes.map((_, i) => `blob${i}`);
    await Promise.all(layerSizes.map((size, i) => writeFile(path.join(dir, `blob${i}`), randomBytes(size))));
    await writeFile(
      path.join(dir, 'Dockerfile'),
      [`FROM ${base}`, ...names.map((n) => `COPY ${n} /${n}`), `CMD ${JSON.stringify(PROMPT_STOP_COMMAND)}`, ''].join(
        '\n',
      ),
    );
    await buildImage(docker, dir, ['Dockerfile', ...names], { tag });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const digest = await pushImage(docker, tag, env.registry);
  if (options.keep !== true) await docker.json('DELETE', `/images/${tag}`);
  const response = await fetch(`http://${env.registry}/v2/${repository}/manifests/${digest}`, {
    headers: { accept: MANIFEST_ACCEPT },
  });
  const manifest = (await response.json()) as {
    config: { digest: string; size: number };
    layers: { digest: string; size: number }[];
  };
  return {
    tag,
    ref: `${env.registry}/${repository}@${digest}`,
    repository,
    digest,
    config: { digest: manifest.config.digest, size: manifest.config.size },
    layers: manifest.layers.map((l) => ({ digest: l.digest, size: l.size })),
  };
}
