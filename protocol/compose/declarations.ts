// The top-level `networks` and `volumes` of a compose file: their names, and what each sets beyond its name
// (driver options, IPAM, labels, an engine name of its own, external), as the device creates them.
import type { NetworkDefinition, VolumeDefinition } from '../target-state.js';
import { ComposeIssue, type ComposePath } from './path.js';
import type { Json, JsonObject } from './service-fields.js';
import { SUPPORTED, unsupportedKeys } from './support.js';
import { booleanOf, keyValues } from './syntax.js';

/** The names a target state accepts for services, volumes and networks (target-state.ts). */
export const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
/** What the engine accepts as a network or volume name of its own (`name:`). */
const ENGINE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const CIDR = /^[0-9a-fA-F:.]+\/\d{1,3}$/;

export interface Declarations<T> {
  names: string[];
  /** Only the declarations that set more than their name. */
  definitions: Record<string, T>;
}

type KeyValues = Parameters<typeof keyValues>[0];

function common(
  name: string,
  config: JsonObject,
  at: ComposePath,
  kind: 'network' | 'volume',
): { name?: string; external?: boolean; driverOpts?: Record<string, string>; labels?: Record<string, string> } {
  const out: ReturnType<typeof common> = {};
  let external = config.external;
  // The older `external: {name: x}` form; the specification keeps it as a deprecated way to write `name`.
  if (external !== null && typeof external === 'object' && !Array.isArray(external)) {
    if (typeof external.name === 'string') out.name = external.name;
    external = true;
  }
  if (external !== undefined && booleanOf(external as boolean | string, [...at, 'external'])) out.external = true;
  if (typeof config.name === 'string') out.name = config.name;
  if (out.name !== undefined && !ENGINE_NAME.test(out.name)) {
    throw new ComposeIssue([...at, 'name'], `'${out.name}' is not a ${kind} name the engine accepts`);
  }
  if (out.external) {
    const others = Object.keys(config).filter((k) => k !== 'external' && k !== 'name' && !k.startsWith('x-'));
    if (others.length > 0) {
      throw new ComposeIssue(
        [...at, others[0] ?? ''],
        `an external ${kind} is made outside the release (as '${out.name ?? name}'); only its name may be set`,
      );
    }
  }
  if (config.driver_opts !== undefined)
    out.driverOpts = keyValues(config.driver_opts as KeyValues, [...at, 'driver_opts'], 'empty');
  if (config.labels !== undefined) out.labels = keyValues(config.labels as KeyValues, [...at, 'labels'], 'empty');
  return out;
}

function declare<T extends object>(
  value: Json | undefined,
  section: 'networks' | 'volumes',
  issues: ComposeIssue[],
  define: (name: string, config: JsonObject, at: ComposePath) => T,
): Declarations<T> {
  const entries = (value ?? {}) as Record<string, JsonObject | null>;
  const definitions: Record<string, T> = {};
  for (const [name, config] of Object.entries(entries)) {
    const at = [section, name];
    if (!NAME.test(name))
      issues.push(new ComposeIssue(at, `'${name}' must start with a letter or digit (at most 128 characters)`));
    if (config === null) continue;
    const unsupported = unsupportedKeys(
      config,
      SUPPORTED[section === 'networks' ? 'network' : 'volume'],
      at,
      section === 'networks' ? 'network' : 'volume',
    );
    issues.push(...unsupported);
    if (unsupported.length > 0) continue;
    try {
      const definition = define(name, config, at);
      if (Object.keys(definition).length > 0) definitions[name] = definition;
    } catch (err) {
      if (!(err instanceof ComposeIssue)) throw err;
      issues.push(err);
    }
  }
  return { names: Object.keys(entries).sort(), definitions };
}

export function networkDeclarations(value: Json | undefined, issues: ComposeIssue[]): Declarations<NetworkDefinition> {
  return declare(value, 'networks', issues, (name, config, at) => {
    const out: NetworkDefinition = common(name, config, at, 'network');
    if (config.driver !== undefined && config.driver !== 'bridge') {
      throw new ComposeIssue(
        [...at, 'driver'],
        config.driver === 'overlay'
          ? 'overlay networks span a swarm; a device runs one engine: use bridge'
          : `driver '${String(config.driver)}' is not supported by Skiff (bridge): devices have no network plugins`,
      );
    }
    if (config.driver !== undefined) out.driver = 'bridge';
    for (const [key, field] of [
      ['internal', 'internal'],
      ['attachable', 'attachable'],
      ['enable_ipv6', 'enableIpv6'],
    ] as const) {
      if (config[key] !== undefined) out[field] = booleanOf(config[key] as boolean | string, [...at, key]);
    }
    if (config.ipam !== undefined) {
      const ipam = config.ipam as JsonObject;
      const where = [...at, 'ipam'];
      const [unknown] = unsupportedKeys(ipam, ['driver', 'config', 'options'], where);
      if (unknown) throw unknown;
      if (ipam.driver !== undefined && ipam.driver !== 'default') {
        throw new ComposeIssue(
          [...where, 'driver'],
          `IPAM driver '${String(ipam.driver)}' is not on devices (default)`,
        );
      }
      const definition: NonNullable<NetworkDefinition['ipam']> = {};
      if (ipam.driver !== undefined) definition.driver = 'default';
      if (ipam.options !== undefined)
        definition.options = keyValues(ipam.options as KeyValues, [...where, 'options'], 'empty');
      if (ipam.config !== undefined) {
        definition.config = (ipam.config as JsonObject[]).map((pool, i) => {
          const p = [...where, 'config', i];
          const [bad] = unsupportedKeys(pool, ['subnet', 'ip_range', 'gateway', 'aux_addresses'], p);
          if (bad) throw bad;
          for (const key of ['subnet', 'ip_range'] as const) {
            if (pool[key] !== undefined && !CIDR.test(String(pool[key]))) {
              throw new ComposeIssue([...p, key], `'${String(pool[key])}' is not an address range (e.g. 10.99.0.0/24)`);
            }
          }
          return {
            ...(pool.subnet === undefined ? {} : { subnet: String(pool.subnet) }),
            ...(pool.ip_range === undefined ? {} : { ipRange: String(pool.ip_range) }),
            ...(pool.gateway === undefined ? {} : { gateway: String(pool.gateway) }),
            ...(pool.aux_addresses === undefined
              ? {}
              : { auxAddresses: keyValues(pool.aux_addresses as KeyValues, [...p, 'aux_addresses'], 'error') }),
          };
        });
      }
      out.ipam = definition;
    }
    return out;
  });
}

export function volumeDeclarations(value: Json | undefined, issues: ComposeIssue[]): Declarations<VolumeDefinition> {
  return declare(value, 'volumes', issues, (name, config, at) => {
    const out: VolumeDefinition = common(name, config, at, 'volume');
    if (config.driver !== undefined && config.driver !== 'local') {
      throw new ComposeIssue(
        [...at, 'driver'],
        `driver '${String(config.driver)}' is not supported by Skiff (local): devices have no volume plugins`,
      );
    }
    if (config.driver !== undefined) out.driver = 'local';
    return out;
  });
}
