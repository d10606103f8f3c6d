import assert from 'node:assert/strict';
import type { DeviceLogLine } from '../../protocol/device-logs.js';
import { DeviceLogRing } from '../../registry-api/logs/ring.js';

const line = (service: string, text: string): DeviceLogLine => ({
  service,
  containerId: 'a'.repeat(64),
  timestamp: '2026-01-01T00:00:00.5Z',
  stream: 'stdout',
  text,
});
const texts = (lines: DeviceLogLine[]): string[] => lines.map((l) => `${l.service}:${l.text}`);

describe('device log ring', () => {
  it('hands a reader what came after its place, in arrival order across services', () => {
    const ring = new DeviceLogRing(10);
    ring.append([line('a', '1'), line('b', '1'), line('a', '2')]);
    const first = ring.read(0, null);
    assert.deepEqual(texts(first.lines), ['a:1', 'b:1', 'a:2']);
    assert.equal(first.next, 3);
    ring.append([line('b', '2')]);
    const second = ring.read(first.next, null);
    assert.deepEqual(texts(second.lines), ['b:2']);
    assert.deepEqual(second.gaps, []);
    assert.deepEqual(texts(ring.read(second.next, null).lines), []);
  });

  it('reads only the services asked for', () => {
    const ring = new DeviceLogRing(10);
    ring.append([line('a', '1'), line('b', '1'), line('a', '2')]);
    assert.deepEqual(texts(ring.read(0, new Set(['b'])).lines), ['b:1']);
  });

  it('keeps each service to its bound, so a chatty one cannot push a quiet one out', () => {
    const ring = new DeviceLogRing(3);
    ring.append([line('quiet', 'q1')]);
    for (let i = 1; i <= 10; i += 1) ring.append([line('chatty', String(i))]);
    const read = ring.read(0, null);
    assert.deepEqual(texts(read.lines), ['quiet:q1', 'chatty:8', 'chatty:9', 'chatty:10']);
    assert.deepEqual(read.gaps, ['chatty'], 'the reader learns that lines of chatty were lost');
  });

  it('reports a gap only to readers that had not read the lost lines', () => {
    const ring = new DeviceLogRing(2);
    ring.append([line('a', '1'), line('a', '2')]);
    const kept = ring.read(0, null);
    ring.append([line('a', '3')]);
    const after = ring.read(kept.next, null);
    assert.deepEqual(texts(after.lines), ['a:3']);
    assert.deepEqual(after.gaps, [], 'line 1 was pushed out, but this reader had it');
    assert.deepEqual(ring.read(0, null).gaps, ['a']);
  });

  it('refuses lines of more services than it keeps', () => {
    const ring = new DeviceLogRing(5, 2);
    ring.append([line('a', '1'), line('b', '1'), line('c', '1'), line('a', '2')]);
    assert.deepEqual(texts(ring.read(0, null).lines), ['a:1', 'b:1', 'a:2']);
    assert.equal(ring.refused, 1);
  });
});
