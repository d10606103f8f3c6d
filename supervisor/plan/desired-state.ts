// The target translated into engine objects: containers with their options and hashes, and the networks and
// volumes they need. Pure.
import type { NetworkDefinition, TargetState, VolumeDefinition } from '../../protocol/target-state.js';
import { desiredContainer, serviceNetworks, type DesiredContainer, type HostContext } from './container-config.js';
import { engineNetworkName, peersOf } from './container-networking.js';
import { LABELS, engineName, volumeName } from './naming.js';
import type { NetworkCreateOptions, VolumeCreateOptions } from './create-options.js';

/** A network or volume the engine must have, with the labels it is created with. */
export interface DesiredResource {
  name: string;
  labels: Record<string, string>;
  /** Made outside the release: never created or removed, only used. */
  external?: boolean;
  network?: NetworkCreateOptions;
  volume?: VolumeCreateOptions;
}

function networkOptions(d: NetworkDefinition | undefined): NetworkCreateOptions | undefined {
  if (d === undefined) return undefined;
  const options: NetworkCreateOptions = {
    ...(d.driverOpts === undefined ? {} : { Options: d.driverOpts }),
    ...(d.internal === undefined ? {} : { Internal: d.internal }),
    ...(d.attachable === undefined ? {} : { Attachable: d.attachable }),
    ...(d.enableIpv6 === undefined ? {} : { EnableIPv6: d.enableIpv6 }),
  };
  if (d.ipam !== undefined) {
    options.IPAM = {
      ...(d.ipam.driver === undefined ? {} : { Driver: d.ipam.driver }),
      ...(d.ipam.options === undefined ? {} : { Options: d.ipam.options }),
      ...(d.ipam.config === undefined
        ? {}
        : {
            Config: d.ipam.config.map((c) => ({
              ...(c.subnet === undefined ? {} : { Subnet: c.subnet }),
              ...(c.ipRange === undefined ? {} : { IPRange: c.ipRange }),
              ...(c.gateway === undefined ? {} : { Gateway: c.gateway }),
              ...(c.auxAddresses === undefined ? {} : { AuxiliaryAddresses: c.auxAddresses }),
            })),
          }),
    };
  }
  return Object.keys(options).length > 0 ? options : undefined;
}

function volumeOptions(d: VolumeDefinition | undefined): VolumeCreateOptions | undefined {
  if (d?.driverOpts === undefined) return undefined;
  return { ...(d.driver === undefined ? {} : { Driver: d.driver }), DriverOpts: d.driverOpts };
}

/**
 * Containers in an order where every service comes after the services whose engine names it refers to
 * (network_mode service:, links, volumes_from, depends_on restart), so their names, which carry their config
 * hashes, go into its options and hash. normalize.ts refuses cycles among dependencies, which these all imply.
 */
function containersOf(target: TargetState, host: HostContext): DesiredContainer[] {
  const byService = new Map(target.services.map((s) => [s.name, s]));
  const done = new Map<string, DesiredContainer>();
  const peers = new Map<string, string>();
  const visit = (name: string, trail: ReadonlySet<string>): void => {
    const spec = byService.get(name);
    if (spec === undefined || done.has(name) || trail.has(name)) return;
    for (const peer of peersOf(spec)) visit(peer, new Set([...trail, name]));
    const container = desiredContainer(spec, target, host, peers);
    peers.set(name, container.name);
    done.set(name, container);
  };
  for (const spec of target.services) visit(spec.name, new Set());
  return target.services.map((s) => done.get(s.name)).filter((c) => c !== undefined);
}

export interface DesiredState {
  releaseId: string | null;
  containers: DesiredContainer[];
  networks: DesiredResource[];
  volumes: DesiredResource[];
}

function uniqueSorted(names: Iterable<string>): string[] {
  return [...new Set(names)].sort();
}

export function desiredState(target: TargetState, host: HostContext = {}): DesiredState {
  // Declared and used names both count: a release that uses a name it did not declare still gets it created.
  const networks = uniqueSorted([...target.networks, ...target.services.flatMap(serviceNetworks)]);
  const volumes = uniqueSorted([
    ...target.volumes,
    ...target.services.flatMap((s) =>
      s.volumes.flatMap((v) => (v.type === 'volume' && v.source !== undefined ? [v.source] : [])),
    ),
  ]);
  const fleet = target.fleet.name;
  return {
    releaseId: target.release?.id ?? null,
    containers: containersOf(target, host),
    networks: networks.map((n) => {
      const definition = target.networkDefinitions?.[n];
      const network = networkOptions(definition);
      return {
        name: engineNetworkName(target, n),
        labels: { ...definition?.labels, [LABELS.managed]: 'true', [LABELS.fleet]: fleet, [LABELS.network]: n },
        ...(definition?.external === true ? { external: true } : {}),
        ...(network === undefined ? {} : { network }),
      };
    }),
    volumes: volumes.map((v) => {
      const definition = target.volumeDefinitions?.[v];
      const volume = volumeOptions(definition);
      return {
        name: engineName(v, definition, volumeName),
        labels: { ...definition?.labels, [LABELS.managed]: 'true', [LABELS.fleet]: fleet, [LABELS.volume]: v },
        ...(definition?.external === true ? { external: true } : {}),
        ...(volume === undefined ? {} : { volume }),
      };
    }),
  };
}

/** Image references the target needs, each once. */
export function imagesOf(target: TargetState): string[] {
  return uniqueSorted(target.services.map((s) => s.image));
}
