// The meter reader's configuration from the environment: defaults, and every mistake named at once.
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../../harness/env.js';

interface Config {
  source:
    | { kind: 'device'; device: string; serial: { baud: number; dataBits: number; parity: string; stopBits: number } }
    | { kind: 'simulated'; intervalMs: number; corruptEvery: number; speed: number };
  publishIntervalMs: number;
  endpoint: { url: string; token: string | null; timeoutMs: number } | null;
  buffer: { file: string; maxBytes: number };
  logTarget: { host: string; port: number } | null;
}
interface ConfigModule {
  readConfig(env: Record<string, string | undefined>): Config;
  ConfigError: new (problems: string[]) => Error & { problems: string[] };
}

describe('meter reader configuration', () => {
  let mod: ConfigModule;
  before(async () => {
    const file = path.join(repoRoot, 'compose-templates', 'meter-fleet', 'meter-reader', 'config.mjs');
    mod = (await import(pathToFileURL(file).href)) as ConfigModule;
  });

  it('reads a DSMR 5 meter on /dev/ttyUSB0 and only logs readings by default', () => {
    const config = mod.readConfig({});
    assert.deepEqual(config.source, {
      kind: 'device',
      device: '/dev/ttyUSB0',
      serial: { baud: 115200, dataBits: 8, parity: 'none', stopBits: 1 },
    });
    assert.equal(config.endpoint, null);
    assert.equal(config.publishIntervalMs, 10_000);
    assert.deepEqual(config.buffer, { file: '/data/readings.jsonl', maxBytes: 10 * 1024 * 1024 });
  });

  it('treats empty values as unset, as compose files leave them', () => {
    const config = mod.readConfig({ METER_ENDPOINT: '', LOG_TARGET: ' ', METER_SOURCE: '' });
    assert.equal(config.endpoint, null);
    assert.equal(config.logTarget, null);
    assert.equal(config.source.kind, 'device');
  });

  it('reads an endpoint, a simulated meter, older serial settings and a log target', () => {
    const simulated = mod.readConfig({
      METER_SOURCE: 'simulated',
      METER_INTERVAL_SECONDS: '0.5',
      METER_SIM_SPEED: '60',
      METER_SIM_CORRUPT_EVERY: '4',
      METER_ENDPOINT: 'https://fleet.example/readings',
      METER_ENDPOINT_TOKEN: 't0k',
      LOG_TARGET: 'logger:514',
    });
    assert.deepEqual(simulated.source, { kind: 'simulated', intervalMs: 500, corruptEvery: 4, speed: 60 });
    assert.deepEqual(simulated.endpoint, { url: 'https://fleet.example/readings', token: 't0k', timeoutMs: 10_000 });
    assert.deepEqual(simulated.logTarget, { host: 'logger', port: 514 });
    const old = mod.readConfig({ METER_SERIAL: '9600 7E1' });
    assert.deepEqual(old.source.kind === 'device' ? old.source.serial : null, {
      baud: 9600,
      dataBits: 7,
      parity: 'even',
      stopBits: 1,
    });
  });

  it('names every bad setting in one error', () => {
    assert.throws(
      () =>
        mod.readConfig({
          METER_SOURCE: 'usb',
          METER_ENDPOINT: 'fleet.example',
          METER_BUFFER_MAX_BYTES: '12',
          LOG_TARGET: 'logger',
        }),
      (err: unknown) => {
        assert.ok(err instanceof mod.ConfigError);
        assert.equal(err.problems.length, 4, err.message);
        for (const name of [
          'METER_SOURCE=usb',
          'METER_ENDPOINT=fleet.example',
          'METER_BUFFER_MAX_BYTES=12',
          'LOG_TARGET=logger',
        ]) {
          assert.ok(err.message.includes(name), `${err.message} names ${name}`);
        }
        return true;
      },
    );
  });
});
