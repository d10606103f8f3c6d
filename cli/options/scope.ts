// Commands that act on a fleet or on one device (config vars, host OS pins) take exactly one of --fleet and --device.
import { UsageError } from './kinds.js';

export interface ScopeOptions {
  fleet?: string;
  device?: string;
  json?: boolean;
}

export type Scope = { fleet: string } | { device: string };

/** Exactly one of --fleet and --device. */
export function scopeOf(opts: ScopeOptions): Scope {
  if (opts.fleet !== undefined && opts.device === undefined) return { fleet: opts.fleet };
  if (opts.device !== undefined && opts.fleet === undefined) return { device: opts.device };
  const both = opts.fleet !== undefined;
  throw new UsageError(
    `--fleet: ${both ? 'give either --fleet or --device, not both' : 'say where: give --fleet FLEET or --device DEVICE'}`,
    '--fleet',
  );
}
