// Where a pushed compose file's variables and env files come from, as with `docker compose`: the environment of the
// command, then the `.env` file next to the compose file for what the environment does not set; env_file paths are
// relative to the compose file's folder. Read here, on the developer's machine; see protocol/compose/resolution.ts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { ComposeIssue, type ComposePath } from '../../protocol/compose/path.js';
import { resolveCompose } from '../../protocol/compose/resolution.js';

function readDotenv(file: string): Record<string, string> | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  return parseEnv(text) as Record<string, string>;
}

/** The compose text with variables and env files resolved for the compose file in `composeDir`. */
export function resolveComposeForPush(text: string, composeDir: string, env: NodeJS.ProcessEnv): string {
  const dotenv = readDotenv(path.join(composeDir, '.env')) ?? {};
  const variables: Record<string, string | undefined> = { ...dotenv };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) variables[key] = value;
  return resolveCompose(text, {
    variables,
    readEnvFile: (file: string, at: ComposePath) => {
      const full = path.resolve(composeDir, file);
      const entries = readDotenv(full);
      if (entries === undefined) throw new ComposeIssue(at, `env file ${full} does not exist`);
      return entries;
    },
    readComposeFile: (file: string, at: ComposePath) => {
      const full = path.resolve(composeDir, file);
      try {
        return readFileSync(full, 'utf8');
      } catch (err) {
        throw new ComposeIssue(at, `cannot read ${full}: ${(err as Error).message}`);
      }
    },
  });
}
