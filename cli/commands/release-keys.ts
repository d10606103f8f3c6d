// `skiff release-key create|show`: the developer's own release key, kept on this machine; `skiff push` signs with it.
// `skiff release-keys list|add|remove FLEET`: the release keys a fleet trusts (admin). Every change is a new key-set
// document signed here, with the admin's own release key, so devices can check it came from a key they trust.
import type { Command } from 'commander';
import { keyIdOf, keySetDocument, signKeySet, type ReleaseKeys } from '../../protocol/release-signature.js';
import { decodePublicKey } from '../../protocol/signature.js';
import { createReleaseKey, defaultReleaseKeyFile, readReleaseKey } from '../push/release-signing.js';
import { renderTable, toJson } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import { fleetName, kinds, newFile, readableFile, releaseKey, UsageError } from '../options/kinds.js';

interface KeyFileOptions {
  file?: string;
  json?: boolean;
}

function releaseKeysText(keys: ReleaseKeys): string {
  if (keys.version === 0) return `Fleet ${keys.fleet} trusts no release key: it takes unsigned releases.\n`;
  return (
    `Fleet ${keys.fleet}, release key set version ${keys.version}` +
    ` (signed by ${keys.keySet?.signature.keyId ?? 'nobody'}):\n` +
    renderTable(
      ['KEY ID', 'PUBLIC KEY'],
      keys.keys.map((k) => [k.keyId, k.publicKey]),
    )
  );
}

async function signerOf(file: string | undefined, io: Io) {
  const chosen = file ?? defaultReleaseKeyFile(io.env);
  const found = await readReleaseKey(chosen);
  if (found === null)
    throw new Error(
      `there is no release key at ${chosen} to sign the fleet's new key set with (create one: skiff release-key create; or give --sign-with FILE)`,
    );
  return found;
}

export function registerReleaseKeys(program: Command, io: Io): void {
  const mine = program.command('release-key').description('your own release key, which `skiff push` signs with');

  kinds(
    mine
      .command('create')
      .description('make a new Ed25519 release key on this machine and print its public key (for an admin to add)')
      .option('--file <file>', 'where to keep the private key (default: beside the CLI config, release-key.pem)')
      .option('--json', 'print JSON'),
    { '--file': newFile },
  ).action(async (opts: KeyFileOptions) => {
    const info = await createReleaseKey(opts.file ?? defaultReleaseKeyFile(io.env));
    io.stdout(opts.json ? toJson(info) : `${info.publicKey}\n`);
    io.stderr(
      `Release key ${info.keyId} created in ${info.file} (mode 0600). Keep it there, or somewhere safer: whoever holds it ` +
        `can sign releases. An admin adds its public key to a fleet with: skiff release-keys add FLEET ${info.publicKey}\n`,
    );
  });

  kinds(
    mine
      .command('show')
      .description('print the public key and key id of your release key')
      .option('--file <file>', 'the private key file (default: beside the CLI config, release-key.pem)')
      .option('--json', 'print JSON'),
    { '--file': readableFile },
  ).action(async (opts: KeyFileOptions) => {
    const file = opts.file ?? defaultReleaseKeyFile(io.env);
    const found = await readReleaseKey(file);
    if (found === null) throw new Error(`there is no release key at ${file} (create one: skiff release-key create)`);
    io.stdout(opts.json ? toJson(found.info) : `${found.info.publicKey}\nkey id ${found.info.keyId}\n`);
  });

  const fleetKeys = program
    .command('release-keys')
    .description('list, add or remove the release keys a fleet trusts (changing them: admin)');

  kinds(
    fleetKeys
      .command('list <fleet>')
      .description('the release keys the fleet trusts; with none it takes unsigned releases')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName },
  ).action(async (fleet: string, opts: { json?: boolean }, cmd: Command) => {
    const keys = await (await clientFor(cmd, io)).getReleaseKeys(fleet);
    io.stdout(opts.json ? toJson(keys) : releaseKeysText(keys));
  });

  kinds(
    fleetKeys
      .command('add <fleet> <key>')
      .description(
        'trust a release key for the fleet; the new set is signed with your release key, which the fleet must trust ' +
          'already (or, for the first key, be that key). From then on the fleet refuses unsigned releases',
      )
      .option('--sign-with <file>', 'your release key file (default: beside the CLI config, release-key.pem)')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName, '<key>': releaseKey, '--sign-with': readableFile },
  ).action(async (fleet: string, key: string, opts: { signWith?: string; json?: boolean }, cmd: Command) => {
    if (/^[a-f0-9]{64}$/.test(key))
      throw new UsageError(
        '<key>: give the public key itself (base64) to add, not its key id',
        '<key>',
        'skiff release-keys add',
      );
    const publicKey = decodePublicKey(key, 'the release key to add');
    const signer = await signerOf(opts.signWith, io);
    const client = await clientFor(cmd, io);
    const current = await client.getReleaseKeys(fleet);
    const keys = current.keys.map((k) => k.publicKey);
    const id = keyIdOf(publicKey);
    if (current.keys.some((k) => k.keyId === id)) throw new Error(`fleet ${fleet} trusts release key ${id} already`);
    const next = keySetDocument(fleet, current.version + 1, [...keys, key]);
    const changed = await client.putReleaseKeys(fleet, signKeySet(signer.key, next));
    io.stdout(opts.json ? toJson(changed) : releaseKeysText(changed));
  });

  kinds(
    fleetKeys
      .command('remove <fleet> <key>')
      .description('stop trusting a release key (by public key or key id); the new set is signed with your release key')
      .option('--sign-with <file>', 'your release key file (default: beside the CLI config, release-key.pem)')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName, '<key>': releaseKey, '--sign-with': readableFile },
  ).action(async (fleet: string, key: string, opts: { signWith?: string; json?: boolean }, cmd: Command) => {
    const signer = await signerOf(opts.signWith, io);
    const client = await clientFor(cmd, io);
    const current = await client.getReleaseKeys(fleet);
    const kept = current.keys.filter((k) => k.keyId !== key && k.publicKey !== key);
    if (kept.length === current.keys.length) throw new Error(`fleet ${fleet} does not trust release key ${key}`);
    if (kept.length === 0)
      throw new Error(
        `release key ${key} is the last one fleet ${fleet} trusts; add its successor first (a fleet cannot go back to unsigned releases this way)`,
      );
    const next = keySetDocument(
      fleet,
      current.version + 1,
      kept.map((k) => k.publicKey),
    );
    const changed = await client.putReleaseKeys(fleet, signKeySet(signer.key, next));
    io.stdout(opts.json ? toJson(changed) : releaseKeysText(changed));
  });
}
