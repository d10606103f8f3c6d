// Where a service's update-lock directory is, on the host and inside its containers, and the files in it: the
// planner bind-mounts the directory into every container (container-config.ts), ../reconcile/update-lock.ts takes,
// reads and removes the files. Plain strings, so the planner needs no filesystem module.

/** Where every container sees its service's lock directory. */
export const LOCK_DIR_IN_CONTAINER = '/run/skiff/lock';
export const LOCK_FILE = 'updates.lock';
export const HANDOVER_FILE = 'handover.ready';

/**
 * <lockRoot>/<service>: path.join's answer, for a lockRoot that path.join built (the supervisor's data dir + locks)
 * and a service name, which is [a-zA-Z0-9][a-zA-Z0-9_.-]* (protocol/target-state.ts).
 */
export function lockDir(lockRoot: string, service: string): string {
  return lockRoot.endsWith('/') ? `${lockRoot}${service}` : `${lockRoot}/${service}`;
}
