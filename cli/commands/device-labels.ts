// Who has which box: `skiff device label DEVICE...` prints labels (short id, a QR code of the device's page, its
// fleet), `skiff device commission DEVICE` records whose it is, where it hangs and which meter it reads. DEVICE of
// commission may be what the label's QR code holds, so an installer's phone scan is all it takes.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { MeterSerialSchema, UpdateDeviceRequestSchema, type UpdateDeviceRequest } from '../../protocol/api.js';
import type { DeviceDetail } from '../../protocol/device-detail.js';
import { configFor, clientFor, type Io } from '../session.js';
import { normalizeApiUrl } from '../config.js';
import { printable, toJson } from '../views/output.js';
import { apiUrl, kinds, newFile, schemaText, type Kind } from '../options/kinds.js';
import { findDevice } from './devices.js';
import { deviceFromLabel, deviceUrl, labelPng, labelsPdf, type LabelContent } from '../labels/render.js';

/** A device as typed (uuid, short id, a unique start) or as its label's QR code holds it (the page address). */
const deviceOrLabel: Kind<string> = {
  noun: 'device id or label address',
  allowed: "give the device's uuid, short id (or the start of either), or the address its label's QR code holds",
  read(raw) {
    const found = deviceFromLabel(raw);
    return found === null
      ? { ok: false, why: 'is neither a device id nor a device page address' }
      : { ok: true, value: found };
  },
  example: { good: 'https://skiff.example.com/devices/AB12CD34', bad: 'ftp://x/y' },
};
const deviceOrLabelMany: Kind<string> = { ...deviceOrLabel, many: true };

const commissioned = UpdateDeviceRequestSchema.properties;
const customerText = schemaText('customer', { ...commissioned.customer.anyOf[0] }, { good: 'acme', bad: '' });
const siteText = schemaText('site', { ...commissioned.site.anyOf[0] }, { good: 'north roof', bad: '' });
const addressText = schemaText('address', { ...commissioned.address.anyOf[0] }, { good: 'Main St 1', bad: '' });
const meterSerialText = schemaText('meter serial', MeterSerialSchema, { good: 'E0012345678901234', bad: 'has space' });

function deviceCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'device') ??
    program.command('device').description('show or manage one device')
  );
}

export function registerDeviceLabels(program: Command, io: Io): void {
  const device = deviceCommand(program);

  kinds(
    device
      .command('label <devices...>')
      .description(
        "print labels for devices: the short id large, a QR code of the device's page, its fleet and name " +
          '(a PDF, one label of 90 x 40 mm per page; --png: the QR codes as PNG files)',
      )
      .option('-o, --output <path>', 'the PDF file to write (default labels.pdf); with --png, the folder (default .)')
      .option('--png', "write each device's QR code as <short id>.png instead of a PDF")
      .option(
        '--base-url <url>',
        "the address devices' pages live under (your dashboard); default the API URL the CLI uses",
      ),
    { '<devices>': deviceOrLabelMany, '--output': newFile, '--base-url': apiUrl },
  ).action(async (given: string[], opts: { output?: string; png?: boolean; baseUrl?: string }, cmd: Command) => {
    const client = await clientFor(cmd, io);
    const config = await configFor(cmd, io);
    const base = normalizeApiUrl(opts.baseUrl ?? config.apiUrl?.value ?? '');
    const devices: DeviceDetail[] = [];
    // One at a time, in the order given: the labels come out in the order the installer lists the boxes.
    for (const one of given) devices.push(await findDevice(client, one));
    const labels: LabelContent[] = devices.map((d) => ({
      shortId: d.shortId ?? d.uuid,
      url: deviceUrl(base, d.shortId ?? d.uuid),
      fleet: d.fleet,
      name: d.name,
    }));
    if (opts.png === true) {
      const dir = opts.output ?? '.';
      await mkdir(dir, { recursive: true });
      for (const label of labels) {
        const file = path.join(dir, `${label.shortId}.png`);
        await writeFile(file, await labelPng(label));
        io.stdout(`${printable(file)}\t${printable(label.url)}\n`);
      }
      return;
    }
    const file = opts.output ?? 'labels.pdf';
    await writeFile(file, await labelsPdf(labels));
    io.stdout(`${printable(file)}\n`);
    io.stderr(`${labels.length} label${labels.length === 1 ? '' : 's'} written to ${printable(file)}\n`);
  });

  kinds(
    device
      .command('commission <device>')
      .description(
        'record whose box this is, where it hangs and which meter it reads (DEVICE may be the address its label holds)',
      )
      .option('--customer <name>', 'the customer')
      .option('--site <name>', 'the site (building, roof, field)')
      .option('--address <text>', 'the street address')
      .option('--meter-serial <serial>', "the meter's equipment identifier, as on its label (DSMR 0-0:96.1.1)")
      .option('--json', 'print JSON'),
    {
      '<device>': deviceOrLabel,
      '--customer': customerText,
      '--site': siteText,
      '--address': addressText,
      '--meter-serial': meterSerialText,
    },
  ).action(
    async (
      given: string,
      opts: { customer?: string; site?: string; address?: string; meterSerial?: string; json?: boolean },
      cmd: Command,
    ) => {
      const change: UpdateDeviceRequest = {
        ...(opts.customer === undefined ? {} : { customer: opts.customer }),
        ...(opts.site === undefined ? {} : { site: opts.site }),
        ...(opts.address === undefined ? {} : { address: opts.address }),
        ...(opts.meterSerial === undefined ? {} : { meterSerial: opts.meterSerial }),
      };
      if (Object.keys(change).length === 0)
        throw new Error('say what to record: --customer, --site, --address and/or --meter-serial');
      const client = await clientFor(cmd, io);
      const found = await findDevice(client, given);
      const done = await client.updateDevice(found.uuid, change);
      if (opts.json) {
        io.stdout(toJson(done));
        return;
      }
      const parts = [
        `customer ${done.customer ?? '-'}`,
        `site ${done.site ?? '-'}`,
        `address ${done.address ?? '-'}`,
        `meter ${done.meterSerial ?? '-'}`,
      ];
      io.stdout(
        `${printable(`Device ${done.name} (${done.shortId ?? done.uuid}) commissioned: ${parts.join(', ')}`)}\n`,
      );
    },
  );
}
