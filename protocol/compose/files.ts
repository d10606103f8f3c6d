// Files that travel with a release: relative bind sources and compose configs/secrets backed by files. A device has
// no project folder, so `skiff push` reads them on the developer's machine and packs each file as a content-addressed
// blob; the release names every file by digest (so a release signature covers them), and the device writes them
// read-only under its data directory, one copy per release.
//
// The rule for relative binds (README, "Compose support"):
// - a file, or a folder with files in it: content, carried by the release and bound read-only;
// - a folder that is missing or empty at push (the compose idiom `./data:/data`): state, a persistent folder per
//   service on the device that survives releases.
//
// The normaliser stays pure: what is at each relative path comes from a LocalSources function, which `skiff push`
// backs with the file system and the API with the facts the push sent.
import path from 'node:path/posix';
import { Type, type Static } from '@sinclair/typebox';
import {
  FileDigestSchema,
  MAX_FILES_PER_MOUNT,
  type FileMount,
  type StateDirectory,
  type VolumeMount,
} from '../target-state.js';
import { ComposeIssue, type ComposePath } from './path.js';
import type { Json, JsonObject } from './service-fields.js';

/** Largest file a release carries: configuration, not data; a larger one belongs in an image or a volume. */
export const MAX_RELEASE_FILE_BYTES = 1024 * 1024;
/** Largest total of one release's files. */
export const MAX_RELEASE_FILES_TOTAL_BYTES = 16 * 1024 * 1024;
/** Most project paths one release names (binds, configs, secrets). */
export const MAX_LOCAL_SOURCES = 128;

const Size = Type.Integer({ minimum: 0, maximum: MAX_RELEASE_FILE_BYTES });

/** One file of a packed source: its path inside the folder ('' for a single file), digest and size. */
export const PackedFileSchema = Type.Object(
  { path: Type.String({ maxLength: 1024 }), digest: FileDigestSchema, size: Size },
  { additionalProperties: false },
);
export type PackedFile = Static<typeof PackedFileSchema>;

/** What `skiff push` found at a relative path of the project folder, as it tells the API. */
export const LocalSourceSchema = Type.Union([
  Type.Object({ kind: Type.Literal('file'), digest: FileDigestSchema, size: Size }, { additionalProperties: false }),
  Type.Object(
    {
      kind: Type.Literal('directory'),
      files: Type.Array(PackedFileSchema, { maxItems: MAX_FILES_PER_MOUNT }),
    },
    { additionalProperties: false },
  ),
  Type.Object({ kind: Type.Literal('missing') }, { additionalProperties: false }),
]);
export type LocalSource = Static<typeof LocalSourceSchema>;

/** Project path ('config', 'conf/app.ini') to what is there: the `files` of a release request. */
export const LocalSourcesSchema = Type.Record(Type.String({ minLength: 1, maxLength: 1024 }), LocalSourceSchema, {
  maxProperties: MAX_LOCAL_SOURCES,
});

/** What is at a project-relative path ('config', 'conf/app.ini'); undefined: not known (it was not packed). */
export type LocalSources = (projectPath: string) => LocalSource | undefined;

/** './config/' -> 'config'; refuses paths that leave the project folder, which a release does not carry. */
export function projectPath(source: string, at: ComposePath): string {
  if (source.startsWith('~')) {
    throw new ComposeIssue(
      at,
      `host path '${source}' is in your home folder; a release carries only the compose file's folder: move it there`,
    );
  }
  const normal = path.normalize(source).replace(/\/+$/, '');
  if (normal === '.' || normal === '' || normal === '..' || normal.startsWith('../')) {
    throw new ComposeIssue(
      at,
      `host path '${source}' is not inside the compose file's folder; a release carries only that folder's files`,
    );
  }
  return normal;
}

/** The facts about `source`, or an issue saying the file was not packed (a release not pushed by `skiff push`). */
function lookUp(sources: LocalSources | undefined, source: string, at: ComposePath): LocalSource {
  const found = sources?.(projectPath(source, at));
  if (found === undefined) {
    throw new ComposeIssue(
      at,
      `'${source}' is a file of the project folder, which was not sent with the release: push with \`skiff push\`, ` +
        'which packs it',
    );
  }
  return found;
}

/**
 * Splits a service's mounts: relative binds become file mounts (content) or state directories (missing or empty
 * folders); every other mount is kept as it is.
 */
export function relativeBinds(
  volumes: readonly VolumeMount[],
  sources: LocalSources | undefined,
  at: ComposePath,
  report: (issue: ComposeIssue) => void,
): { volumes: VolumeMount[]; files: FileMount[]; state: StateDirectory[] } {
  const out = { volumes: [] as VolumeMount[], files: [] as FileMount[], state: [] as StateDirectory[] };
  volumes.forEach((mount, i) => {
    if (mount.type !== 'bind' || mount.source === undefined || mount.source.startsWith('/')) {
      out.volumes.push(mount);
      return;
    }
    const here = [...at, i];
    try {
      const found = lookUp(sources, mount.source, here);
      const name = projectPath(mount.source, here);
      if (found.kind === 'missing' || (found.kind === 'directory' && found.files.length === 0)) {
        out.state.push({ name, target: mount.target, readOnly: mount.readOnly });
      } else {
        out.files.push({
          kind: 'bind',
          source: name,
          target: mount.target,
          directory: found.kind === 'directory',
          files: found.kind === 'directory' ? found.files : [{ path: '', digest: found.digest, size: found.size }],
          mode: 0o444,
        });
      }
    } catch (err) {
      if (!(err instanceof ComposeIssue)) throw err;
      report(err);
    }
  });
  return out;
}

export type FileKind = 'config' | 'secret';

/** The top-level `configs` or `secrets`: each name to its project-relative file. */
export function fileDeclarations(
  value: Json | undefined,
  kind: FileKind,
  report: (issue: ComposeIssue) => void,
): Map<string, string> {
  const out = new Map<string, string>();
  const section = `${kind}s`;
  for (const [name, raw] of Object.entries((value ?? {}) as Record<string, JsonObject | null>)) {
    const at = [section, name];
    const definition = raw ?? {};
    for (const key of Object.keys(definition)) {
      if (key.startsWith('x-') || key === 'file' || key === 'name' || key === 'labels') continue;
      report(new ComposeIssue([...at, key], FILE_KEY_REFUSED[key] ?? 'is not supported by Skiff'));
    }
    if (typeof definition.file !== 'string') {
      if (Object.keys(definition).every((k) => k === 'name' || k === 'labels' || k.startsWith('x-')))
        report(new ComposeIssue(at, `a ${kind} needs \`file\`: the file in the project folder it is read from`));
      continue;
    }
    out.set(name, definition.file);
  }
  return out;
}

/** Why a key of a top-level config or secret is refused. */
export const FILE_KEY_REFUSED: Readonly<Record<string, string>> = {
  external: 'names a swarm config or secret already on the engine; devices run no swarm: use `file`',
  content: 'is not supported by Skiff yet: write the content to a file of the project folder and use `file`',
  environment: 'is not supported by Skiff yet: write the value to a file of the project folder and use `file`',
  template_driver: 'is a swarm setting: a device runs one engine, not a swarm',
  driver: 'is a swarm setting: a device runs one engine, not a swarm',
  driver_opts: 'is a swarm setting: a device runs one engine, not a swarm',
};

/** A service's `configs` or `secrets` as file mounts: compose's defaults for target and mode. */
export function serviceFiles(
  value: Json,
  kind: FileKind,
  declared: ReadonlyMap<string, string>,
  sources: LocalSources | undefined,
  at: ComposePath,
  report: (issue: ComposeIssue) => void,
): FileMount[] {
  const out: FileMount[] = [];
  (value as Json[]).forEach((entry, i) => {
    const here = [...at, i];
    try {
      const long = typeof entry === 'string' ? { source: entry } : (entry as JsonObject);
      const name = String(long.source);
      const file = declared.get(name);
      if (file === undefined)
        throw new ComposeIssue(here, `${kind} '${name}' is not declared under the top-level ${kind}s`);
      const found = lookUp(sources, file, [`${kind}s`, name, 'file']);
      if (found.kind !== 'file') {
        throw new ComposeIssue(
          [`${kind}s`, name, 'file'],
          `'${file}' is ${found.kind === 'missing' ? 'missing' : 'a folder'}; a ${kind} is one file`,
        );
      }
      const written = typeof long.target === 'string' && long.target !== '' ? long.target : name;
      // Compose's defaults: configs at /<name>, secrets under /run/secrets (a relative target there too).
      const target = written.startsWith('/') ? written : kind === 'secret' ? `/run/secrets/${written}` : `/${written}`;
      out.push({
        kind,
        source: name,
        target,
        directory: false,
        files: [{ path: '', digest: found.digest, size: found.size }],
        mode: long.mode === undefined ? (kind === 'secret' ? 0o400 : 0o444) : modeOf(long.mode, [...here, 'mode']),
        ...idOf(long.uid, 'uid', [...here, 'uid']),
        ...idOf(long.gid, 'gid', [...here, 'gid']),
      });
    } catch (err) {
      if (!(err instanceof ComposeIssue)) throw err;
      report(err);
    }
  });
  return out;
}

/** A string is octal ("0440"), as compose reads it; a YAML number is taken as written (0o440 or 288). */
function modeOf(value: Json, at: ComposePath): number {
  const mode = typeof value === 'string' ? Number.parseInt(value, 8) : value;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o777)
    throw new ComposeIssue(at, `'${String(value)}' is not a file mode (e.g. "0440")`);
  return mode;
}

function idOf(value: Json | undefined, key: 'uid' | 'gid', at: ComposePath): { uid?: number; gid?: number } {
  if (value === undefined) return {};
  const id = typeof value === 'string' && /^[0-9]{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(id)) throw new ComposeIssue(at, `'${String(value)}' is not a numeric ${key}`);
  return { [key]: id };
}
