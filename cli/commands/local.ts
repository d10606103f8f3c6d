// `skiff local status DEVICE` and `skiff local leave DEVICE`: one device's local mode, through its local API
// (`skiff push --local` enters it). DEVICE is the local API's address: HOST[:PORT], port 48484 by default.
import { type Command, Option } from 'commander';
import { LocalApiClient, resolveLocalKey, type KeyOptions } from '../local/client.js';
import { localStateView } from '../views/local.js';
import { toJson } from '../views/output.js';
import type { Io } from '../session.js';
import { deviceAddress, kinds, localKey, readableFile } from '../options/kinds.js';

/** The key options every local-API command takes. */
export function withKeyOptions(command: Command): Command {
  return kinds(
    command
      .addOption(
        new Option('--key <key>', "the device's local API key (else --key-file, else SKIFF_LOCAL_API_KEY)").conflicts(
          'keyFile',
        ),
      )
      .option('--key-file <file>', "file holding the key (a copy of the device's DATA_DIR/local-api.key)"),
    { '--key': localKey, '--key-file': readableFile },
  );
}

export async function localClient(address: string, opts: KeyOptions, io: Io): Promise<LocalApiClient> {
  return new LocalApiClient(address, await resolveLocalKey(opts, io.env));
}

export function registerLocal(program: Command, io: Io): void {
  const local = program
    .command('local')
    .description("one device's local mode, through its local API (enter it with `skiff push --local DEVICE DIR`)");

  kinds(
    withKeyOptions(
      local
        .command('status <device>')
        .description('what the device at HOST[:PORT] runs, and whether it is in local mode'),
    ).option('--json', "print the device's answer as JSON"),
    { '<device>': deviceAddress },
  ).action(async (address: string, opts: KeyOptions & { json?: boolean }) => {
    const state = await (await localClient(address, opts, io)).state();
    io.stdout(opts.json ? toJson(state) : localStateView(state));
  });

  kinds(
    withKeyOptions(
      local
        .command('leave <device>')
        .description('end local mode on the device at HOST[:PORT]: it goes back to its fleet target'),
    ),
    { '<device>': deviceAddress },
  ).action(async (address: string, opts: KeyOptions) => {
    const device = await localClient(address, opts, io);
    if (await device.leave())
      io.stdout(`Device at ${device.baseUrl} left local mode and goes back to its fleet target.\n`);
    else io.stdout(`Device at ${device.baseUrl} was not in local mode; nothing to leave.\n`);
  });
}
