// Local mode: a developer runs a compose file on one device without the fleet (`skiff push --local`). The local
// target is built on the device from the compose file exactly as the API builds a release (protocol/compose.ts),
// passes the same gate as any target (acceptTarget) and is kept in DATA_DIR/local-target.json, so the device stays
// in local mode across restarts until it is told to leave. Meanwhile fleet targets are still fetched, verified and
// persisted, just not applied; leaving local mode applies the latest of them.
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { canonicalJson, sha256Hex } from '../protocol/canonical-json.js';
import { normalizeCompose } from '../protocol/compose.js';
import { LocalTargetRequestSchema, type LocalTargetRequest } from '../protocol/local-api.js';
import { DEFAULT_DEVICE_CONFIG, type DeviceConfig, type TargetState } from '../protocol/target-state.js';
import { parse } from '../protocol/validate.js';
import { messageOf } from '../lib/errors.js';
import { writeFileAtomic } from './atomic-file.js';
import { acceptTarget } from './target.js';

export const LOCAL_TARGET_FILE = 'local-target.json';

export interface LocalDevice {
  uuid: string;
  name: string;
  fleet: string;
  /** The fleet target's config when there is one (poll interval, windows...), else the defaults. */
  config: DeviceConfig | null;
}

/** The target a local compose file gives this device; throws a ValidationError naming every problem. */
export function localTargetOf(request: LocalTargetRequest, device: LocalDevice): TargetState {
  const compose = normalizeCompose(request.compose, request.images);
  const releaseId = `local-${sha256Hex(canonicalJson(request)).slice(0, 12)}`;
  const target: TargetState = {
    schemaVersion: 1,
    device: { uuid: device.uuid, name: device.name },
    fleet: { name: device.fleet },
    release: { id: releaseId, version: 'local' },
    services: compose.services,
    volumes: compose.volumes,
    networks: compose.networks,
    config: device.config ?? { ...DEFAULT_DEVICE_CONFIG, env: {} },
  };
  return acceptTarget(target, device.uuid, 'local target');
}

export class LocalTargetFile {
  readonly file: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, LOCAL_TARGET_FILE);
  }

  /** The request the device is in local mode with; null when it is not. */
  async load(): Promise<LocalTargetRequest | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new Error(`cannot read ${this.file}: ${messageOf(err)}`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new Error(`local target ${this.file} is not JSON: ${messageOf(err)}`, { cause: err });
    }
    return parse(LocalTargetRequestSchema, value, `local target ${this.file}`);
  }

  async save(request: LocalTargetRequest): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify(request, null, 2)}\n`);
  }

  async remove(): Promise<void> {
    await rm(this.file, { force: true });
  }
}
