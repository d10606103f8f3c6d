// A second distribution registry standing in for a public one (Docker Hub, ghcr.io): where a compose file's tagged
// images come from. Started by a test on a free loopback port with its own storage, and its access log kept, so a
// test can tell who fetched from it (each line ends with the client's User-Agent).
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RegistryClient } from '../lib/registry/client.js';
import { parseDigestReference } from '../protocol/image-reference.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface AccessLine {
  method: string;
  path: string;
  status: number;
  userAgent: string;
}

// Gorilla's combined log format, as distribution writes its access log.
const ACCESS = /"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3}) \S+ "[^"]*" "([^"]*)"/;

export class SourceRegistry {
  private constructor(
    /** host:port on 127.0.0.1. */
    readonly address: string,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(): Promise<SourceRegistry> {
    const dir = await mkdtemp(path.join(tmpdir(), 'skiff-source-registry-'));
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const config = [
      'version: 0.1',
      'log:',
      '  level: info',
      '  accesslog:',
      '    disabled: false',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${address}`,
      '',
    ].join('\n');
    await writeFile(path.join(dir, 'config.yml'), config);
    const log = createWriteStream(path.join(dir, 'registry.log'));
    const child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const registry = new SourceRegistry(address, dir, child);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const res = await fetch(`http://${address}/v2/`);
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null || Date.now() > deadline) {
        await registry.stop();
        throw new Error(`the source registry did not start on ${address}: ${await registry.logText()}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return registry;
  }

  async logText(): Promise<string> {
    return readFile(path.join(this.dir, 'registry.log'), 'utf8').catch(() => '');
  }

  /** Every request the registry logged so far. */
  async accessLog(): Promise<AccessLine[]> {
    return (await this.logText()).split('\n').flatMap((line) => {
      const m = ACCESS.exec(line);
      return m === null ? [] : [{ method: m[1]!, path: m[2]!, status: Number(m[3]), userAgent: m[4]! }];
    });
  }

  /** Tags the image `digestRef` (in this registry) as REPOSITORY:TAG too, as a publisher's tag would. */
  async tag(digestRef: string, tag: string): Promise<string> {
    const ref = parseDigestReference(digestRef);
    const client = new RegistryClient();
    const repo = { registry: ref.registry, repository: ref.repository };
    const manifest = await client.getManifest(repo, ref.digest);
    await client.putManifest(repo, tag, manifest.mediaType, manifest.body);
    return `${ref.name}:${tag}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('close', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
