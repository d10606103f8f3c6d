// Who has which box: printed labels whose QR code holds the device's page address (rendered to pixels with
// poppler's pdftoppm and decoded with a QR decoder, as a phone would), commissioning by that address, and the
// wrong-meter flag: a device whose meter reader reports another serial than the commissioned one is flagged in
// `skiff devices`, `skiff device show` and a `device.wrong-meter` fleet event. The device here is a test device
// sending real state reports over HTTP, as a supervisor does; the API, its store and the CLI are the real ones.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import jsqr from 'jsqr';
import { PNG } from 'pngjs';
import { DeviceDetailSchema } from '../../protocol/device-detail.js';
import type { FleetEvent } from '../../protocol/fleet-events.js';
import { DEVICE_API_ROUTES } from '../../protocol/http/device-api.js';
import { pathOf } from '../../protocol/http/route.js';
import type { StateReport } from '../../protocol/state-report.js';
import { parse } from '../../protocol/validate.js';
import { FleetEventBus } from '../../registry-api/events/bus.js';
import { ApiServer } from '../../harness/api-server.js';
import { runSkiff } from '../../harness/skiff-process.js';
import { TestDevice } from '../../harness/test-device.js';

const run = promisify(execFile);

/** The text of the one QR code in a PNG file, or null. */
async function qrIn(file: string): Promise<string | null> {
  const png = PNG.sync.read(await readFile(file));
  // jsQR is a CommonJS module: its function is the default export's `default` under NodeNext.
  return jsqr.default(new Uint8ClampedArray(png.data), png.width, png.height)?.data ?? null;
}

describe('who has which box: labels, commissioning and the wrong meter', function () {
  this.timeout(120_000);
  const events: FleetEvent[] = [];
  let api: ApiServer;
  let work = '';
  let token = '';
  let uuid = '';
  let shortId = '';
  const meter = TestDevice.create('5b0f6a3e-2c1d-4e8f-9a7b-3c2d1e0f9a8b');

  const report = async (meterSerial: string | undefined): Promise<void> => {
    const body: StateReport = {
      supervisorVersion: 'test',
      updateStatus: 'converged',
      targetReleaseId: null,
      releaseId: null,
      services: [],
      error: null,
      reportedAt: new Date().toISOString(),
      ...(meterSerial === undefined ? {} : { meterSerial }),
    };
    const route = DEVICE_API_ROUTES.deviceState;
    const answer = await fetch(`${api.url}${pathOf(route, { uuid })}`, {
      method: route.method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(answer.status, 204, await answer.text());
  };
  const wrongMeterEvents = (): FleetEvent[] => events.filter((e) => e.kind === 'device.wrong-meter');

  before(async () => {
    const bus = new FleetEventBus();
    bus.subscribe((event) => events.push(event));
    api = await ApiServer.start({ events: bus });
    work = await mkdtemp(path.join(tmpdir(), 'skiff-labels-'));
    const fleet = await api.createFleet('meters');
    ({ token } = await meter.token(api.url, {
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      name: 'kitchen',
    }));
    uuid = meter.uuid;
    shortId = (await api.device(uuid)).shortId ?? '';
    assert.match(shortId, /^[0-9A-Z]{8}$/);
  });

  after(async () => {
    await api?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("prints a label PDF whose QR code, rendered to pixels, decodes to the device's page address", async () => {
    const pdf = path.join(work, 'labels.pdf');
    const made = await runSkiff(api, 'device', 'label', uuid.slice(0, 8), '-o', pdf);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(made.stdout, `${pdf}\n`);
    // What a label printer's driver does: the page to a bitmap (300 dpi, as thermal printers print).
    await run('pdftoppm', ['-png', '-r', '300', '-singlefile', pdf, path.join(work, 'label')]);
    assert.equal(await qrIn(path.join(work, 'label.png')), `${api.url}/devices/${shortId}`);
    const { stdout: text } = await run('pdftotext', [pdf, '-']);
    assert.match(text, new RegExp(shortId));
    assert.match(text, /Fleet: meters/);
  });

  it('prints the QR codes as PNG files, and under the dashboard address given', async () => {
    const dir = path.join(work, 'png');
    const made = await runSkiff(
      api,
      'device',
      'label',
      shortId,
      '--png',
      '-o',
      dir,
      '--base-url',
      'https://fleet.example.com/',
    );
    assert.equal(made.code, 0, made.stderr);
    assert.deepEqual(await readdir(dir), [`${shortId}.png`]);
    assert.equal(await qrIn(path.join(dir, `${shortId}.png`)), `https://fleet.example.com/devices/${shortId}`);
  });

  it("commissions the device by its label's address and shows it", async () => {
    const done = await runSkiff(
      api,
      'device',
      'commission',
      `${api.url}/devices/${shortId}`,
      '--customer',
      'Acme Energy',
      '--site',
      'north roof',
      '--address',
      'Main St 1, Springfield',
      '--meter-serial',
      'E0043007001234567',
    );
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /commissioned: customer Acme Energy, site north roof, .*meter E0043007001234567/);
    const shown = await runSkiff(api, 'device', 'show', shortId, '--json');
    const detail = parse(DeviceDetailSchema, JSON.parse(shown.stdout), 'skiff device show --json');
    assert.equal(detail.customer, 'Acme Energy');
    assert.equal(detail.site, 'north roof');
    assert.equal(detail.address, 'Main St 1, Springfield');
    assert.equal(detail.meterSerial, 'E0043007001234567');
    const audit = await api.admin.listAudit({ device: uuid });
    assert.ok(
      audit.some((e) => e.action === 'device.update'),
      JSON.stringify(audit.map((e) => e.action)),
    );
  });

  it('a meter announcing the commissioned serial raises no flag', async () => {
    await report('e0043007001234567');
    const detail = await api.device(uuid);
    assert.equal(detail.reportedMeterSerial, 'e0043007001234567');
    assert.equal(detail.wrongMeter, false);
    assert.deepEqual(wrongMeterEvents(), []);
  });

  it('a meter announcing another serial raises the wrong-meter flag, once', async () => {
    await report('E0043007009999999');
    await report('E0043007009999999');
    const flagged = wrongMeterEvents();
    assert.equal(flagged.length, 1, JSON.stringify(events));
    assert.equal(flagged[0]?.device, uuid);
    assert.equal(flagged[0]?.fleet, 'meters');
    assert.match(flagged[0]?.summary ?? '', /wrong meter/);
    assert.deepEqual(flagged[0]?.detail, { commissioned: 'E0043007001234567', announced: 'E0043007009999999' });

    const listed = await runSkiff(api, 'devices');
    assert.equal(listed.code, 0, listed.stderr);
    const row = listed.stdout.split('\n').find((line) => line.includes(shortId)) ?? '';
    assert.match(listed.stdout.split('\n')[0] ?? '', /SITE/);
    assert.match(row, /Acme Energy, north roof WRONG METER\?/);
    const shown = await runSkiff(api, 'device', 'show', shortId);
    assert.match(
      shown.stdout,
      /Meter reads:\s+E0043007009999999 \(not the commissioned E0043007001234567: connected to the wrong meter\?\)/,
    );
    const json = await runSkiff(api, 'devices', '--json');
    assert.ok(
      JSON.parse(json.stdout).some((d: { uuid: string; wrongMeter?: boolean }) => d.uuid === uuid && d.wrongMeter),
    );
  });

  it('the right meter clears the flag; another wrong one raises it again', async () => {
    await report('E0043007001234567');
    assert.equal((await api.device(uuid)).wrongMeter, false);
    await report('E0043007008888888');
    assert.equal((await api.device(uuid)).wrongMeter, true);
    assert.equal(wrongMeterEvents().length, 2);
  });

  it('commissioning for the meter it reads clears the flag, for another one raises it', async () => {
    const right = await runSkiff(api, 'device', 'commission', shortId, '--meter-serial', 'E0043007008888888');
    assert.equal(right.code, 0, right.stderr);
    assert.equal((await api.device(uuid)).wrongMeter, false);
    const typo = await runSkiff(api, 'device', 'commission', shortId, '--meter-serial', 'E0043007008888889');
    assert.equal(typo.code, 0, typo.stderr);
    assert.equal((await api.device(uuid)).wrongMeter, true);
    assert.equal(wrongMeterEvents().length, 3);
    assert.deepEqual(wrongMeterEvents()[2]?.detail, {
      commissioned: 'E0043007008888889',
      announced: 'E0043007008888888',
    });
  });
});
