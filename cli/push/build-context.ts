// Which files of a build context go to the engine: everything the context's .dockerignore does not exclude,
// with Docker's rules (last match wins, `!` re-includes, a match on a folder covers what is inside, `**` spans
// folders). Excluded folders are not walked unless a `!` rule could bring something back from inside them.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface IgnoreRule {
  pattern: string;
  negated: boolean;
  regex: RegExp;
}

function patternToRegex(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i += 1;
        if (pattern[i + 1] === '/') i += 1;
        out += i + 1 >= pattern.length ? '.*' : '(?:.*/)?';
      } else {
        out += '[^/]*';
      }
    } else if (ch === '?') {
      out += '[^/]';
    } else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) {
        out += '\\[';
      } else {
        out += `[${pattern
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (ch === '\\' && i + 1 < pattern.length) {
      i += 1;
      out += pattern[i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else {
      out += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${out}$`);
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    let line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    if (negated) line = line.slice(1).trim();
    const pattern = path.posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    if (pattern === '' || pattern === '.') continue;
    rules.push({ pattern, negated, regex: patternToRegex(pattern) });
  }
  return rules;
}

/** True when `relPath` ('/'-separated, relative to the context) is excluded, by itself or by a parent folder. */
export function isExcluded(rules: IgnoreRule[], relPath: string): boolean {
  const parts = relPath.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const rule of rules) {
    if (prefixes.some((p) => rule.regex.test(p))) excluded = !rule.negated;
  }
  return excluded;
}

/**
 * The context's files (and empty folders) to send, '/'-separated and sorted. Symlinks are listed, not
 * followed, as `docker build` sends them.
 */
export async function listContextFiles(context: string, dockerfile: string): Promise<string[]> {
  let ignoreText = '';
  try {
    ignoreText = await readFile(path.join(context, '.dockerignore'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const rules = parseDockerignore(ignoreText);
  if (isExcluded(rules, dockerfile)) {
    // dockerode applies the same .dockerignore to the list it packs, so the Dockerfile would never arrive.
    throw new Error(
      `${path.join(context, '.dockerignore')} excludes the Dockerfile ${dockerfile}; skiff push needs it sent`,
    );
  }
  const canReinclude = rules.some((r) => r.negated);
  const files: string[] = [];

  async function walk(relDir: string, dirExcluded: boolean): Promise<void> {
    const entries = await readdir(path.join(context, relDir), { withFileTypes: true });
    if (entries.length === 0 && relDir !== '' && !dirExcluded) files.push(relDir);
    for (const entry of entries) {
      const rel = relDir === '' ? entry.name : `${relDir}/${entry.name}`;
      const excluded = isExcluded(rules, rel);
      if (entry.isDirectory()) {
        if (!excluded || canReinclude) await walk(rel, excluded);
      } else if (!excluded) {
        files.push(rel);
      }
    }
  }

  try {
    await walk('', false);
  } catch (err) {
    throw new Error(`cannot read the build context ${context}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return files.sort();
}
