// Update locks: a service defers being stopped by holding a lock file. Every container of a service gets the host
// directory <lockRoot>/<service> bind-mounted at /run/skiff/lock (env SKIFF_LOCK_DIR). The convention is the
// classic lock file: whoever creates `updates.lock` exclusively (O_CREAT|O_EXCL: `lockfile` from procmail,
// `set -C; : > "$SKIFF_LOCK_DIR/updates.lock"`, npm's lockfile, open(..., 'wx')) holds it; deleting it releases it.
//
// The race this closes: "check that no lock is held, then stop" leaves a gap in which the service can take the lock
// and begin a critical section (a meter reading half written) that the stop then cuts. So the supervisor takes the
// lock itself, exclusively, before it stops a container and keeps it until the container is stopped: the check and
// the taking are one system call, and a service that tries to take the lock meanwhile fails and knows not to begin.
// A supervisor killed while holding the lock leaves it behind, marked as its own; the next pass removes such a
// lock before it plans (one reconciler per device, so no stop is in flight then).
//
// The same directory carries the hand-over file: a new container of a hand-over service writes
// `handover.ready` there once it can take over; only a file written after the container was created counts, so a
// file from an earlier hand-over never ends the next one early.
import { chmod, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../../lib/errors.js';
import { HANDOVER_FILE, LOCK_FILE, lockDir } from '../plan/lock-paths.js';

/** First line of a lock the supervisor holds; anything else in updates.lock is the service's. */
const SUPERVISOR_MARK = 'skiff-supervisor';

export class UpdateLockedError extends Error {
  constructor(
    readonly service: string,
    file: string,
  ) {
    super(
      `service '${service}' holds its update lock (${file}): not stopped until it releases it, or config.overrideLocks is set`,
    );
    this.name = 'UpdateLockedError';
  }
}

/** Creates the service's lock directory, writable by whatever user the service runs as. */
export async function ensureLockDir(lockRoot: string, service: string): Promise<void> {
  const dir = lockDir(lockRoot, service);
  await mkdir(dir, { recursive: true });
  // mkdir's mode is cut by the umask; a service running as another user must still be able to create its lock.
  await chmod(dir, 0o1777);
}

async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read update lock ${file}: ${messageOf(err)}`, { cause: err });
  }
}

/**
 * The services among `services` that hold their update lock. Locks the supervisor left behind when it was killed
 * while stopping a container are removed on the way.
 */
export async function heldLocks(lockRoot: string, services: Iterable<string>): Promise<Set<string>> {
  const held = new Set<string>();
  for (const service of new Set(services)) {
    const file = path.join(lockDir(lockRoot, service), LOCK_FILE);
    const content = await readIfExists(file);
    if (content === null) continue;
    if (content.startsWith(SUPERVISOR_MARK)) {
      await rm(file, { force: true });
      continue;
    }
    held.add(service);
  }
  return held;
}

/**
 * Takes the service's lock for the supervisor while `work` runs (the stop of one of its containers), then releases
 * it. Throws UpdateLockedError when the service holds it; with `override`, a lock the service holds is ignored and
 * left in place.
 */
export async function withUpdateLock<T>(
  lockRoot: string,
  service: string,
  override: boolean,
  work: () => Promise<T>,
): Promise<T> {
  const dir = lockDir(lockRoot, service);
  const file = path.join(dir, LOCK_FILE);
  await mkdir(dir, { recursive: true });
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
      throw new Error(`cannot take update lock ${file}: ${messageOf(err)}`, { cause: err });
    if (!override) throw new UpdateLockedError(service, file);
    return work();
  }
  try {
    await handle.writeFile(`${SUPERVISOR_MARK} pid ${process.pid}\n`);
  } finally {
    await handle.close();
  }
  try {
    return await work();
  } finally {
    await rm(file, { force: true });
  }
}

/** When the service last wrote its hand-over file, or null if it has not. */
export async function handoverWrittenAt(lockRoot: string, service: string): Promise<Date | null> {
  try {
    return (await stat(path.join(lockDir(lockRoot, service), HANDOVER_FILE))).mtime;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read hand-over file of service '${service}': ${messageOf(err)}`, { cause: err });
  }
}

/** Removes the hand-over file once the hand-over is done, so the directory does not collect stale signals. */
export async function clearHandover(lockRoot: string, service: string): Promise<void> {
  await rm(path.join(lockDir(lockRoot, service), HANDOVER_FILE), { force: true });
}
