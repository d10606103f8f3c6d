// The meter reader's DSMR code: CRC, framing, parsing and the simulated meter. The modules are plain .mjs in
// compose-templates (the image runs them as they are), loaded from the source tree at run time.
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../../harness/env.js';

type FramerEvent = { kind: 'frame'; raw: Buffer } | { kind: 'truncated'; raw: Buffer; reason: string };
type Checked = { ok: true; text: string } | { ok: false; reason: string };
interface Telegram {
  header: string;
  objects: Map<string, string[]>;
}
interface Reading {
  meterId: string | null;
  timestamp: string | null;
  tariff: number | null;
  deliveredTariff1Kwh: number | null;
  deliveredTariff2Kwh: number | null;
  returnedTariff1Kwh: number | null;
  returnedTariff2Kwh: number | null;
  powerDeliveredKw: number | null;
  powerReturnedKw: number | null;
  gas: { m3: number; timestamp: string | null } | null;
}
interface DsmrModule {
  crc16(bytes: Uint8Array): number;
  TelegramFramer: new (options?: { maxBytes?: number }) => { push(chunk: Uint8Array): FramerEvent[] };
  checkFrame(raw: Uint8Array): Checked;
  parseTelegram(text: string): Telegram;
  toReading(telegram: Telegram): Reading;
  encodeTelegram(header: string, lines: string[]): string;
}
interface SimulatorModule {
  SimulatedMeter: new (options?: {
    equipmentId?: string;
    startKwh?: number;
    startGasM3?: number;
  }) => {
    telegram(at: Date): string;
  };
}
interface SourceModule {
  simulatedChunks(options: {
    intervalMs: number;
    corruptEvery: number;
    signal: AbortSignal;
    now?: () => Date;
  }): AsyncGenerator<Buffer>;
}

const readerDir = path.join(repoRoot, 'compose-templates', 'meter-fleet', 'meter-reader');
async function load<T>(file: string): Promise<T> {
  return (await import(pathToFileURL(path.join(readerDir, file)).href)) as T;
}

// A DSMR 5.0 telegram as an Iskra meter sent it (published with the open-source dsmr_parser tests); the CRC
// 6EEE is the meter's own, not computed here.
const HEADER_V5 = 'ISk5\\2MT382-1000';
const LINES_V5 = [
  '1-3:0.2.8(50)',
  '0-0:1.0.0(170102192002W)',
  '0-0:96.1.1(4B384547303034303436333935353037)',
  '1-0:1.8.1(000004.426*kWh)',
  '1-0:1.8.2(000002.399*kWh)',
  '1-0:2.8.1(000002.444*kWh)',
  '1-0:2.8.2(000000.000*kWh)',
  '0-0:96.14.0(0002)',
  '1-0:1.7.0(00.244*kW)',
  '1-0:2.7.0(00.000*kW)',
  '0-0:96.7.21(00013)',
  '0-0:96.7.9(00000)',
  '1-0:99.97.0(0)(0-0:96.7.19)',
  '1-0:32.32.0(00000)',
  '1-0:52.32.0(00000)',
  '1-0:72.32.0(00000)',
  '1-0:32.36.0(00000)',
  '1-0:52.36.0(00000)',
  '1-0:72.36.0(00000)',
  '0-0:96.13.0()',
  '1-0:32.7.0(0230.0*V)',
  '1-0:52.7.0(0230.0*V)',
  '1-0:72.7.0(0229.0*V)',
  '1-0:31.7.0(0.48*A)',
  '1-0:51.7.0(0.44*A)',
  '1-0:71.7.0(0.86*A)',
  '1-0:21.7.0(00.070*kW)',
  '1-0:41.7.0(00.032*kW)',
  '1-0:61.7.0(00.142*kW)',
  '1-0:22.7.0(00.000*kW)',
  '1-0:42.7.0(00.000*kW)',
  '1-0:62.7.0(00.000*kW)',
  '0-1:24.1.0(003)',
  '0-1:96.1.0(3232323241424344313233343536373839)',
  '0-1:24.2.1(170102161005W)(00000.107*m3)',
  '0-2:24.1.0(003)',
  '0-2:96.1.0()',
];
const TELEGRAM_V5 = `/${HEADER_V5}\r\n\r\n${LINES_V5.map((l) => `${l}\r\n`).join('')}!6EEE\r\n`;

// A Sagemcom T210-D (Luxembourg) telegram, same source: energy in Wh and power in W; CRC 7EF9 from the meter.
const TELEGRAM_WH = [
  '/EST5\\253710000_A',
  '',
  '1-3:0.2.8(50)',
  '0-0:1.0.0(221006155014S)',
  '1-0:1.8.0(006545766*Wh)',
  '1-0:1.8.1(005017120*Wh)',
  '1-0:1.8.2(001528646*Wh)',
  '1-0:1.7.0(000000286*W)',
  '1-0:2.8.0(000000058*Wh)',
  '1-0:2.8.1(000000000*Wh)',
  '1-0:2.8.2(000000058*Wh)',
  '1-0:2.7.0(000000000*W)',
  '1-0:3.8.0(000000747*varh)',
  '1-0:3.8.1(000000000*varh)',
  '1-0:3.8.2(000000747*varh)',
  '1-0:3.7.0(000000000*var)',
  '1-0:4.8.0(003897726*varh)',
  '1-0:4.8.1(002692848*varh)',
  '1-0:4.8.2(001204878*varh)',
  '1-0:4.7.0(000000166*var)',
  '!7EF9',
  '',
].join('\r\n');

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('DSMR telegrams', () => {
  let dsmr: DsmrModule;
  let simulator: SimulatorModule;
  let source: SourceModule;
  before(async () => {
    dsmr = await load<DsmrModule>('dsmr.mjs');
    simulator = await load<SimulatorModule>('simulator.mjs');
    source = await load<SourceModule>('source.mjs');
  });

  describe('CRC-16/ARC', () => {
    it('gives the catalogue check value 0xBB3D for "123456789"', () => {
      assert.equal(dsmr.crc16(bytes('123456789')), 0xbb3d);
    });

    it('gives 0 for no bytes (init 0, no final xor)', () => {
      assert.equal(dsmr.crc16(new Uint8Array(0)), 0);
    });

    it('matches the CRC real meters put after the "!"', () => {
      const v5 = bytes(TELEGRAM_V5);
      assert.equal(dsmr.crc16(v5.subarray(0, v5.indexOf('!') + 1)), 0x6eee);
      const wh = bytes(TELEGRAM_WH);
      assert.equal(dsmr.crc16(wh.subarray(0, wh.indexOf('!') + 1)), 0x7ef9);
    });
  });

  describe('checkFrame', () => {
    it('accepts a real meter telegram and returns its text through the "!"', () => {
      const checked = dsmr.checkFrame(bytes(TELEGRAM_V5));
      assert.ok(checked.ok, JSON.stringify(checked));
      assert.ok(checked.text.startsWith('/ISk5'));
      assert.ok(checked.text.endsWith('0-2:96.1.0()\r\n!'));
    });

    it('rejects a telegram with one digit changed, naming both CRCs', () => {
      const corrupted = TELEGRAM_V5.replace('1-0:1.8.1(000004.426*kWh)', '1-0:1.8.1(000004.427*kWh)');
      const checked = dsmr.checkFrame(bytes(corrupted));
      assert.equal(checked.ok, false);
      assert.match(checked.ok ? '' : checked.reason, /CRC mismatch: telegram says 6EEE, bytes give [0-9A-F]{4}/);
    });

    it('rejects a telegram whose CRC line is damaged or missing', () => {
      const damaged = dsmr.checkFrame(bytes(TELEGRAM_V5.replace('!6EEE', '!6EZE')));
      assert.match(damaged.ok ? '' : damaged.reason, /malformed CRC/);
      const none = dsmr.checkFrame(bytes(TELEGRAM_V5.replace('!6EEE', '!')));
      assert.match(none.ok ? '' : none.reason, /no CRC/);
    });
  });

  describe('parsing', () => {
    it('reads the OBIS values of a DSMR 5 telegram into a reading', () => {
      const checked = dsmr.checkFrame(bytes(TELEGRAM_V5));
      assert.ok(checked.ok);
      const telegram = dsmr.parseTelegram(checked.text);
      assert.equal(telegram.header, HEADER_V5);
      assert.deepEqual(telegram.objects.get('1-0:99.97.0'), ['0', '0-0:96.7.19']);
      assert.deepEqual(dsmr.toReading(telegram), {
        meterId: 'K8EG004046395507',
        timestamp: '2017-01-02T19:20:02+01:00',
        tariff: 2,
        deliveredTariff1Kwh: 4.426,
        deliveredTariff2Kwh: 2.399,
        returnedTariff1Kwh: 2.444,
        returnedTariff2Kwh: 0,
        powerDeliveredKw: 0.244,
        powerReturnedKw: 0,
        gas: { m3: 0.107, timestamp: '2017-01-02T16:10:05+01:00' },
      });
    });

    it('converts Wh and W to kWh and kW, reads summer time as +02:00, and has no gas without a gas meter', () => {
      const checked = dsmr.checkFrame(bytes(TELEGRAM_WH));
      assert.ok(checked.ok, JSON.stringify(checked));
      const reading = dsmr.toReading(dsmr.parseTelegram(checked.text));
      assert.equal(reading.timestamp, '2022-10-06T15:50:14+02:00');
      assert.equal(reading.deliveredTariff1Kwh, 5017.12);
      assert.equal(reading.deliveredTariff2Kwh, 1528.646);
      assert.equal(reading.returnedTariff2Kwh, 0.058);
      assert.equal(reading.powerDeliveredKw, 0.286);
      assert.equal(reading.tariff, null);
      assert.equal(reading.meterId, null);
      assert.equal(reading.gas, null);
    });

    it('encodes a telegram byte for byte as the meter did, CRC included', () => {
      assert.equal(dsmr.encodeTelegram(HEADER_V5, LINES_V5), TELEGRAM_V5);
    });
  });

  describe('TelegramFramer', () => {
    it('reassembles telegrams from reads of any size, skipping the tail of one joined midway', () => {
      const second = TELEGRAM_V5.replace('0-0:1.0.0(170102192002W)', '0-0:1.0.0(170102192003W)');
      const secondFixed = dsmr.encodeTelegram(
        HEADER_V5,
        LINES_V5.map((l) => l.replace('192002W', '192003W')),
      );
      assert.notEqual(second, secondFixed, 'changing the time must change the CRC');
      // The reader starts in the middle of a telegram: its last lines come first.
      const stream = bytes(`(00.000*kW)\r\n!1234\r\n${TELEGRAM_V5}${secondFixed}`);
      const framer = new dsmr.TelegramFramer();
      const events: FramerEvent[] = [];
      const sizes = [1, 2, 3, 5, 7, 11, 13, 64];
      for (let at = 0, i = 0; at < stream.length; i++) {
        const size = sizes[i % sizes.length] ?? 1;
        events.push(...framer.push(stream.subarray(at, at + size)));
        at += size;
      }
      assert.deepEqual(
        events.map((e) => e.kind),
        ['frame', 'frame'],
      );
      const texts = events.map((e) => {
        const checked = dsmr.checkFrame(e.raw);
        assert.ok(checked.ok, JSON.stringify(checked));
        return dsmr.toReading(dsmr.parseTelegram(checked.text)).timestamp;
      });
      assert.deepEqual(texts, ['2017-01-02T19:20:02+01:00', '2017-01-02T19:20:03+01:00']);
    });

    it('reports a telegram cut short by the next one as truncated and still delivers the next', () => {
      const cut = TELEGRAM_V5.slice(0, TELEGRAM_V5.indexOf('0-0:96.14.0'));
      const framer = new dsmr.TelegramFramer();
      const events = [...framer.push(bytes(cut)), ...framer.push(bytes(TELEGRAM_V5))];
      assert.deepEqual(
        events.map((e) => e.kind),
        ['truncated', 'frame'],
      );
      assert.equal(events[0]?.raw.toString('latin1'), cut);
      assert.ok(dsmr.checkFrame(events[1]?.raw ?? Buffer.alloc(0)).ok);
    });

    it('gives up on a frame that never ends instead of growing without bound', () => {
      const framer = new dsmr.TelegramFramer({ maxBytes: 256 });
      const events = framer.push(bytes(`/${'x'.repeat(300)}`));
      assert.equal(events.length, 1);
      assert.equal(events[0]?.kind, 'truncated');
      assert.deepEqual(
        framer.push(bytes(TELEGRAM_V5)).map((e) => e.kind),
        ['frame'],
      );
    });
  });

  describe('simulated meter', () => {
    it('sends telegrams that pass the CRC check, with counters that only go up', () => {
      const meter = new simulator.SimulatedMeter({ equipmentId: 'TESTMETER01' });
      const start = Date.parse('2024-03-04T05:00:00Z');
      const readings: Reading[] = [];
      for (let hour = 0; hour <= 30; hour += 1) {
        const checked = dsmr.checkFrame(bytes(meter.telegram(new Date(start + hour * 3_600_000))));
        assert.ok(checked.ok, JSON.stringify(checked));
        readings.push(dsmr.toReading(dsmr.parseTelegram(checked.text)));
      }
      const total = (r: Reading) =>
        [r.deliveredTariff1Kwh, r.deliveredTariff2Kwh, r.returnedTariff1Kwh, r.returnedTariff2Kwh].reduce<number>(
          (sum, v) => sum + (v ?? Number.NaN),
          0,
        );
      for (let i = 1; i < readings.length; i++) {
        const [prev, cur] = [readings[i - 1], readings[i]];
        assert.ok(prev && cur);
        assert.ok(total(cur) > total(prev), `energy went from ${total(prev)} to ${total(cur)} at hour ${i}`);
        for (const key of [
          'deliveredTariff1Kwh',
          'deliveredTariff2Kwh',
          'returnedTariff1Kwh',
          'returnedTariff2Kwh',
        ] as const) {
          assert.ok((cur[key] ?? 0) >= (prev[key] ?? 0), `${key} went down at hour ${i}`);
        }
        assert.ok((cur.gas?.m3 ?? 0) >= (prev.gas?.m3 ?? 0), `gas went down at hour ${i}`);
      }
      assert.equal(readings[0]?.meterId, 'TESTMETER01');
      // 2024-03-04 is a Monday: 06:00 local is night tariff (1), 12:00 local the day tariff (2).
      assert.equal(readings[0]?.timestamp, '2024-03-04T06:00:00+01:00');
      assert.equal(readings[0]?.tariff, 1);
      assert.equal(readings[6]?.tariff, 2);
      assert.ok(readings.every((r) => r.gas !== null && r.powerDeliveredKw !== null));
    });

    it('streams telegrams in pieces that reassemble, corrupting exactly every Nth when asked', async () => {
      const ac = new AbortController();
      let t = Date.parse('2024-07-01T10:00:00Z');
      const framer = new dsmr.TelegramFramer();
      const results: boolean[] = [];
      for await (const chunk of source.simulatedChunks({
        intervalMs: 1,
        corruptEvery: 3,
        signal: ac.signal,
        now: () => new Date((t += 60_000)),
      })) {
        for (const event of framer.push(chunk)) results.push(event.kind === 'frame' && dsmr.checkFrame(event.raw).ok);
        if (results.length === 6) ac.abort();
      }
      assert.deepEqual(results, [true, true, false, true, true, false]);
    });
  });
});
