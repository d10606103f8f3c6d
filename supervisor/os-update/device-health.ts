// What "the new OS is well" means on a device: the engine answers, the supervisor reaches the API, and every
// service of the target's release runs (and is healthy where it has a health check).
import type { TargetState } from '../../protocol/target-state.js';
import { assign } from '../plan/assignment.js';
import { readCurrentState } from '../reconcile/current-state.js';
import { desiredState } from '../plan/desired-state.js';
import type { Engine } from '../engine/engine.js';
import { MANAGED_FILTER } from '../plan/naming.js';
import type { HealthCheck } from './health.js';

export interface DeviceHealthInputs {
  engine: Engine;
  /** Resolves when the API answered this device (authenticated). */
  reachApi: () => Promise<void>;
  target: () => TargetState | null;
}

export function deviceHealthChecks(inputs: DeviceHealthInputs): HealthCheck[] {
  return [
    {
      name: 'engine',
      run: async () => {
        await inputs.engine.listContainers(MANAGED_FILTER);
      },
    },
    { name: 'api', run: () => inputs.reachApi() },
    {
      name: 'services',
      run: async () => {
        const target = inputs.target();
        if (target === null) return;
        const wanted = desiredState(target).containers;
        const { kept } = assign((await readCurrentState(inputs.engine, [])).containers, wanted);
        const unwell = wanted.flatMap((d) => {
          const c = kept.get(d.service);
          if (c === undefined) return [`${d.service} has no container of the target release`];
          if (c.state !== 'running') return [`${d.service} is ${c.state}`];
          if (c.health === 'unhealthy' || c.health === 'starting') return [`${d.service} is ${c.health}`];
          return [];
        });
        if (unwell.length > 0) throw new Error(unwell.join(', '));
      },
    },
  ];
}
