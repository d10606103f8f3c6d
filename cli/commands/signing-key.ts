// `skiff signing-key`, `skiff signing-key rotate`, `skiff signing-key complete`: the API's target-signing key and its
// rotation (admins). Devices pin the key at provisioning, so it is never replaced, only rotated: the next key is
// announced inside targets signed with the current one, and devices that polled in between follow.
import type { Command } from 'commander';
import type { SigningKeyStatus } from '../../protocol/api.js';
import { toJson } from '../views/output.js';
import { clientFor, type Io } from '../session.js';

function statusText(status: SigningKeyStatus): string {
  return status.nextSigningKey === null
    ? `Targets are signed with ${status.signingKey}; no rotation runs.\n`
    : `Targets are signed with ${status.signingKey} and announce the next key ${status.nextSigningKey}.\n` +
        'Once the devices have polled (e.g. one target validity), run `skiff signing-key complete`.\n';
}

/** `--json` after `signing-key` or after its subcommand: commander gives it to the parent when both declare it. */
function jsonWanted(cmd: Command): boolean {
  return cmd.optsWithGlobals<{ json?: boolean }>().json === true;
}

export function registerSigningKey(program: Command, io: Io): void {
  const key = program
    .command('signing-key')
    .description("show the API's target-signing key and the rotation running, if any (admin)")
    .option('--json', 'print JSON')
    .action(async (_opts: unknown, cmd: Command) => {
      const json = jsonWanted(cmd);
      const status = await (await clientFor(cmd, io)).signingKeyStatus();
      io.stdout(json ? toJson(status) : statusText(status));
    });
  key
    .command('rotate')
    .description('start a rotation: a next key is made and announced in every target (repeating changes nothing)')
    .option('--json', 'print JSON')
    .action(async (_opts: unknown, cmd: Command) => {
      const status = await (await clientFor(cmd, io)).rotateSigningKey();
      io.stdout(jsonWanted(cmd) ? toJson(status) : statusText(status));
    });
  key
    .command('complete')
    .description(
      'sign with the next key from now on; a device that did not poll during the rotation must be provisioned again',
    )
    .option('--json', 'print JSON')
    .action(async (_opts: unknown, cmd: Command) => {
      const status = await (await clientFor(cmd, io)).completeSigningKeyRotation();
      io.stdout(jsonWanted(cmd) ? toJson(status) : statusText(status));
    });
}
