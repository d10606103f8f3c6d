// A fetcher process, as the supervisor runs it, for tests that kill it mid-download and start it again:
//   node image-fetch-process.js '{"image":..., "dataDir":..., "dockerHost":..., "capBytesPerSecond":...}'
// Prints the FetchResult as one JSON line on stdout when the image is in the engine.
import path from 'node:path';
import { createLogger } from '../lib/logger.js';
import { BlobStore } from '../supervisor/images/download/blob-store.js';
import { TokenBucket } from '../supervisor/images/bandwidth/token-bucket.js';
import { dockerEngine } from '../supervisor/engine/engine.js';
import { ImageFetcher } from '../supervisor/images/fetcher.js';
import { RegistryClient } from '../lib/registry/client.js';

interface Job {
  image: string;
  dataDir: string;
  dockerHost: string;
  capBytesPerSecond: number | null;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const log = createLogger('image-fetch-process');
const fetcher = new ImageFetcher({
  engine: dockerEngine(job.dockerHost, log),
  registry: new RegistryClient({ log }),
  store: new BlobStore(path.join(job.dataDir, 'blobs')),
  bucket: new TokenBucket(job.capBytesPerSecond),
  log,
  retry: { initialMs: 50, maxMs: 500 },
});
const result = await fetcher.fetch(job.image);
process.stdout.write(`${JSON.stringify(result)}\n`);
