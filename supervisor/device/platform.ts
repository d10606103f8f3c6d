// The OCI platform this device runs images of: what it tells the API when it registers (a fleet admits only its
// device types' platforms) and which image of a manifest list it fetches. Read from the engine's machine (uname -m
// in /info), else from Node's own build, unless the config names it: a device whose engine runs another
// architecture through binfmt emulation (an arm64 test device on an x86 machine) must say so there.
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import {
  isPlatformName,
  type PlatformName,
  platformObject,
  platformOfArch,
  PLATFORM_NAMES,
} from '../../protocol/device-types.js';
import type { Platform } from '../../protocol/oci-image.js';
import type { Engine } from '../engine/engine.js';

export interface DevicePlatform {
  name: PlatformName;
  /** The registry's form, for picking an entry of a manifest list. */
  registry: Platform;
  /** Where the name came from, for the log. */
  source: 'config' | 'engine' | 'node';
}

/** Node's own arm version (6 or 7) on 32-bit arm; undefined elsewhere. */
function nodeArmVersion(): string | undefined {
  const variables: Record<string, unknown> = process.config.variables;
  const version = variables.arm_version;
  return typeof version === 'string' || typeof version === 'number' ? String(version) : undefined;
}

function platformOf(name: PlatformName, source: DevicePlatform['source']): DevicePlatform {
  const registry = platformObject(name);
  // Docker writes arm64 images with variant v8; the fetcher prefers an exact variant and takes any arm64 after.
  return { name, registry: name === 'linux/arm64' ? { ...registry, variant: 'v8' } : registry, source };
}

export async function devicePlatform(
  configured: string | undefined,
  engine: Pick<Engine, 'architecture'>,
  log: Logger,
): Promise<DevicePlatform> {
  if (configured !== undefined) {
    if (!isPlatformName(configured)) {
      throw new Error(
        `device config: platform ${JSON.stringify(configured.slice(0, 40))} is not one Skiff knows; use one of ${PLATFORM_NAMES.join(', ')}`,
      );
    }
    return platformOf(configured, 'config');
  }
  try {
    const arch = await engine.architecture?.();
    const fromEngine = arch === undefined ? null : platformOfArch(arch);
    if (fromEngine !== null) return platformOf(fromEngine, 'engine');
    if (arch !== undefined)
      log.warn({ architecture: arch.slice(0, 32) }, 'the engine runs an architecture Skiff has no platform for');
  } catch (err) {
    log.warn({ err: messageOf(err) }, "cannot ask the engine for its architecture; taking Node's");
  }
  const fromNode = platformOfArch(process.arch, nodeArmVersion());
  if (fromNode === null) {
    throw new Error(
      `this machine (${process.arch}) runs no platform Skiff knows (${PLATFORM_NAMES.join(', ')}); set platform in the device config`,
    );
  }
  return platformOf(fromNode, 'node');
}
