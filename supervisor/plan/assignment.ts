// Which running containers stay and which go: the judgement the planner and the reporter share. A container stays
// for its service only if it matches the desired config hash and networks; everything else is retired.
import type { DesiredContainer } from './container-config.js';
import type { ObservedContainer } from './observed.js';
import { byCodePoint } from '../../lib/code-point-order.js';

export interface Assignment {
  /** Per service of the target: its up-to-date container, if one exists. */
  kept: Map<string, ObservedContainer>;
  /** Containers of no target service, out of date, dead, or duplicates of a kept one. */
  retired: ObservedContainer[];
}

export function isUpToDate(container: ObservedContainer, desired: DesiredContainer): boolean {
  return (
    container.configHash === desired.configHash &&
    container.state !== 'dead' &&
    container.state !== 'removing' &&
    // Repairs drift: a container someone disconnected from a service network is recreated, not trusted.
    desired.networks.every((n) => container.networks.includes(n))
  );
}

const PREFERENCE: Record<ObservedContainer['state'], number> = {
  running: 0,
  restarting: 1,
  paused: 2,
  created: 3,
  exited: 3,
  dead: 9,
  removing: 9,
};

/** Among duplicates, the one to keep: the most alive, then the newest. */
function preferred(a: ObservedContainer, b: ObservedContainer): number {
  return PREFERENCE[a.state] - PREFERENCE[b.state] || byCodePoint(b.createdAt, a.createdAt) || byCodePoint(a.id, b.id);
}

export function assign(containers: ObservedContainer[], desired: DesiredContainer[]): Assignment {
  const desiredByService = new Map(desired.map((d) => [d.service, d]));
  const candidates = new Map<string, ObservedContainer[]>();
  const retired: ObservedContainer[] = [];
  for (const c of containers) {
    const d = c.service === null ? undefined : desiredByService.get(c.service);
    if (d !== undefined && isUpToDate(c, d)) {
      const list = candidates.get(d.service) ?? [];
      list.push(c);
      candidates.set(d.service, list);
    } else {
      retired.push(c);
    }
  }
  const kept = new Map<string, ObservedContainer>();
  for (const [service, list] of candidates) {
    const [keep, ...duplicates] = [...list].sort(preferred);
    if (keep !== undefined) kept.set(service, keep);
    retired.push(...duplicates);
  }
  retired.sort((a, b) => byCodePoint(a.service ?? '', b.service ?? '') || byCodePoint(a.id, b.id));
  return { kept, retired };
}
