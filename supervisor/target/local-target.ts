// The target a developer's compose file gives this device in local mode (`skiff push --local`): built on the device
// exactly as the API builds a release (protocol/compose/normalize.ts) and passed through the same gate as any target
// (acceptTarget). Its own module because the compose normaliser brings the YAML parser: the supervisor imports it
// only when a local target arrives, not at every start.
import { canonicalJson, sha256Hex } from '../../protocol/canonical-json.js';
import { normalizeCompose } from '../../protocol/compose/normalize.js';
import type { LocalTargetRequest } from '../../protocol/local-api.js';
import { DEFAULT_DEVICE_CONFIG, type DeviceConfig, type TargetState } from '../../protocol/target-state.js';
import { acceptTarget } from './gate.js';

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
