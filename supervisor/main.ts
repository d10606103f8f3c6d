// Entry point: node dist/supervisor/main.js --data-dir DIR (DIR holds config.json); the daemon is daemon.ts.
// V8's tiers are capped first (v8-tiers.ts), before anything else is even loaded: loading the daemon's modules
// runs code hot enough for TurboFan, and a single TurboFan compile maps some 3 MB of the compiler into memory
// (measured: capping after the imports saved 3.6 MB less than capping before them).
import { capOptimisingTiers } from './v8-tiers.js';

capOptimisingTiers();
const { runDaemon } = await import('./daemon.js');
runDaemon();
