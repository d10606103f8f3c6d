// Names and labels of the engine objects Skiff owns. Everything the supervisor manages is found again through
// these labels, so the engine itself is the record of what runs: there is no journal that could drift from it.

export const LABELS = {
  managed: 'io.skiff.managed',
  fleet: 'io.skiff.fleet',
  service: 'io.skiff.service',
  /** The release whose target created the container; informational, never used for change detection. */
  release: 'io.skiff.release',
  /** Hash of the container's full desired create config: the only basis of "is this container up to date". */
  configHash: 'io.skiff.config-hash',
  network: 'io.skiff.network',
  volume: 'io.skiff.volume',
} as const;

/** Engine label filter selecting every object the supervisor manages. */
export const MANAGED_FILTER = `${LABELS.managed}=true`;

const PREFIX = 'skiff_';

/** Compose's implicit network: every service without explicit networks or a network mode joins it. */
export const DEFAULT_NETWORK = 'default';

export function networkName(composeName: string): string {
  return `${PREFIX}${composeName}`;
}

export function volumeName(composeName: string): string {
  return `${PREFIX}${composeName}`;
}

/**
 * The hash in the name makes creation idempotent: a retried create of the same config hits the same name, and a
 * changed config never collides with the container it replaces.
 */
export function containerName(service: string, configHash: string): string {
  return `${PREFIX}${service}_${configHash.slice(0, 12)}`;
}
