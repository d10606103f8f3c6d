// Preloaded into a measured Node process (NODE_OPTIONS="--expose-gc --import=..."): SIGUSR2 runs a full garbage
// collection and writes the process's memory breakdown as one JSON line on stderr (the line format Skiff's
// processes log in), so a sample taken after it shows what is retained, and whether the JS heap or native memory
// holds it. The process's own code is untouched; Node gives SIGUSR2 no meaning of its own.
import { GC_REPORT_MSG } from './gc-report.js';

const collect = (globalThis as { gc?: () => void }).gc;
if (collect !== undefined) {
  process.on('SIGUSR2', () => {
    collect();
    process.stderr.write(`${JSON.stringify({ msg: GC_REPORT_MSG, ...process.memoryUsage() })}\n`);
  });
}
