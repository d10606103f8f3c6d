// Building and pushing images in a test engine with the supervisor's own engine client: the build context is
// packed by the system's tar (GNU tar is on every Debian machine) and streamed to POST /build.
import { spawn } from 'node:child_process';
import type { EngineClient } from '../supervisor/engine/client.js';
import { readJsonLines } from '../supervisor/engine/json-lines.js';

export interface BuildOptions {
  tag: string;
  buildArgs?: Record<string, string>;
}

/** Builds `files` (relative to `dir`, the Dockerfile among them) into an image tagged `tag`. */
export async function buildImage(
  client: EngineClient,
  dir: string,
  files: string[],
  options: BuildOptions,
): Promise<void> {
  const tar = spawn('tar', ['-c', '-C', dir, '--', ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tarErrors = '';
  tar.stderr.on('data', (chunk: Buffer) => {
    tarErrors += chunk.toString('utf8');
  });
  const tarDone = new Promise<void>((resolve, reject) => {
    tar.on('error', (err) => reject(new Error(`tar of build context ${dir} failed to start: ${err.message}`)));
    tar.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`tar of build context ${dir} exited ${code}: ${tarErrors.trim()}`)),
    );
  });
  const stream = await client.stream('POST', '/build', {
    query: { t: options.tag, forcerm: '1', buildargs: JSON.stringify(options.buildArgs ?? {}) },
    body: tar.stdout,
    contentType: 'application/x-tar',
  });
  try {
    await readJsonLines(stream, () => undefined);
  } catch (err) {
    throw new Error(`build of ${options.tag} from ${dir} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  await tarDone;
}

/** Pushes `tag` to the registry `registry` (host:port, anonymous) and returns the manifest digest. */
export async function pushImage(client: EngineClient, tag: string, registry: string): Promise<string> {
  const colon = tag.lastIndexOf(':');
  const [repo, version] = colon > tag.lastIndexOf('/') ? [tag.slice(0, colon), tag.slice(colon + 1)] : [tag, 'latest'];
  // The engine insists on an X-Registry-Auth header even for an anonymous registry.
  const auth = Buffer.from(JSON.stringify({ serveraddress: registry })).toString('base64url');
  const stream = await client.stream('POST', `/images/${repo}/push`, {
    query: { tag: version },
    headers: { 'X-Registry-Auth': auth },
  });
  let digest: string | undefined;
  try {
    await readJsonLines(stream, (event) => {
      if (typeof event.aux?.Digest === 'string') digest = event.aux.Digest;
    });
  } catch (err) {
    throw new Error(`push of ${tag} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (digest === undefined) throw new Error(`push of ${tag} reported no digest`);
  return digest;
}
