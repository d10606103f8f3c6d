// `skiff device config|set|update-now|override-locks`: one device's settings over its fleet's. Added to the
// `device` command that commands/devices.ts creates.
import type { Command } from 'commander';
import type { DeviceConfigView, SettingName } from '../../protocol/fleet-config.js';
import { renderFields, toJson } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import {
  addSettingsOptions,
  settingsChangeOf,
  settingsFields,
  type SettingsOptions,
  someChange,
} from '../options/settings.js';
import { deviceRef, kinds, many, onOff, oneOf, wholeNumber } from '../options/kinds.js';

const INHERITABLE: Readonly<Record<string, SettingName>> = {
  'poll-interval': 'pollIntervalSeconds',
  window: 'updateWindow',
  'bandwidth-cap': 'bandwidthCapBytesPerSecond',
  'bandwidth-schedule': 'bandwidthSchedule',
  'update-now': 'forceUpdateUntil',
  'override-locks': 'overrideLocks',
  'metrics-interval': 'metricsIntervalSeconds',
  'data-budget': 'dataBudgetBytesPerMonth',
};

const inheritable = many(oneOf('setting', Object.keys(INHERITABLE)));

function deviceCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'device') ??
    program.command('device').description('show or manage one device')
  );
}

function configText(view: DeviceConfigView): string {
  const own = new Set(Object.keys(view.settings));
  const from = (field: SettingName): string => (own.has(field) ? ' (device)' : '');
  const e = view.effective;
  const fields = settingsFields(e).map(([label, value], i): [string, string | number | null] => {
    const field = (
      [
        'updateWindow',
        'bandwidthCapBytesPerSecond',
        'bandwidthSchedule',
        'forceUpdateUntil',
        'overrideLocks',
        'metricsIntervalSeconds',
        'dataBudgetBytesPerMonth',
      ] as const
    )[i]!;
    return [label, value === null ? null : `${value}${from(field)}`];
  });
  return renderFields([
    ['Device', view.uuid],
    ['Fleet', view.fleet],
    ['Poll interval', `${e.pollIntervalSeconds}s${from('pollIntervalSeconds')}`],
    ...fields,
    ['Config vars', Object.keys(e.env).length === 0 ? null : Object.keys(e.env).sort().join(', ')],
  ]);
}

export function registerDeviceConfig(program: Command, io: Io): void {
  const device = deviceCommand(program);

  kinds(
    device
      .command('config <uuid>')
      .description("show what a device gets: its own settings over its fleet's, and its config vars")
      .option('--json', 'print JSON'),
    { '<uuid>': deviceRef },
  ).action(async (uuid: string, opts: { json?: boolean }, cmd: Command) => {
    const view = await (await clientFor(cmd, io)).deviceConfig(uuid);
    io.stdout(opts.json ? toJson(view) : configText(view));
  });

  kinds(
    addSettingsOptions(device.command('set <uuid>').description("override the fleet's settings for one device"))
      .option(
        '--inherit <setting>',
        `follow the fleet again for a setting (${Object.keys(INHERITABLE).join(', ')}); repeatable`,
      )
      .option('--json', 'print JSON'),
    { '<uuid>': deviceRef, '--inherit': inheritable },
  ).action(async (uuid: string, opts: SettingsOptions & { inherit?: string[]; json?: boolean }, cmd: Command) => {
    const inherit = opts.inherit?.map((name) => INHERITABLE[name]!);
    const change = someChange({ ...settingsChangeOf(opts), ...(inherit ? { inherit } : {}) });
    const view = await (await clientFor(cmd, io)).updateDeviceConfig(uuid, change);
    io.stdout(opts.json ? toJson(view) : configText(view));
  });

  kinds(
    device
      .command('update-now <uuid>')
      .description('let the device update now, whatever its update window (for an hour by default)')
      .option('--minutes <minutes>', 'how long the window is ignored')
      .option('--json', 'print JSON'),
    { '<uuid>': deviceRef, '--minutes': wholeNumber(1, 10_080) },
  ).action(async (uuid: string, opts: { minutes?: number; json?: boolean }, cmd: Command) => {
    const view = await (await clientFor(cmd, io)).deviceUpdateNow(uuid, opts.minutes);
    io.stdout(
      opts.json
        ? toJson(view)
        : `Device ${view.uuid}: updates apply now, window ignored until ${view.effective.forceUpdateUntil ?? '?'}\n`,
    );
  });

  kinds(
    device
      .command('override-locks <uuid> <state>')
      .description("on: the device ignores its services' update locks; off: it honours them again")
      .option('--json', 'print JSON'),
    { '<uuid>': deviceRef, '<state>': onOff },
  ).action(async (uuid: string, state: string, opts: { json?: boolean }, cmd: Command) => {
    const view = await (await clientFor(cmd, io)).updateDeviceConfig(uuid, { overrideLocks: state === 'on' });
    io.stdout(
      opts.json
        ? toJson(view)
        : `Device ${view.uuid}: update locks ${view.effective.overrideLocks ? 'overridden' : 'honoured'}\n`,
    );
  });
}
