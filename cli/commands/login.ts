// `skiff login`: proves the API answers and accepts the token, then remembers both for later commands.
import type { Command } from 'commander';
import { ApiClient } from '../api-client.js';
import { configPath, normalizeApiUrl, writeConfigFile } from '../config.js';
import { configFor, type Io } from '../session.js';
import { UsageError } from '../options/kinds.js';

export function registerLogin(program: Command, io: Io): void {
  program
    .command('login')
    .description('check and save the API URL and token (give them with the global --api and --token)')
    .action(async (_opts: unknown, cmd: Command) => {
      const config = await configFor(cmd, io);
      if (config.apiUrl === null || config.apiToken === null) {
        throw new UsageError(
          `${config.apiUrl === null ? '--api' : '--token'}: login needs both --api URL and --token TOKEN`,
          config.apiUrl === null ? '--api' : '--token',
          'skiff login',
        );
      }
      const apiUrl = normalizeApiUrl(config.apiUrl.value);
      const client = new ApiClient({ baseUrl: apiUrl, token: config.apiToken.value });
      const info = await client.info();
      // GET info is public; listing fleets is the cheapest call that proves the token is accepted.
      await client.listFleets();
      const file = configPath(io.env);
      await writeConfigFile(file, { apiUrl, apiToken: config.apiToken.value });
      io.stdout(
        `Logged in to ${apiUrl} (skiff ${info.version}, registry ${info.registry ?? 'none'}); saved to ${file}\n`,
      );
    });
}
