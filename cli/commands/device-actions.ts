// `skiff device restart|stop|start DEVICE SERVICE`, `skiff device reboot DEVICE`, `skiff device diagnose DEVICE`:
// remote actions (protocol/device-actions.ts). The API records each and tells the device through its push channel;
// these commands wait for the device's result (unless --no-wait), and diagnose downloads the bundle it uploaded.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  DEFAULT_ACTION_TTL_SECONDS,
  MAX_ACTION_TTL_SECONDS,
  MIN_ACTION_TTL_SECONDS,
  type DeviceAction,
  type DeviceActionKind,
} from '../../protocol/device-actions.js';
import type { ApiClient } from '../api-client.js';
import { clientFor, type Io } from '../session.js';
import { printable, toJson } from '../views/output.js';
import { deviceRef, kinds, newFile, oneService, recordId, wholeNumber, type Kind } from '../options/kinds.js';
import { findDevice } from './devices.js';

const POLL_MS = 1_000;
const DEFAULT_WAIT_SECONDS = 120;

interface ActionOptions {
  wait: boolean;
  timeout?: number;
  ttl?: number;
  json?: boolean;
}

function deviceCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'device') ??
    program.command('device').description('show or manage one device')
  );
}

function isOver(action: DeviceAction): boolean {
  return action.status === 'succeeded' || action.status === 'failed' || action.status === 'expired';
}

/** Polls the action until the device answered or it expired, or `timeoutSeconds` passed (then the last state). */
async function waitFor(client: ApiClient, action: DeviceAction, timeoutSeconds: number, io: Io): Promise<DeviceAction> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let now = action;
  let said = '';
  while (!isOver(now) && Date.now() < deadline) {
    const line = now.status === 'pending' ? 'waiting for the device to fetch it' : 'the device is running it';
    if (line !== said) io.stderr(`${line}...\n`);
    said = line;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    now = await client.getDeviceAction(action.device, action.id);
  }
  return now;
}

function describe(action: DeviceAction): string {
  const what = action.service === null ? action.action : `${action.action} ${action.service}`;
  return printable(
    `${what} on device ${action.device}: ${action.status}${action.message ? ` (${action.message})` : ''}`,
  );
}

/** Throws what went wrong with an action that is over or still waiting; returns for a success. */
function settle(action: DeviceAction, timeoutSeconds: number): void {
  if (action.status === 'succeeded') return;
  if (action.status === 'failed') throw new Error(`the device could not do it: ${action.message ?? 'no reason given'}`);
  if (action.status === 'expired') throw new Error(`action ${action.id} expired: ${action.message ?? ''}`);
  throw new Error(
    `action ${action.id} is still ${action.status} after ${timeoutSeconds} s; it stays until ${action.expiresAt} ` +
      `(ask again with a longer --timeout, or see \`skiff device action ${action.device} ${action.id}\`)`,
  );
}

async function ask(
  cmd: Command,
  io: Io,
  given: string,
  kind: DeviceActionKind,
  service: string | undefined,
  opts: ActionOptions,
): Promise<{ client: ApiClient; action: DeviceAction }> {
  const client = await clientFor(cmd, io);
  const device = await findDevice(client, given);
  const action = await client.createDeviceAction(device.uuid, {
    action: kind,
    ...(service === undefined ? {} : { service }),
    ttlSeconds: opts.ttl ?? DEFAULT_ACTION_TTL_SECONDS,
  });
  if (!opts.wait) return { client, action };
  const timeout = opts.timeout ?? DEFAULT_WAIT_SECONDS;
  return { client, action: await waitFor(client, action, timeout, io) };
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('--no-wait', 'return once the action is recorded, printing its id')
    .option('--timeout <seconds>', `how long to wait for the device's result (default ${DEFAULT_WAIT_SECONDS})`)
    .option(
      '--ttl <seconds>',
      `how long the action waits for an offline device before it expires (default ${DEFAULT_ACTION_TTL_SECONDS})`,
    )
    .option('--json', 'print the action as JSON');
}

/** The service as a positional argument: a bad one that starts with '-' would be read as an option first. */
const serviceArgument: Kind<string> = { ...oneService, example: { good: 'reader', bad: 'meter/reader' } };

const COMMON_KINDS = {
  '<device>': deviceRef,
  '--timeout': wholeNumber(1, 3600),
  '--ttl': wholeNumber(MIN_ACTION_TTL_SECONDS, MAX_ACTION_TTL_SECONDS),
};

export function registerDeviceActions(program: Command, io: Io): void {
  const device = deviceCommand(program);

  const serviceActions: { kind: 'restart' | 'stop' | 'start'; says: string }[] = [
    { kind: 'restart', says: "restart a service's container on the device" },
    { kind: 'stop', says: 'stop a service on the device; it stays stopped (held) until started again' },
    { kind: 'start', says: 'start a service on the device (and release a hold a stop left)' },
  ];
  for (const { kind, says } of serviceActions) {
    kinds(withCommon(device.command(`${kind} <device> <service>`).description(says)), {
      ...COMMON_KINDS,
      '<service>': serviceArgument,
    }).action(async (given: string, service: string, opts: ActionOptions, cmd: Command) => {
      const { action } = await ask(cmd, io, given, kind, service, opts);
      io.stdout(opts.json ? toJson(action) : `${opts.wait ? describe(action) : action.id}\n`);
      if (opts.wait) settle(action, opts.timeout ?? DEFAULT_WAIT_SECONDS);
    });
  }

  kinds(
    withCommon(
      device.command('reboot <device>').description('reboot the device (it reports success just before it goes down)'),
    ),
    COMMON_KINDS,
  ).action(async (given: string, opts: ActionOptions, cmd: Command) => {
    const { action } = await ask(cmd, io, given, 'reboot', undefined, opts);
    io.stdout(opts.json ? toJson(action) : `${opts.wait ? describe(action) : action.id}\n`);
    if (opts.wait) settle(action, opts.timeout ?? DEFAULT_WAIT_SECONDS);
  });

  kinds(
    device
      .command('diagnose <device>')
      .description(
        'collect a diagnostics bundle on the device (engine, disk, memory, kernel messages, connectivity, clock) ' +
          'and download it as JSON',
      )
      .option('-o, --output <file>', 'write the bundle to this file (default: print it)')
      .option('--timeout <seconds>', `how long to wait for the device (default ${DEFAULT_WAIT_SECONDS})`)
      .option(
        '--ttl <seconds>',
        `how long the request waits for an offline device (default ${DEFAULT_ACTION_TTL_SECONDS})`,
      ),
    { ...COMMON_KINDS, '--output': newFile },
  ).action(async (given: string, opts: { output?: string; timeout?: number; ttl?: number }, cmd: Command) => {
    const { client, action } = await ask(cmd, io, given, 'diagnose', undefined, { ...opts, wait: true });
    settle(action, opts.timeout ?? DEFAULT_WAIT_SECONDS);
    const bundle = await client.deviceDiagnostics(action.device, action.id);
    const text = `${JSON.stringify(bundle, null, 2)}\n`;
    if (opts.output === undefined) {
      io.stdout(text);
      return;
    }
    await writeFile(opts.output, text, { mode: 0o600 });
    io.stderr(`diagnostics of device ${action.device} written to ${opts.output} (${Buffer.byteLength(text)} bytes)\n`);
  });

  kinds(
    device
      .command('action <device> <id>')
      .description('show a remote action of the device and how it went')
      .option('--json', 'print JSON'),
    { '<device>': deviceRef, '<id>': recordId },
  ).action(async (given: string, id: string, opts: { json?: boolean }, cmd: Command) => {
    const client = await clientFor(cmd, io);
    const device = await findDevice(client, given);
    const action = await client.getDeviceAction(device.uuid, id);
    io.stdout(opts.json ? toJson(action) : `${describe(action)}\n`);
  });
}
