// bench/bandwidth: does the downloader hold a bandwidth cap from the first second, not just on average? One real
// registry blob (random bytes, pushed to the environment's registry) is downloaded through downloadToFile with a cap
// (SKIFF_BENCH_CAP bytes/s, 500000 by default) for SKIFF_BENCH_SECONDS (30); the bytes that arrived are sampled as
// they are written. Goals: the rate over the run within 5% of the cap, and at most 1.5x the cap in the first second
// (a throttled receiving stream lets the sender run ahead by megabytes there). Readable lines on stdout, then
// exactly one JSON line. Needs a test environment (SKIFF_ENV_FILE or .skiff/test).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';
import { downloadToFile } from '../supervisor/images/download/downloader.js';
import { TokenBucket } from '../supervisor/images/bandwidth/token-bucket.js';
import { RegistryClient } from '../lib/registry/client.js';
import { loadBenchEnv } from './support/env.js';
import { positiveNumber } from './support/settings.js';
import { say } from './support/say.js';

const GOALS = { error_percent: 5, first_second_ratio: 1.5 } as const;

/** Pushes `bytes` as a blob of `repository` (monolithic upload) and returns its digest. */
async function pushBlob(registry: string, repository: string, bytes: Buffer): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const start = await fetch(`http://${registry}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  const location = start.headers.get('location');
  if (start.status !== 202 || location === null)
    throw new Error(`blob upload to ${registry}/${repository} refused: ${start.status}`);
  const url = new URL(location, `http://${registry}`);
  url.searchParams.set('digest', digest);
  const put = await fetch(url, {
    method: 'PUT',
    body: new Uint8Array(bytes),
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (put.status !== 201)
    throw new Error(`blob upload to ${registry}/${repository} failed: ${put.status} ${await put.text()}`);
  return digest;
}

async function main(): Promise<void> {
  const cap = Math.round(positiveNumber('SKIFF_BENCH_CAP', 500_000));
  const seconds = positiveNumber('SKIFF_BENCH_SECONDS', 30);
  const env = loadBenchEnv();
  const log = createLogger('bench-bandwidth');
  log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
  const repository = 'skiff-bench/bandwidth';
  // 20% more than the run can take, so the cap, not the blob's end, decides the figures.
  const size = Math.ceil(cap * seconds * 1.2);
  say(
    `bench bandwidth: node ${process.version}, cap ${cap} B/s for ${seconds} s, blob of ${size} bytes in ${env.registry}/${repository}`,
  );
  const digest = await pushBlob(env.registry, repository, randomBytes(size));
  const registry = new RegistryClient({ log });
  const dir = await mkdtemp(path.join(tmpdir(), 'skiff-bench-bandwidth-'));
  const samples: { ms: number; bytes: number }[] = [];
  const stop = new AbortController();
  const started = performance.now();
  const timer = setTimeout(() => stop.abort(new Error('bench time is up')), seconds * 1000);
  try {
    await downloadToFile(registry.blobUrl({ registry: env.registry, repository }, digest), path.join(dir, 'blob'), {
      digest,
      size,
      partialDir: path.join(dir, 'partial'),
      bucket: new TokenBucket(cap),
      get: registry.getter({ registry: env.registry, repository }),
      signal: stop.signal,
      log,
      onProgress: (p) => samples.push({ ms: performance.now() - started, bytes: p.done }),
    }).catch((err: unknown) => {
      if (!stop.signal.aborted) throw err;
    });
  } finally {
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  }
  const bytesBy = (ms: number): number =>
    samples.filter((s) => s.ms <= ms).reduce((max, s) => Math.max(max, s.bytes), 0);
  const total = bytesBy(seconds * 1000);
  const rate = total / seconds;
  const firstSecond = bytesBy(1000);
  for (let s = 1; s <= Math.min(5, seconds); s++)
    say(`  second ${s}: ${bytesBy(s * 1000) - bytesBy((s - 1) * 1000)} bytes`);
  const errorPercent = ((rate - cap) / cap) * 100;
  const firstRatio = firstSecond / cap;
  say(`  ${total} bytes in ${seconds} s: ${rate.toFixed(0)} B/s, ${errorPercent.toFixed(2)}% against the cap`);
  say(`  first second: ${firstSecond} bytes, ${firstRatio.toFixed(2)}x the cap`);
  const met = Math.abs(errorPercent) <= GOALS.error_percent && firstRatio <= GOALS.first_second_ratio;
  say(
    JSON.stringify({
      bench: 'bandwidth',
      figures: {
        cap_bytes_per_second: cap,
        seconds,
        bytes: total,
        measured_bytes_per_second: Math.round(rate),
        error_percent: Math.round(errorPercent * 100) / 100,
        first_second_bytes: firstSecond,
        first_second_ratio: Math.round(firstRatio * 1000) / 1000,
      },
      goals: GOALS,
      met,
    }),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench bandwidth failed: ${messageOf(err)}\n`);
  process.exit(1);
});
