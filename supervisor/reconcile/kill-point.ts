// Fault injection for crash-safety tests: SKIFF_FAULT_KILL_AT=N makes the process SIGKILL itself at the N-th kill
// point it passes (counted from 1 since the process started). The executor passes one kill point right before and
// one right after every step, so point 2k-1 is "just before step k" and 2k "just after step k". Inert (one
// comparison) when the variable is not set.
const raw = process.env.SKIFF_FAULT_KILL_AT;
const killAt = raw === undefined || raw === '' ? null : Number(raw);
if (killAt !== null && !(Number.isInteger(killAt) && killAt > 0)) {
  throw new Error(`SKIFF_FAULT_KILL_AT must be a positive integer, got '${raw ?? ''}'`);
}
let passed = 0;

export function killPoint(where: string): void {
  if (killAt === null) return;
  passed++;
  if (passed !== killAt) return;
  // Straight to stderr: the logger may buffer, and nothing may run after this line.
  process.stderr.write(
    `${JSON.stringify({ level: 60, msg: 'fault injection: killing myself', point: passed, where })}\n`,
  );
  process.kill(process.pid, 'SIGKILL');
}
