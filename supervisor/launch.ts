// How a device starts the supervisor's Node process: settings that take effect only from node's command line or
// its environment, before the process runs (V8 sizes its young generation when it creates its heap; the C library's
// allocator is chosen when the process is loaded), so the daemon cannot set them itself. README ("Devices"),
// scripts/demo.sh and the test harness start it with exactly these; test/unit/supervisor-launch.test.ts holds them
// to it.

/**
 * V8 grows its young generation's semi-spaces up to 16 MB each as the process allocates and keeps their pages; at
 * 1 MB the scavenges are more frequent and cost a daemon that mostly waits nothing it would notice. Measured with
 * bench:supervisor: 55.6-55.9 MB fresh with it, 59.1-60.1 MB without (four runs each, bare Node 39.5 MB).
 */
export const SUPERVISOR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/**
 * jemalloc (Debian's libjemalloc2) instead of glibc's malloc, with one arena, no thread caches and a background
 * thread that hands freed pages back to the kernel after a second. What an update allocates outside V8's heap
 * (stream buffers, V8's compiler zones) is freed again, but glibc can only give back the top of its heap: one small
 * allocation that outlives an update pins everything below it. bench:supervisor found 9.6 MB in a single free chunk
 * of glibc's heap after 10 releases, which only a malloc_trim(0) (attached with gdb) returned; Node has no way to
 * call it. With this: 57.4-57.5 MB after 10 releases and idle, against 65.8-68.1 MB on glibc (bare Node 39.5 MB;
 * bare Node on this jemalloc 41 MB). A device without libjemalloc.so.2 runs on glibc: the loader prints one line
 * saying the preload was ignored and goes on.
 */
export const SUPERVISOR_ENV: Readonly<Record<string, string>> = {
  LD_PRELOAD: 'libjemalloc.so.2',
  MALLOC_CONF: 'narenas:1,tcache:false,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0',
};

/** The shell command that starts the supervisor at `main` with this environment and these flags (as README shows). */
export function supervisorCommandLine(main: string): string {
  const env = Object.entries(SUPERVISOR_ENV).map(([name, value]) => `${name}=${value}`);
  return [...env, 'node', ...SUPERVISOR_NODE_FLAGS, main].join(' ');
}
