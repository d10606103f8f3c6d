// Where the files a release carries and the services' state folders are on the device, and how they are bound into
// containers: the planner binds them (container-config.ts), ../images/release-files.ts writes the files there. Plain
// strings, so the planner needs no filesystem module.
//
// A mount's folder is named by a hash of its content (digests, paths, mode, owner), so a release that ships the
// same files reuses the folder and leaves its containers as they are, while a changed file gives a new folder and
// recreates exactly the containers that mount it.
import { canonicalJson, sha256Hex } from '../../protocol/canonical-json.js';
import type { FileMount, ServiceSpec, StateDirectory } from '../../protocol/target-state.js';

function join(root: string, ...parts: string[]): string {
  return [root.endsWith('/') ? root.slice(0, -1) : root, ...parts].join('/');
}

/** The content hash naming a mount's folder: what is written, not where it goes in the container. */
export function fileMountKey(mount: FileMount): string {
  const { directory, files, mode, uid, gid } = mount;
  return sha256Hex(canonicalJson({ directory, files, mode, uid: uid ?? null, gid: gid ?? null }));
}

/** <filesRoot>/<key>: the folder a mount's files are written into. */
export function fileMountDir(filesRoot: string, mount: FileMount): string {
  return join(filesRoot, fileMountKey(mount));
}

/** The host path bound at the mount's target: the one file, or the folder of files. */
export function fileMountSource(filesRoot: string, mount: FileMount): string {
  return join(fileMountDir(filesRoot, mount), mount.directory ? 'dir' : 'file');
}

/**
 * <stateRoot>/<service>/<name>: the service's persistent folder. The name is a relative path without '.' or '..'
 * segments (protocol/target-state.ts), so it stays under the service's folder.
 */
export function stateDirSource(stateRoot: string, service: string, state: StateDirectory): string {
  return join(stateRoot, service, state.name);
}

/**
 * Binds (read-only files; state folders as the compose file says) for the service's files and state folders. They
 * are outside the config hash (what is mounted is in it, as a label), so callers that only compare hashes (the state
 * report) pass no roots and get none; the reconciler always passes both.
 */
export function releaseFileBinds(
  spec: ServiceSpec,
  roots: { filesRoot?: string | undefined; stateRoot?: string | undefined },
): string[] {
  const { filesRoot, stateRoot } = roots;
  return [
    ...(filesRoot === undefined
      ? []
      : (spec.files ?? []).map((mount) => `${fileMountSource(filesRoot, mount)}:${mount.target}:ro`)),
    ...(stateRoot === undefined
      ? []
      : (spec.stateDirectories ?? []).map(
          (state) => `${stateDirSource(stateRoot, spec.name, state)}:${state.target}${state.readOnly ? ':ro' : ''}`,
        )),
  ];
}
