// A two-release image pair shaped like a real Node service update (notes/image-delivery.md): base image, a
// package.json layer, a node_modules layer and an app layer. Release 2 changes the app code and "bumps" one
// package: its files are edited the way a patch release edits them (version string, a few changed lines per file),
// everything else in node_modules is byte for byte the same (copied with timestamps kept). The packages come from
// this repository's node_modules, so the layer holds real JavaScript, not random bytes.
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MANIFEST_ACCEPT, type Descriptor } from '../../protocol/oci-image.js';
import { connectEngine } from '../../supervisor/engine/engine.js';
import { buildImage, pushImage } from '../../harness/engine-build.js';
import { repoRoot, type BenchEnv } from './env.js';

export interface PushedImage {
  /** REGISTRY/REPO@sha256:... */
  ref: string;
  repository: string;
  digest: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ReleasePairOptions {
  /** Base image in the dev engine (skiff/node:base in the bench, skiff/busybox:base in tests). */
  base: string;
  /** Packages of this repository's node_modules that make up the node_modules layer. */
  packages: string[];
  /** The one package release 2 bumps (one of `packages`). */
  bumped: string;
  repository: string;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out.sort();
}

/** A patch release's edit: the version string, and every 40th line of each text file changed. */
async function bumpPackage(dir: string): Promise<void> {
  for (const file of await filesUnder(dir)) {
    if (!/\.(js|cjs|mjs|ts|json|md)$/.test(file)) continue;
    const text = await readFile(file, 'utf8');
    const lines = text.split('\n').map((line, i) => (i % 40 === 7 ? `${line} // patched` : line));
    const bumped = lines
      .join('\n')
      .replace(
        /"version":\s*"(\d+)\.(\d+)\.(\d+)"/,
        (_m, a: string, b: string, c: string) => `"version": "${a}.${b}.${Number(c) + 1}"`,
      );
    await writeFile(file, bumped);
  }
}

async function appSource(version: number): Promise<string> {
  const lines = [`// service release ${version}`, "import http from 'node:http';"];
  for (let i = 0; i < 3000; i++)
    lines.push(`export function handler${i}(req) { return { route: '/r${i}', version: ${version}, at: ${i * 7} }; }`);
  lines.push(`http.createServer((q, s) => s.end('release ${version}')).listen(8080);`);
  return `${lines.join('\n')}\n`;
}

async function manifestOf(env: BenchEnv, repository: string, digest: string): Promise<PushedImage> {
  const response = await fetch(`http://${env.registry}/v2/${repository}/manifests/${digest}`, {
    headers: { accept: MANIFEST_ACCEPT },
  });
  if (!response.ok) throw new Error(`manifest ${repository}@${digest}: ${response.status}`);
  const manifest = (await response.json()) as { config: Descriptor; layers: Descriptor[] };
  return {
    ref: `${env.registry}/${repository}@${digest}`,
    repository,
    digest,
    config: manifest.config,
    layers: manifest.layers,
  };
}

export async function buildReleasePair(
  env: BenchEnv,
  options: ReleasePairOptions,
): Promise<{ first: PushedImage; second: PushedImage }> {
  const [first, second] = await buildReleases(env, options, [false, true]);
  return { first: first!, second: second! };
}

/**
 * `count` releases of the service where each changes only the app code (node_modules stays byte for byte the same):
 * what a run of code-only updates pushes, each with a patch of one layer to the one before.
 */
export async function buildReleaseChain(
  env: BenchEnv,
  options: ReleasePairOptions,
  count: number,
): Promise<PushedImage[]> {
  return buildReleases(
    env,
    options,
    Array.from({ length: count }, () => false),
  );
}

/** One image per entry of `bumps`, version 1 first; an entry says whether that version bumps the package. */
async function buildReleases(env: BenchEnv, options: ReleasePairOptions, bumps: boolean[]): Promise<PushedImage[]> {
  const docker = connectEngine(env.devDockerHost);
  const work = await mkdtemp(path.join(tmpdir(), 'skiff-delta-pair-'));
  const nonce = randomBytes(4).toString('hex');
  try {
    const pushed: PushedImage[] = [];
    for (const [index, bump] of bumps.entries()) {
      const version = index + 1;
      const dir = path.join(work, `v${version}`);
      await mkdir(path.join(dir, 'node_modules'), { recursive: true });
      await mkdir(path.join(dir, 'app'), { recursive: true });
      for (const name of options.packages) {
        await cp(path.join(repoRoot, 'node_modules', name), path.join(dir, 'node_modules', name), {
          recursive: true,
          preserveTimestamps: true,
          dereference: true,
        });
      }
      if (bump) await bumpPackage(path.join(dir, 'node_modules', options.bumped));
      // Unchanged files keep the first build's timestamps; edited ones get a new one, as after an npm install.
      await writeFile(
        path.join(dir, 'package.json'),
        JSON.stringify(
          { name: 'svc', version: '1.0.0', dependencies: Object.fromEntries(options.packages.map((p) => [p, '*'])) },
          null,
          2,
        ),
      );
      await writeFile(path.join(dir, 'app', 'main.js'), await appSource(version + Number.parseInt(nonce, 16)));
      await writeFile(
        path.join(dir, 'Dockerfile'),
        [
          `FROM ${options.base}`,
          'COPY package.json /app/package.json',
          'COPY node_modules /app/node_modules',
          'COPY app /app/src',
          'CMD ["sh", "-c", "trap \\"exit 0\\" TERM; while :; do sleep 1 & wait $!; done"]',
          '',
        ].join('\n'),
      );
      const tag = `${env.registry}/${options.repository}:${nonce}-v${version}`;
      await buildImage(docker, dir, ['Dockerfile', 'package.json', 'node_modules', 'app'], { tag });
      const digest = await pushImage(docker, tag, env.registry);
      await docker.json('DELETE', `/images/${tag}`);
      pushed.push(await manifestOf(env, options.repository, digest));
    }
    return pushed;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Bytes of a directory tree (to report what the node_modules layer holds). */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const file of await filesUnder(dir)) total += (await stat(file)).size;
  return total;
}
