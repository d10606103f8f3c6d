// How a service's container is replaced, chosen per service by label, as balena's supervisor does:
//   download-then-kill   (default) the new image is on the device before the old container stops: short downtime.
//   kill-then-download   the old container stops first, then the image is fetched: for services that must not run
//                        twice or that hold the device (a serial port) while the new image is downloaded.
//   delete-then-download also removes the old image before fetching: for devices short of disk.
//   hand-over            the new container starts next to the old one, and the old one stops only once the new one
//                        is ready (it writes the hand-over file, or its health check turns healthy) or the
//                        hand-over timeout passes: no gap at all. Two containers of one service run at once, so a
//                        service that publishes host ports cannot hand over (both would bind the same port) and is
//                        refused at validation.
import type { ServiceSpec, TargetState } from '../../protocol/target-state.js';
import type { Issue } from '../../protocol/validate.js';

export const STRATEGY_LABEL = 'io.skiff.update-strategy';
/** Seconds a hand-over waits for the new container to become ready before stopping the old one anyway. */
export const HANDOVER_TIMEOUT_LABEL = 'io.skiff.handover-timeout';

export const UPDATE_STRATEGIES = [
  'download-then-kill',
  'kill-then-download',
  'delete-then-download',
  'hand-over',
] as const;
export type UpdateStrategy = (typeof UPDATE_STRATEGIES)[number];

export const DEFAULT_STRATEGY: UpdateStrategy = 'download-then-kill';
export const DEFAULT_HANDOVER_TIMEOUT_SECONDS = 60;

function isStrategy(value: string): value is UpdateStrategy {
  return (UPDATE_STRATEGIES as readonly string[]).includes(value);
}

/** The service's strategy; an unknown label value falls back to the default (validation refuses it before here). */
export function updateStrategy(spec: ServiceSpec): UpdateStrategy {
  const value = spec.labels[STRATEGY_LABEL];
  return value !== undefined && isStrategy(value) ? value : DEFAULT_STRATEGY;
}

export function handoverTimeoutSeconds(spec: ServiceSpec): number {
  const raw = spec.labels[HANDOVER_TIMEOUT_LABEL];
  const seconds = raw === undefined ? NaN : Number(raw);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_HANDOVER_TIMEOUT_SECONDS;
}

/** What is wrong with the services' strategy labels, as target validation issues. */
export function strategyIssues(target: TargetState): Issue[] {
  const issues: Issue[] = [];
  target.services.forEach((s, i) => {
    const at = `/services/${i}/labels`;
    const value = s.labels[STRATEGY_LABEL];
    if (value !== undefined && !isStrategy(value)) {
      issues.push({
        path: `${at}/${STRATEGY_LABEL}`,
        message: `'${value}' is not an update strategy (${UPDATE_STRATEGIES.join(', ')})`,
      });
    }
    const timeout = s.labels[HANDOVER_TIMEOUT_LABEL];
    if (timeout !== undefined && !(Number(timeout) > 0 && Number.isFinite(Number(timeout)))) {
      issues.push({
        path: `${at}/${HANDOVER_TIMEOUT_LABEL}`,
        message: `'${timeout}' is not a positive number of seconds`,
      });
    }
    if (value === 'hand-over') {
      const published = s.ports
        .filter((p) => p.published !== undefined)
        .map((p) => `${p.published ?? ''}:${p.target}/${p.protocol}`);
      if (published.length > 0) {
        issues.push({
          path: `${at}/${STRATEGY_LABEL}`,
          message:
            `hand-over runs the old and the new container at once, so both would publish host port(s) ${published.join(', ')}: ` +
            'use another strategy or do not publish ports',
        });
      }
    }
  });
  return issues;
}
