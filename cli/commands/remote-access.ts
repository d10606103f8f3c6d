// `skiff ssh DEVICE [-- COMMAND]` and `skiff tunnel DEVICE LOCAL:REMOTE`: the second way into a device, through the
// fleet's jump host and the device's reverse tunnel. Each run makes a throwaway key, has the API sign it (a
// certificate valid minutes, for this device only, which opens a session in the audit log), runs the system's ssh
// with ProxyJump through the jump host, and reports the session's end so the audit log has its duration.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { newOpenSshKeyPair } from '../../lib/openssh-key.js';
import type { SshCertificateAnswer } from '../../protocol/http/remote-access.js';
import type { ApiClient } from '../api-client.js';
import { configPath } from '../config.js';
import { commandWord, deviceRef, explained, kinds, text } from '../options/kinds.js';
import { clientFor, type Io } from '../session.js';
import { findDevice } from './devices.js';

interface RemoteOptions {
  user: string;
  knownHosts?: string;
  ssh: string;
}

/** LOCAL:REMOTE or LOCAL:HOST:REMOTE (HOST as the device sees it; default its loopback). */
const FORWARD = /^(\d{1,5}):(?:([A-Za-z0-9.-]{1,253}):)?(\d{1,5})$/;

interface Forward {
  text: string;
  local: number;
  host: string;
  remote: number;
}

const forwardKind = explained<Forward>(
  'forward',
  'give LOCAL:REMOTE or LOCAL:HOST:REMOTE with ports 1-65535, e.g. 8080:80',
  { good: '8080:80', bad: '8080' },
  (raw) => {
    const match = FORWARD.exec(raw);
    const local = Number(match?.[1]);
    const remote = Number(match?.[3]);
    if (match === null) return 'is not LOCAL:REMOTE or LOCAL:HOST:REMOTE';
    if (local < 1 || local > 65535 || remote < 1 || remote > 65535) return 'has a port outside 1-65535';
    return { value: { text: raw, local, host: match[2] ?? 'localhost', remote } };
  },
);

// These values are written into an ssh_config: a line break in one would add options of the caller's choosing.
const REMOTE_KINDS = {
  '--user': explained(
    'user name',
    'give a user name of letters, digits, ., _ and -, at most 32 characters, e.g. root',
    { good: 'root', bad: 'a b' },
    (raw) => (/^[A-Za-z_][A-Za-z0-9._-]{0,31}$/.test(raw) ? { value: raw } : 'is not a user name'),
  ),
  '--known-hosts': explained(
    'file path',
    'give a file path without line breaks or quotes',
    { good: '/tmp/skiff_known_hosts', bad: '' },
    (raw) =>
      raw !== '' && raw.length <= 4096 && !/[\p{Cc}"]/u.test(raw) ? { value: raw } : 'is not a usable file path',
  ),
  '--ssh': text('ssh program', 1, 4096),
};

function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** One ssh_config for both hops, so ProxyJump's own ssh (which reads the same -F file) uses the certificate too. */
function sshConfig(answer: SshCertificateAnswer, uuid: string, dir: string, options: RemoteOptions): string {
  const { jumpHost } = answer;
  const identity = [
    `  IdentityFile ${path.join(dir, 'id_ed25519')}`,
    `  CertificateFile ${path.join(dir, 'id_ed25519-cert.pub')}`,
    '  IdentitiesOnly yes',
    '  IdentityAgent none',
    '  ConnectTimeout 20',
    '  ServerAliveInterval 15',
  ];
  return [
    'Host skiff-jump',
    `  HostName ${jumpHost.host}`,
    `  Port ${jumpHost.port}`,
    `  User ${jumpHost.user}`,
    ...identity,
    `  UserKnownHostsFile ${path.join(dir, 'jump_known_hosts')}`,
    '  StrictHostKeyChecking yes',
    'Host skiff-device',
    '  HostName 127.0.0.1',
    `  Port ${answer.remotePort}`,
    `  User ${options.user}`,
    '  ProxyJump skiff-jump',
    ...identity,
    // The device's host key is learnt on first contact and held to after, under the device's own name (its port
    // on the jump host could one day be another device's).
    `  HostKeyAlias skiff-device-${uuid}`,
    `  UserKnownHostsFile ${options.knownHosts}`,
    '  StrictHostKeyChecking accept-new',
    '',
  ].join('\n');
}

/**
 * ssh's exit status; null when it was interrupted (a signal ended it, or skiff passed one on). SIGINT and SIGTERM
 * sent to `skiff` go on to ssh (a terminal's Ctrl-C reaches both anyway), so an interrupted session still ends here
 * and is reported. ssh itself exits 0 on SIGTERM, so the status alone would not say it.
 */
function runSsh(command: string, args: string[]): Promise<number | null> {
  let interrupted = false;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals): void => {
      interrupted = true;
      child.kill(signal);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const done = (): void => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    };
    child.on('error', (err) => {
      done();
      reject(new Error(`cannot run ${command} (is openssh-client installed?): ${err.message}`));
    });
    child.on('close', (code) => {
      done();
      resolve(interrupted ? null : code);
    });
  });
}

async function session(
  client: ApiClient,
  io: Io,
  given: string,
  options: RemoteOptions,
  purpose: 'ssh' | 'tunnel',
  sshArgs: (forward: string | undefined) => string[],
  forward?: string,
): Promise<void> {
  const device = await findDevice(client, given);
  const knownHosts = options.knownHosts ?? path.join(path.dirname(configPath(io.env)), 'ssh_known_hosts');
  await mkdir(path.dirname(knownHosts), { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(path.join(tmpdir(), 'skiff-ssh-'));
  try {
    const pair = newOpenSshKeyPair(`skiff ${purpose} ${device.uuid}`);
    await writeFile(path.join(dir, 'id_ed25519'), pair.privateKey, { mode: 0o600 });
    await writeFile(path.join(dir, 'id_ed25519.pub'), `${pair.publicKey}\n`, { mode: 0o600 });
    const answer = await client.issueSshCertificate(device.uuid, {
      publicKey: pair.publicKey,
      purpose,
      ...(forward === undefined ? {} : { forward }),
    });
    await writeFile(path.join(dir, 'id_ed25519-cert.pub'), `${answer.certificate}\n`, { mode: 0o600 });
    await writeFile(
      path.join(dir, 'jump_known_hosts'),
      `${knownHostName(answer.jumpHost.host, answer.jumpHost.port)} ${answer.jumpHost.hostKey}\n`,
    );
    await writeFile(path.join(dir, 'ssh_config'), sshConfig(answer, device.uuid, dir, { ...options, knownHosts }));
    io.stderr(
      `session ${answer.session}: ${device.shortId} through ${answer.jumpHost.host}:${answer.jumpHost.port}, certificate valid until ${answer.validBefore}\n`,
    );
    const code = await runSsh(options.ssh, ['-F', path.join(dir, 'ssh_config'), ...sshArgs(forward)]);
    const ended = await client.endSshSession(device.uuid, answer.session, code);
    io.stderr(
      `session ${answer.session} ended after ${ended.durationSeconds} s (${code === null ? 'interrupted' : `ssh exit ${code}`})\n`,
    );
    if (code === 255)
      io.stderr(
        `ssh could not get through. "open failed" or "stdio forwarding failed" from the jump host: device ${device.shortId}'s tunnel to it is down (its port is ${answer.remotePort}); "Permission denied": the jump host or the device does not trust this API's SSH CA (README.md, "Remote access")\n`,
      );
    // The command's own status is what a script running `skiff ssh DEVICE -- CMD` checks; an interrupted tunnel is
    // how a tunnel ends.
    if (code !== null && code !== 0) process.exitCode = code;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function remoteOptions(cmd: Command): Command {
  return cmd
    .option('--user <name>', "the user to log in as on the device (its sshd's AuthorizedPrincipalsFile)", 'root')
    .option('--known-hosts <file>', "where devices' host keys are kept (default: ssh_known_hosts beside the config)")
    .option('--ssh <program>', 'the ssh client to run', 'ssh');
}

export function registerRemoteAccess(program: Command, io: Io): void {
  kinds(
    remoteOptions(
      program
        .command('ssh <device> [command...]')
        .description(
          'a shell (or COMMAND, after --) on a device through the jump host, with a certificate valid minutes (operator, admin; audited)',
        ),
    ),
    { '<device>': deviceRef, '<command>': commandWord, ...REMOTE_KINDS },
  ).action(async (given: string, command: string[], opts: RemoteOptions, cmd: Command) => {
    const client = await clientFor(cmd, io);
    await session(client, io, given, opts, 'ssh', () => [
      ...(command.length === 0 ? ['-t'] : []),
      // Options end here: the command's own words, even ones starting with '-', are the device's to read.
      '--',
      'skiff-device',
      ...command,
    ]);
  });

  kinds(
    remoteOptions(
      program
        .command('tunnel <device> <forward>')
        .description(
          'forward LOCAL:REMOTE (or LOCAL:HOST:REMOTE as the device sees HOST) to a device through the jump host, until interrupted (operator, admin; audited)',
        ),
    ),
    { '<device>': deviceRef, '<forward>': forwardKind, ...REMOTE_KINDS },
  ).action(async (given: string, forward: Forward, opts: RemoteOptions, cmd: Command) => {
    const client = await clientFor(cmd, io);
    await session(
      client,
      io,
      given,
      opts,
      'tunnel',
      () => [
        '-N',
        '-o',
        'ExitOnForwardFailure=yes',
        '-L',
        `127.0.0.1:${forward.local}:${forward.host}:${forward.remote}`,
        'skiff-device',
      ],
      forward.text,
    );
  });
}
