// How a service joins networks on the engine: the endpoints (aliases, fixed addresses, links), the primary network
// the container is created on, or another service's network namespace. Pure.
import type { ServiceSpec, TargetState } from '../../protocol/target-state.js';
import type { EndpointConfig } from './create-options.js';
import { DEFAULT_NETWORK, engineName, networkName } from './naming.js';

/** Engine container names of the release's services that other containers refer to (network, volumes, links). */
export type Peers = ReadonlyMap<string, string>;

/** Compose names of the networks a service joins: its own list, or the default network. */
export function serviceNetworks(spec: ServiceSpec): string[] {
  if (spec.networkMode !== undefined || spec.networkService !== undefined) return [];
  const named = Object.keys(spec.networks).sort();
  return named.length > 0 ? named : [DEFAULT_NETWORK];
}

/** The engine's name of a network of the target. */
export function engineNetworkName(target: TargetState, network: string): string {
  return engineName(network, target.networkDefinitions?.[network], networkName);
}

/** The container's networks, primary first: highest priority, then by name (compose v2's order). */
function ordered(spec: ServiceSpec): string[] {
  const priority = (n: string): number => spec.networks[n]?.priority ?? 0;
  return serviceNetworks(spec).sort((a, b) => priority(b) - priority(a));
}

/** The peer's engine name, which the planner always has for a dependency; the service name only as a last resort. */
export function peerName(peers: Peers, service: string): string {
  return peers.get(service) ?? service;
}

export function endpoints(spec: ServiceSpec, target: TargetState, peers: Peers): Record<string, EndpointConfig> {
  const result: Record<string, EndpointConfig> = {};
  const networks = ordered(spec);
  const links = Object.entries(spec.links ?? {})
    .map(([alias, service]) => `${peerName(peers, service)}:${alias}`)
    .sort();
  networks.forEach((network, i) => {
    const own = spec.networks[network];
    // Like compose, the service name is an alias on every network, so services find each other by name.
    const endpoint: EndpointConfig = { Aliases: [...new Set([spec.name, ...(own?.aliases ?? [])])] };
    if (own?.ipv4Address !== undefined || own?.ipv6Address !== undefined || own?.linkLocalIps !== undefined) {
      endpoint.IPAMConfig = {
        ...(own.ipv4Address === undefined ? {} : { IPv4Address: own.ipv4Address }),
        ...(own.ipv6Address === undefined ? {} : { IPv6Address: own.ipv6Address }),
        ...(own.linkLocalIps === undefined ? {} : { LinkLocalIPs: own.linkLocalIps }),
      };
    }
    // Legacy links live on the primary network, as compose puts them.
    if (i === 0 && links.length > 0) endpoint.Links = links;
    result[engineNetworkName(target, network)] = endpoint;
  });
  return result;
}

/** HostConfig.NetworkMode: host/none/bridge, another service's namespace, or the primary network. */
export function networkMode(spec: ServiceSpec, target: TargetState, peers: Peers): string | undefined {
  if (spec.networkService !== undefined) return `container:${peerName(peers, spec.networkService)}`;
  if (spec.networkMode !== undefined) return spec.networkMode;
  const [primary] = ordered(spec);
  return primary === undefined ? undefined : engineNetworkName(target, primary);
}

/** HostConfig.Links: the same links, in the engine's NAME:ALIAS form. */
export function legacyLinks(spec: ServiceSpec, peers: Peers): string[] | undefined {
  if (spec.links === undefined) return undefined;
  return Object.entries(spec.links)
    .map(([alias, service]) => `${peerName(peers, service)}:${alias}`)
    .sort();
}

/** Services whose engine names this service's options contain: they must be planned (and hashed) first. */
export function peersOf(spec: ServiceSpec): string[] {
  return [
    ...new Set([
      ...(spec.networkService === undefined ? [] : [spec.networkService]),
      ...Object.values(spec.links ?? {}),
      ...(spec.volumesFrom ?? []).map((v) => v.service),
      ...(spec.restartWith ?? []),
    ]),
  ].sort();
}
