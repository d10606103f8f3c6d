// How the device gets its images: Skiff's own fetcher (resumable, under the device's one bandwidth cap, blobs in
// DATA_DIR/blobs), authenticated towards the registry as the device itself (uuid + its current API token, read at
// each token request so a renewed token is used at once). A reference that names no registry host (Docker Hub
// short names) is left to the engine's pull: the fetcher only speaks to registries it can address. That pull is
// always Docker Hub over TLS, so SKIFF_INSECURE_REGISTRIES never needs handing to the engine (whose own list is
// daemon configuration, not a pull parameter).
import path from 'node:path';
import type { Logger } from '../../lib/logger.js';
import type { Platform } from '../../protocol/oci-image.js';
import type { ImageDownload } from '../../protocol/state-report.js';
import type { TargetState } from '../../protocol/target-state.js';
import { BandwidthGovernor } from './bandwidth/governor.js';
import { DeltaRebuilder } from './delta/rebuild.js';
import { BlobStore } from './download/blob-store.js';
import { TokenBucket } from './bandwidth/token-bucket.js';
import type { Engine } from '../engine/engine.js';
import { ImageFetcher } from './fetcher.js';
import { namesRegistryHost } from './local-image.js';
import { type RegistryCredentials, tokenServerAuth } from '../../lib/registry/auth.js';
import { RegistryClient } from '../../lib/registry/client.js';
import { ManifestCache } from '../../lib/registry/manifest-cache.js';

export interface ImageDeliveryOptions {
  engine: Engine;
  dataDir: string;
  /** The device's registry credentials now; undefined before it has a token (anonymous pulls only). */
  credentials: () => RegistryCredentials | undefined;
  /** Registries spoken to over plain HTTP besides loopback ones (SKIFF_INSECURE_REGISTRIES). */
  insecureRegistries?: readonly string[];
  /** Which image of a manifest list is this device's; absent: the platform Node runs on. */
  platform?: Platform;
  log: Logger;
  /** Told each delta patch's digest before it is downloaded (DeltaRebuilderOptions.onPatch). */
  onPatch?: (digest: string) => void;
}

export class ImageDelivery {
  private readonly fetcher: ImageFetcher;
  private readonly governor: BandwidthGovernor;
  readonly store: BlobStore;
  /** The device's one bandwidth bucket: every download shares the link's cap (release files too). */
  readonly bucket: TokenBucket;
  /** The device's one registry client: its token cache also serves the disk check's manifest reads. */
  readonly registry: RegistryClient;

  constructor(private readonly options: ImageDeliveryOptions) {
    const log = options.log;
    // One bucket for the device: every download shares the link's cap.
    const bucket = new TokenBucket(null);
    this.bucket = bucket;
    this.store = new BlobStore(path.join(options.dataDir, 'blobs'));
    const insecureRegistries = options.insecureRegistries ?? [];
    if (insecureRegistries.length > 0)
      log.warn({ registries: insecureRegistries }, 'registries spoken to over plain HTTP (SKIFF_INSECURE_REGISTRIES)');
    // The device's identity goes to the registry's token server; manifests are kept, as the disk check and the
    // fetcher read the same ones over a link that may be metered.
    const registry = new RegistryClient({
      auth: tokenServerAuth({ credentials: options.credentials }),
      manifestCache: new ManifestCache(),
      insecureRegistries,
      log,
    });
    this.registry = registry;
    this.fetcher = new ImageFetcher({
      engine: options.engine,
      registry,
      store: this.store,
      bucket,
      log,
      ...(options.platform === undefined ? {} : { platform: options.platform }),
      // Delta patches: layers rebuilt from what the engine has, else pulled whole.
      deltas: new DeltaRebuilder({
        engine: options.engine,
        registry,
        store: this.store,
        bucket,
        log,
        workDir: path.join(options.dataDir, 'delta'),
        ...(options.onPatch === undefined ? {} : { onPatch: options.onPatch }),
      }),
    });
    this.governor = new BandwidthGovernor({ bucket, log });
  }

  /** The target now being run: its config sets the cap. */
  follow(target: TargetState | null): void {
    this.governor.follow(target?.config ?? null);
  }

  async fetch(image: string, signal?: AbortSignal): Promise<void> {
    if (!namesRegistryHost(image)) {
      await this.options.engine.pullImage(image);
      return;
    }
    await this.fetcher.fetch(image, signal);
  }

  /** Images in flight, each with the target's services that need it. */
  downloads(target: TargetState | null): ImageDownload[] {
    return this.fetcher.progress().map((p) => ({
      services: (target?.services ?? []).filter((s) => s.image === p.image).map((s) => s.name),
      image: p.image,
      source: p.source,
      bytesDone: p.bytesDone,
      bytesTotal: p.bytesTotal,
      percent: Math.min(100, p.percent),
    }));
  }

  busy(): boolean {
    return this.fetcher.progress().length > 0;
  }

  stop(): void {
    this.governor.stop();
  }
}
