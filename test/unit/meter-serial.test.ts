// The meter serial's way from the meter to the API: the meter reader's announcer (a plain .mjs module of the
// compose template, loaded from the source tree) writes it once per meter, atomically; the supervisor reads it
// back, bounded and checked; the API compares it with the commissioned serial, letters' case aside.
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../../harness/env.js';
import { isWrongMeter } from '../../registry-api/devices/summary.js';
import { meterSerialOf, readMeterSerial } from '../../supervisor/device/meter-serial.js';
import type { StateReport } from '../../protocol/state-report.js';

interface AnnounceModule {
  METER_SERIAL_FILE: string;
  reportableSerial(id: string | null | undefined): string | null;
  MeterSerialAnnouncer: new (options: {
    dir: string | undefined;
    log: { warn(msg: string, fields?: object): void; info(msg: string, fields?: object): void };
  }) => { announce(id: string | null | undefined): boolean };
}

const quiet = { warn: () => undefined, info: () => undefined };

describe('meter serial', () => {
  let announce: AnnounceModule;
  let dir = '';

  before(async () => {
    const file = path.join(repoRoot, 'compose-templates/meter-fleet/meter-reader/announce.mjs');
    announce = (await import(pathToFileURL(file).href)) as AnnounceModule;
  });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'skiff-meter-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the reader writes a new serial once, and the supervisor reads it back', async () => {
    const service = path.join(dir, 'meter-reader');
    await mkdir(service);
    const announcer = new announce.MeterSerialAnnouncer({ dir: service, log: quiet });
    assert.equal(announcer.announce('E0043007001234567'), true);
    assert.equal(announcer.announce('E0043007001234567'), false, 'not again for every telegram');
    assert.equal(await readFile(path.join(service, announce.METER_SERIAL_FILE), 'utf8'), 'E0043007001234567\n');
    assert.equal(await readMeterSerial(dir, ['logger', 'meter-reader']), 'E0043007001234567');
    assert.equal(announcer.announce('E0043007009999999'), true, 'another meter');
    assert.equal(await readMeterSerial(dir, ['meter-reader']), 'E0043007009999999');
  });

  it('writes nothing outside Skiff, nor what is no serial', async () => {
    assert.equal(new announce.MeterSerialAnnouncer({ dir: undefined, log: quiet }).announce('E1'), false);
    const announcer = new announce.MeterSerialAnnouncer({ dir, log: quiet });
    for (const bad of [null, undefined, '', 'two words', 'x'.repeat(97), 'caf\u00e9']) {
      assert.equal(announcer.announce(bad), false, String(bad));
    }
    assert.equal(announce.reportableSerial('  E12  '), 'E12');
  });

  it('the supervisor ignores a file that is too large or holds no serial', async () => {
    await mkdir(path.join(dir, 'a'));
    await mkdir(path.join(dir, 'b'));
    await writeFile(path.join(dir, 'a', 'meter-serial'), 'x'.repeat(10_000));
    await writeFile(path.join(dir, 'b', 'meter-serial'), 'not a serial\n');
    assert.equal(await readMeterSerial(dir, ['a', 'b', 'missing']), null);
    assert.equal(meterSerialOf('\u0000E1'), null);
    assert.equal(meterSerialOf('E1\n'), 'E1');
  });

  it('is the wrong meter only when both serials are known and differ, letters aside', () => {
    const reported = (meterSerial?: string) => ({ meterSerial }) as StateReport;
    assert.equal(isWrongMeter('E0043', reported('e0043')), false);
    assert.equal(isWrongMeter('E0043', reported('E0044')), true);
    assert.equal(isWrongMeter(null, reported('E0044')), false);
    assert.equal(isWrongMeter('E0043', reported(undefined)), false);
    assert.equal(isWrongMeter('E0043', null), false);
  });
});
