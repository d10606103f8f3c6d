// Logs read by people are lines of words; logs read by machines are JSON lines with the same field names.
import { strict as assert } from 'node:assert';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { logDestination, logFormat } from '../../lib/logger.js';

function logOnce(format: 'json' | 'pretty'): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-log-'));
  try {
    const file = join(dir, 'log');
    const fd = openSync(file, 'w');
    const logger = pino({ name: 'supervisor', base: { pid: 7 } }, logDestination(format, fd, false, true));
    logger.info({ service: 'meter', releaseVersion: '3' }, 'container started');
    closeSync(fd);
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('logger format', () => {
  it('is pretty on a terminal and JSON otherwise, unless SKIFF_LOG_FORMAT says', () => {
    assert.equal(logFormat(undefined, true), 'pretty');
    assert.equal(logFormat(undefined, false), 'json');
    assert.equal(logFormat('', true), 'pretty');
    assert.equal(logFormat('json', true), 'json');
    assert.equal(logFormat(' PRETTY ', false), 'pretty');
  });

  it('refuses an unknown format, naming the setting and the allowed values', () => {
    assert.throws(() => logFormat('yaml', true), /SKIFF_LOG_FORMAT is 'yaml': it must be 'json' or 'pretty'/);
  });

  it('writes one JSON object per record when not on a terminal', () => {
    const record: unknown = JSON.parse(logOnce('json').trim());
    assert.ok(typeof record === 'object' && record !== null);
    assert.equal((record as Record<string, unknown>).msg, 'container started');
    assert.equal((record as Record<string, unknown>).service, 'meter');
    assert.equal(typeof (record as Record<string, unknown>).time, 'number');
  });

  it('writes a readable line with a clock time and the same field names on a terminal', () => {
    const line = logOnce('pretty').trim();
    assert.throws(() => JSON.parse(line), 'a pretty line is not JSON');
    assert.match(line, /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO \(supervisor\): container started/);
    assert.match(line, /"service":"meter"/);
    assert.match(line, /"releaseVersion":"3"/);
    assert.doesNotMatch(line, /\d{13}/, 'no epoch milliseconds');
    assert.equal(line.split('\n').length, 1);
  });
});
