// The `skiff` command tree. Global --api/--token are read by every command through session.ts.
import { Command } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerConfig } from './commands/config.js';
import { registerDeviceConfig } from './commands/device-config.js';
import { registerDeviceAdmin } from './commands/device-admin.js';
import { registerDevices } from './commands/devices.js';
import { registerFleets } from './commands/fleets.js';
import { registerKeys } from './commands/keys.js';
import { registerLocal } from './commands/local.js';
import { registerLogin } from './commands/login.js';
import { registerLogs } from './commands/logs.js';
import { registerOs } from './commands/os.js';
import { registerPush } from './commands/push.js';
import { registerReleases } from './commands/releases.js';
import { registerTokens } from './commands/tokens.js';
import { registerUsers } from './commands/users.js';
import type { Io } from './session.js';

export function buildProgram(io: Io): Command {
  const program = new Command('skiff')
    .description('Skiff fleet CLI: push releases, pin fleets, watch devices')
    .option('--api <url>', 'Skiff API base URL (else SKIFF_API_URL, else the saved login)')
    .option('--token <token>', 'API token (else SKIFF_API_TOKEN, else the saved login)')
    .showHelpAfterError('(run with --help for usage)');
  registerLogin(program, io);
  registerFleets(program, io);
  registerKeys(program, io);
  registerPush(program, io);
  registerLocal(program, io);
  registerReleases(program, io);
  registerDevices(program, io);
  registerDeviceAdmin(program, io);
  registerDeviceConfig(program, io);
  registerLogs(program, io);
  registerConfig(program, io);
  registerUsers(program, io);
  registerTokens(program, io);
  registerAudit(program, io);
  registerOs(program, io);
  return program;
}
