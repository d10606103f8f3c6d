// How far V8 may compile the supervisor's JavaScript: it stays in Ignition, V8's interpreter (no Sparkplug, no
// TurboFan, nor Node 22's Maglev). The supervisor's code spends its time waiting on the engine and the network, so
// the compiling tiers buy it nothing measurable (per release applied: the same ~55 ms of CPU as with every tier;
// downloads: ~30% more CPU per byte, 0.85 s instead of 0.65 s for 200 MB here, far below what a device's link
// delivers), while their code, the compilers' working memory and the pages of the node binary they run from cost
// an idle device about 11 MB of resident memory (bench/supervisor.ts: 10 MB for TurboFan, 1.3 MB more for
// Sparkplug). A device whose CPU is the scarcer resource can start node with --max-opt=1 (Sparkplug) or higher:
// a --max-opt on node's own command line wins over this cap.
import { setFlagsFromString } from 'node:v8';

/** V8's --max-opt tiers: 0 interpreter, 1 Sparkplug, 2 Maglev, 3 TurboFan. */
export const SUPERVISOR_MAX_OPT = 0;

/**
 * Caps V8's tiers for the rest of the process, before any code ran hot enough to be compiled. A --max-opt on
 * node's own command line wins (returns false then), so a device can still be run with other tiers.
 */
export function capOptimisingTiers(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => /^--max[-_]opt\b/.test(arg))) return false;
  setFlagsFromString(`--max-opt=${SUPERVISOR_MAX_OPT}`);
  return true;
}
