// Tiny test images: built in the dev engine from skiff/busybox:base with a random nonce file (so every call gets
// its own digest), pushed to the environment's registry, and returned as REGISTRY/REPO@sha256:... references.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectEngine } from '../supervisor/engine/engine.js';
import { buildImage, pushImage } from './engine-build.js';
import type { TestEnv } from './env.js';

export const BASE_IMAGE = 'skiff/busybox:base';

/** Runs until SIGTERM, then exits at once, so stopping it never waits for the engine's kill timeout. */
export const PROMPT_STOP_COMMAND = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'];

/** Ignores SIGTERM: stopping it takes the whole stop timeout (to hold an update in its stop phase). */
export const SLOW_STOP_COMMAND = ['sh', '-c', 'trap "" TERM; while :; do sleep 1; done'];

export interface TestImageOptions {
  /** Repository under skiff-test/ in the registry. */
  repo?: string;
  cmd?: string[];
}

export async function buildTestImage(
  env: Pick<TestEnv, 'devDockerHost' | 'registry'>,
  options: TestImageOptions = {},
): Promise<string> {
  const docker = connectEngine(env.devDockerHost);
  const repo = `${env.registry}/skiff-test/${options.repo ?? 'app'}`;
  const nonce = randomBytes(8).toString('hex');
  const tag = `${repo}:${nonce}`;
  const dir = await mkdtemp(path.join(tmpdir(), 'skiff-image-'));
  try {
    await writeFile(path.join(dir, 'nonce'), `${nonce}\n`);
    await writeFile(
      path.join(dir, 'Dockerfile'),
      [`FROM ${BASE_IMAGE}`, 'COPY nonce /nonce', `CMD ${JSON.stringify(options.cmd ?? PROMPT_STOP_COMMAND)}`, ''].join(
        '\n',
      ),
    );
    await buildImage(docker, dir, ['Dockerfile', 'nonce'], { tag });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const digest = await pushImage(docker, tag, env.registry);
  // The registry holds it now; the dev engine needs no copy of every test image.
  await docker.json('DELETE', `/images/${tag}`);
  return `${repo}@${digest}`;
}
