import assert from 'node:assert/strict';
import {
  LogBatchSchema,
  MAX_LOG_LINE_CHARS,
  byTime,
  timestampNanos,
  type DeviceLogLine,
} from '../../protocol/device-logs.js';
import { check } from '../../protocol/validate.js';
import { chunk, followBatches, snapshotBatches, wireLine } from '../../supervisor/online/log-batches.js';
import { containerPerService } from '../../supervisor/online/log-shipper.js';
import type { EngineContainer } from '../../supervisor/engine/engine.js';
import { LABELS } from '../../supervisor/plan/naming.js';

const ID = 'c'.repeat(64);
const line = (text: string, timestamp = '2026-01-01T00:00:00.000000001Z'): DeviceLogLine => ({
  service: 'reader',
  containerId: ID,
  timestamp,
  stream: 'stdout',
  text,
});

describe('device log batches', () => {
  it('orders engine timestamps by time, whatever length their fraction has', () => {
    // The engine drops trailing zeros: as text, ".5Z" sorts after ".123Z" and "Z" after both.
    assert.ok(timestampNanos('2026-01-01T00:00:00.5Z') > timestampNanos('2026-01-01T00:00:00.123456789Z'));
    assert.ok(timestampNanos('2026-01-01T00:00:00Z') < timestampNanos('2026-01-01T00:00:00.000000001Z'));
    assert.equal(timestampNanos('2026-01-01T01:00:00.25+01:00'), timestampNanos('2026-01-01T00:00:00.25Z'));
    assert.equal(timestampNanos('not a time'), -1n);
    const lines = [
      line('b', '2026-01-01T00:00:01Z'),
      line('a', '2026-01-01T00:00:00.9Z'),
      line('c', '2026-01-01T00:00:01Z'),
    ];
    assert.deepEqual(
      byTime(lines).map((l) => l.text),
      ['a', 'b', 'c'],
      'equal instants keep their order',
    );
  });

  it('cuts a long line to the bound, never through a character, and marks it', () => {
    const plain = wireLine('reader', ID, {
      stream: 'stderr',
      timestamp: '2026-01-01T00:00:00Z',
      text: 'x'.repeat(MAX_LOG_LINE_CHARS),
    });
    assert.deepEqual([plain?.text.length, plain?.truncated, plain?.stream], [MAX_LOG_LINE_CHARS, undefined, 'stderr']);
    const emoji = '\u{1f600}';
    const long = wireLine('reader', ID, {
      stream: 'stdout',
      timestamp: '2026-01-01T00:00:00Z',
      text: `${'y'.repeat(MAX_LOG_LINE_CHARS - 1)}${emoji}tail`,
    });
    assert.equal(long?.truncated, true);
    assert.equal(long?.text, 'y'.repeat(MAX_LOG_LINE_CHARS - 1), 'the surrogate pair is not split');
    assert.deepEqual(check(LogBatchSchema, { lines: [long] }), []);
    assert.equal(wireLine('reader', ID, { stream: 'stdout', timestamp: 'torn', text: '' }), null);
  });

  it('cuts runs of lines by count and by size, in order', () => {
    const lines = Array.from({ length: 25 }, (_, i) => line(String(i)));
    assert.deepEqual(
      chunk(lines, { lines: 10, bytes: 1_000_000 }).map((c) => c.length),
      [10, 10, 5],
    );
    const big = Array.from({ length: 6 }, (_, i) => line(`${i}${'z'.repeat(1_000)}`));
    // 16 kB of room for the batch's own fields, then about two of these lines each.
    const bySize = chunk(big, { lines: 100, bytes: 16 * 1024 + 2_500 });
    assert.deepEqual(
      bySize.map((c) => c.length),
      [2, 2, 2],
    );
    assert.deepEqual(
      bySize.flat().map((l) => l.text[0]),
      ['0', '1', '2', '3', '4', '5'],
    );
    assert.deepEqual(chunk([], { lines: 10, bytes: 1_000 }), []);
  });

  it('answers a snapshot with at least one batch, only the last one final', () => {
    const empty = snapshotBatches('req-1', [], []);
    assert.deepEqual(empty, [{ lines: [], snapshot: { request: 'req-1', final: true, services: [] } }]);
    const lines = Array.from({ length: 12 }, (_, i) => line(String(i)));
    const batches = snapshotBatches('req-2', ['reader'], lines, { lines: 5, bytes: 1_000_000 });
    assert.deepEqual(
      batches.map((b) => [b.lines.length, b.snapshot?.final]),
      [
        [5, false],
        [5, false],
        [2, true],
      ],
    );
    for (const batch of batches) assert.deepEqual(check(LogBatchSchema, batch), []);
  });

  it('sends nothing for a quiet follow pass, and says how many lines were dropped', () => {
    assert.deepEqual(followBatches([], 0), []);
    assert.deepEqual(followBatches([], 7), [{ lines: [], dropped: 7 }]);
    const batches = followBatches([line('a'), line('b')], 3, { lines: 1, bytes: 1_000_000 });
    assert.deepEqual(
      batches.map((b) => [b.lines.map((l) => l.text), b.dropped]),
      [
        [['a'], 3],
        [['b'], undefined],
      ],
    );
  });

  it('picks per service the running container, else the newest', () => {
    const container = (
      id: string,
      service: string,
      state: EngineContainer['state'],
      createdAt: string,
    ): EngineContainer => ({
      id,
      name: id,
      labels: { [LABELS.service]: service },
      image: 'i',
      state,
      health: null,
      exitCode: null,
      createdAt,
      networks: [],
      stopTimeoutSeconds: null,
    });
    const chosen = containerPerService(
      [
        container('old-running', 'a', 'running', '2026-01-01T00:00:00Z'),
        container('new-exited', 'a', 'exited', '2026-01-02T00:00:00Z'),
        container('b1', 'b', 'exited', '2026-01-01T00:00:00Z'),
        container('b2', 'b', 'exited', '2026-01-03T00:00:00Z'),
        { ...container('unlabelled', 'x', 'running', '2026-01-01T00:00:00Z'), labels: {} },
      ],
      null,
    );
    assert.deepEqual(
      [...chosen].map(([s, c]) => [s, c.id]),
      [
        ['a', 'old-running'],
        ['b', 'b2'],
      ],
    );
    assert.deepEqual([...containerPerService([container('b1', 'b', 'running', 'x')], ['a']).keys()], []);
  });
});
