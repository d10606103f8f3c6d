// The device types Skiff knows and the OCI platform each runs images of. Slugs follow balena's names, so a fleet
// moved from balena keeps its type. A Pi that can run either a 32-bit or a 64-bit OS has one slug per choice
// (raspberrypi3 is 32-bit, raspberrypi3-64 is 64-bit), because the OS, not the chip, decides what the engine runs.
import type { Platform } from './oci-image.js';

/** An OCI platform as `docker --platform` spells it: os/architecture[/variant]. */
export type PlatformName = 'linux/arm/v6' | 'linux/arm/v7' | 'linux/arm64' | 'linux/amd64';

export interface DeviceType {
  slug: string;
  name: string;
  platform: PlatformName;
}

export const DEVICE_TYPES = [
  { slug: 'raspberry-pi', name: 'Raspberry Pi 1 / Zero / Zero W', platform: 'linux/arm/v6' },
  { slug: 'raspberry-pi2', name: 'Raspberry Pi 2', platform: 'linux/arm/v7' },
  { slug: 'raspberrypi3', name: 'Raspberry Pi 3 (32-bit OS)', platform: 'linux/arm/v7' },
  { slug: 'raspberrypizero2w', name: 'Raspberry Pi Zero 2 W (32-bit OS)', platform: 'linux/arm/v7' },
  { slug: 'fincm3', name: 'Raspberry Pi CM3 (32-bit OS)', platform: 'linux/arm/v7' },
  { slug: 'raspberrypi3-64', name: 'Raspberry Pi 3 (64-bit OS)', platform: 'linux/arm64' },
  { slug: 'raspberrypi4-64', name: 'Raspberry Pi 4 (64-bit OS)', platform: 'linux/arm64' },
  { slug: 'raspberrypi400-64', name: 'Raspberry Pi 400 (64-bit OS)', platform: 'linux/arm64' },
  { slug: 'raspberrypicm4-64', name: 'Raspberry Pi CM4 (64-bit OS)', platform: 'linux/arm64' },
  { slug: 'raspberrypi5', name: 'Raspberry Pi 5', platform: 'linux/arm64' },
  { slug: 'generic-armv7', name: 'Generic ARMv7 (32-bit)', platform: 'linux/arm/v7' },
  { slug: 'generic-aarch64', name: 'Generic ARMv8 (64-bit)', platform: 'linux/arm64' },
  { slug: 'generic-amd64', name: 'Generic x86-64', platform: 'linux/amd64' },
] as const satisfies readonly DeviceType[];

export type DeviceTypeSlug = (typeof DEVICE_TYPES)[number]['slug'];

/** What a fleet created before device types were checked is given (registry-api/store/migrations.ts, step 14). */
export const FALLBACK_DEVICE_TYPE: DeviceTypeSlug = 'generic-amd64';

/** A fleet admits at most this many device types: there are not more to name. */
export const MAX_FLEET_DEVICE_TYPES = DEVICE_TYPES.length;

export const PLATFORM_NAMES: readonly PlatformName[] = ['linux/arm/v6', 'linux/arm/v7', 'linux/arm64', 'linux/amd64'];

export function deviceTypeOf(slug: string): DeviceType | undefined {
  return DEVICE_TYPES.find((t) => t.slug === slug);
}

export function isPlatformName(value: string): value is PlatformName {
  return (PLATFORM_NAMES as readonly string[]).includes(value);
}

/** The known slugs, for a refusal that says what is allowed. */
export function deviceTypeList(): string {
  return DEVICE_TYPES.map((t) => t.slug).join(', ');
}

/** Why `slug` is not a device type, or null when it is one. */
export function deviceTypeProblem(slug: string): string | null {
  if (deviceTypeOf(slug) !== undefined) return null;
  const shown = JSON.stringify(slug.slice(0, 64));
  return `${shown} is not a known device type; use one of ${deviceTypeList()}`;
}

/** The platforms a fleet of these device types needs, each once, in PLATFORM_NAMES order. */
export function platformsOf(slugs: readonly string[]): PlatformName[] {
  const wanted = new Set(slugs.map((s) => deviceTypeOf(s)?.platform).filter((p) => p !== undefined));
  return PLATFORM_NAMES.filter((p) => wanted.has(p));
}

/** `linux/arm/v7` as the registry's platform object. */
export function platformObject(name: PlatformName): Platform {
  const [os, architecture, variant] = name.split('/') as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/**
 * The platform name of a registry platform object (an index entry or an image config), or null for one Skiff has
 * no device type for. arm64 images say `arm64`, `arm64/v8` or nothing as variant; 32-bit arm without a variant is
 * taken as v7, what Debian's armhf and the engine's default build mean.
 */
export function platformNameOf(p: { os?: string; architecture?: string; variant?: string }): PlatformName | null {
  if (p.os !== undefined && p.os !== 'linux') return null;
  switch (p.architecture) {
    case 'amd64':
      return 'linux/amd64';
    case 'arm64':
      return 'linux/arm64';
    case 'arm':
      if (p.variant === 'v6') return 'linux/arm/v6';
      if (p.variant === undefined || p.variant === 'v7' || p.variant === 'v8') return 'linux/arm/v7';
      return null;
    default:
      return null;
  }
}

/**
 * The platform a machine runs, from the engine's /info `Architecture` (uname -m: x86_64, aarch64, armv7l, armv6l)
 * or Node's process.arch (x64, arm64, arm); null for one Skiff has no device type for.
 */
export function platformOfArch(arch: string, armVersion?: string): PlatformName | null {
  switch (arch) {
    case 'x86_64':
    case 'amd64':
    case 'x64':
      return 'linux/amd64';
    case 'aarch64':
    case 'arm64':
      return 'linux/arm64';
    case 'armv7l':
    case 'armv8l':
    case 'armhf':
      return 'linux/arm/v7';
    case 'armv6l':
    case 'armel':
      return 'linux/arm/v6';
    case 'arm':
      // Node's process.config names the arm version it was built for; v7 is Debian's armhf.
      return armVersion === '6' ? 'linux/arm/v6' : 'linux/arm/v7';
    default:
      return null;
  }
}
