// Which of a service's containers shows how it is doing, for the report and for the local API's actions alike.
import { byCodePoint } from '../../lib/code-point-order.js';

/** Running before stopped, then the newest; undefined when there is none. */
export function mostAlive<T extends { state: string; createdAt: string }>(containers: readonly T[]): T | undefined {
  return [...containers].sort(
    (a, b) => Number(b.state === 'running') - Number(a.state === 'running') || byCodePoint(b.createdAt, a.createdAt),
  )[0];
}
