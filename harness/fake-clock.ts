// A clock for pure timing logic (token bucket, pacing): time moves only when someone sleeps, so a test reads exact
// instants instead of racing a real timer.
import type { Clock } from '../supervisor/images/bandwidth/token-bucket.js';

export function fakeClock(): Clock & { t: number } {
  const clock = {
    t: 0,
    now: () => clock.t,
    sleep: (ms: number) => {
      clock.t += ms;
      return Promise.resolve();
    },
  };
  return clock;
}
