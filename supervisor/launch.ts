// How a device starts the supervisor's Node process: settings that only take effect from the command line and the
// environment, before the process runs (V8 sizes its young generation, glibc reads its malloc settings at start),
// so the daemon cannot set them itself. README ("Devices"), scripts/demo.sh and the test harness start it with
// exactly these; test/unit/supervisor-launch.test.ts holds them to it. Measured with bench:supervisor (10 releases
// with image deltas and a log follow, then 3 minutes idle, RSS against bare Node): 66-68 MB without them, 57 MB
// with them, of which the trim threshold is most.

/**
 * Node's own flags. V8 grows its young generation's semi-spaces to 16 MB each once the process allocates briskly
 * (an update, a log follow) and keeps the pages; at 1 MB the scavenges are more frequent and cost a daemon that
 * mostly waits nothing it would notice.
 */
export const SUPERVISOR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/**
 * glibc malloc: native memory freed after an update (HTTP, zlib, file buffers of the libuv threads) is returned to
 * the system once 128 kB sit free at the top of a heap, instead of glibc raising that threshold up to 32 MB as it
 * sees large blocks freed; and two arenas instead of eight per CPU, each holding its own free memory.
 */
export const SUPERVISOR_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/** The shell command line that starts the supervisor with these settings (as README and demo.sh print it). */
export function supervisorCommandLine(main: string): string {
  const env = Object.entries(SUPERVISOR_ENV).map(([name, value]) => `${name}=${value}`);
  return [...env, 'node', ...SUPERVISOR_NODE_FLAGS, main].join(' ');
}
