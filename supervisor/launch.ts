// How a device starts the supervisor's Node process: a setting that takes effect only from node's command line,
// before the process runs (V8 sizes its young generation when it creates its heap), so the daemon cannot set it
// itself. README ("Devices"), scripts/demo.sh and the test harness start it with exactly these flags;
// test/unit/supervisor-launch.test.ts holds them to it.

/**
 * V8 grows its young generation's semi-spaces up to 16 MB each as the process allocates and keeps their pages; at
 * 1 MB the scavenges are more frequent and cost a daemon that mostly waits nothing it would notice. Measured with
 * bench:supervisor: 55.6-55.9 MB fresh with it, 59.1-60.1 MB without (four runs each, bare Node 39.5 MB).
 */
export const SUPERVISOR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** The shell command that starts the supervisor at `main` with these flags (as README shows it). */
export function supervisorCommandLine(main: string): string {
  return ['node', ...SUPERVISOR_NODE_FLAGS, main].join(' ');
}
