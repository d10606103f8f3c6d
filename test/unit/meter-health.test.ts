// The meter reader's health file (compose-templates/meter-fleet/meter-reader/health.mjs): the share of good
// telegrams over its window, in the shape the supervisor reads (protocol/local-api.ts ServiceHealthRequestSchema),
// written at once the first time and then rarely.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ServiceHealthRequestSchema } from '../../protocol/local-api.js';
import { parse } from '../../protocol/validate.js';
import { readHealthFile } from '../../supervisor/app-health/health-file.js';
import { repoRoot } from '../../harness/env.js';

interface HealthModule {
  TelegramHealth: new (
    dir: string,
    options?: { window?: number; writeIntervalMs?: number; now?: () => number },
  ) => { record(good: boolean): void; value(): number | null };
}

const modulePath = path.join(repoRoot, 'compose-templates', 'meter-fleet', 'meter-reader', 'health.mjs');

describe('meter reader health', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'skiff-meter-health-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the share of good telegrams over its window, first at once, then at most once per interval', async () => {
    const { TelegramHealth } = (await import(pathToFileURL(modulePath).href)) as HealthModule;
    let now = 0;
    const health = new TelegramHealth(dir, { window: 4, writeIntervalMs: 1000, now: () => now });
    const file = path.join(dir, 'health.json');
    const written = (): unknown => parse(ServiceHealthRequestSchema, JSON.parse(readFileSync(file, 'utf8')), file);
    health.record(true);
    assert.deepEqual(written(), { value: 1, detail: '1 of the last 1 telegrams good' });
    health.record(false);
    health.record(false);
    assert.deepEqual(written(), { value: 1, detail: '1 of the last 1 telegrams good' }, 'not rewritten within 1 s');
    now = 1000;
    health.record(true);
    assert.deepEqual(written(), { value: 0.5, detail: '2 of the last 4 telegrams good' });
    // A window of 4: the fifth pushes the first (good) one out, and waits for the next interval to be written.
    health.record(false);
    assert.equal(health.value(), 0.25);
    assert.deepEqual(written(), { value: 0.5, detail: '2 of the last 4 telegrams good' });
    // The supervisor takes the file as the reader wrote it.
    const read = await readHealthFile(dir);
    assert.ok(read !== null && 'health' in read);
    assert.deepEqual([read.health.value, read.health.pass], [0.5, null]);
  });

  it('is refused by the supervisor when it is not a health report or too large', async () => {
    const { writeFileSync } = await import('node:fs');
    const file = path.join(dir, 'health.json');
    writeFileSync(file, '{"value":"high"}');
    const wrong = await readHealthFile(dir);
    assert.ok(wrong !== null && 'error' in wrong);
    assert.match(wrong.error, /is not a health report/);
    writeFileSync(file, `{"value":1,"detail":"${'x'.repeat(5000)}"}`);
    const large = await readHealthFile(dir);
    assert.ok(large !== null && 'error' in large);
    assert.match(large.error, /more than 4096/);
    assert.equal(await readHealthFile(path.join(dir, 'none')), null);
  });
});
