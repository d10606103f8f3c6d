// The shipper's bookkeeping against an engine stand-in that answers `tail` and `since` as the Docker Engine does
// (the last `tail` lines, then those at or after `since` whole seconds): the real engine is in
// test/integration/device-logs.test.ts.
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { LogBatch } from '../../protocol/device-logs.js';
import type { ContainerLogLine, EngineContainer, LogOptions } from '../../supervisor/engine/engine.js';
import { LogShipper } from '../../supervisor/online/log-shipper.js';
import { LABELS } from '../../supervisor/plan/naming.js';

const ID = 'd'.repeat(64);

class EngineLogs {
  readonly lines: ContainerLogLine[] = [];
  /** Whole seconds from now on: lines from before a follow began are not followed. */
  private second = Math.ceil(Date.now() / 1000);

  /** Lines stamped in one second each call, nanoseconds apart, as a fast service prints them. */
  print(...texts: string[]): void {
    this.second += 1;
    const at = new Date(this.second * 1000).toISOString().replace('.000Z', '');
    texts.forEach((text, i) => {
      this.lines.push({ stream: 'stdout', timestamp: `${at}.${String(i + 1).padStart(9, '0')}Z`, text });
    });
  }

  async listContainers(): Promise<EngineContainer[]> {
    return [
      {
        id: ID,
        name: 'reader',
        labels: { [LABELS.service]: 'reader' },
        image: 'i',
        state: 'running',
        health: null,
        exitCode: null,
        createdAt: 'x',
        networks: [],
        stopTimeoutSeconds: null,
      },
    ];
  }

  async containerLogs(_id: string, options: LogOptions = {}): Promise<ContainerLogLine[]> {
    const tailed =
      options.tail === undefined ? this.lines : this.lines.slice(Math.max(0, this.lines.length - options.tail));
    const since = typeof options.since === 'number' ? options.since : 0;
    return tailed.filter((l) => Date.parse(l.timestamp) >= since * 1000);
  }
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 5_000; !check(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('log shipper', () => {
  let shipper: LogShipper | undefined;
  afterEach(async () => shipper?.stop());

  function start(engine: EngineLogs, sent: LogBatch[], readLimit = 100): LogShipper {
    shipper = new LogShipper({
      engine,
      send: async (b) => {
        sent.push(b);
      },
      log: pino({ level: 'silent' }),
      intervalMs: 10,
      readLimit,
    });
    shipper.start();
    return shipper;
  }
  const texts = (batches: LogBatch[]): string[] => batches.flatMap((b) => b.lines.map((l) => l.text));

  it('sends the snapshot, then each new line once, and nothing once the want ran out', async () => {
    const engine = new EngineLogs();
    engine.print('a1', 'a2', 'a3');
    const sent: LogBatch[] = [];
    const s = start(engine, sent);
    s.handle({ request: 'r1', services: null, tail: 2, followMs: 300 });
    await until('the snapshot', () => sent.length > 0);
    assert.deepEqual(sent[0], {
      lines: [
        { service: 'reader', containerId: ID, timestamp: engine.lines[1]!.timestamp, stream: 'stdout', text: 'a2' },
        { service: 'reader', containerId: ID, timestamp: engine.lines[2]!.timestamp, stream: 'stdout', text: 'a3' },
      ],
      snapshot: { request: 'r1', final: true, services: ['reader'] },
    });
    engine.print('b1', 'b2');
    await until('the followed lines', () => texts(sent).includes('b2'));
    // The same request heard again (two channels) is answered once.
    s.handle({ request: 'r1', services: null, tail: 2, followMs: 300 });
    engine.print('c1');
    await until('c1', () => texts(sent).includes('c1'));
    assert.deepEqual(texts(sent), ['a2', 'a3', 'b1', 'b2', 'c1'], 'lines of one second are not sent twice');
    await until('the want to run out', () => !s.following());
    const count = sent.length;
    engine.print('unasked');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(sent.length, count);
  });

  it('ships at most readLimit lines a pass and says how many it dropped', async () => {
    const engine = new EngineLogs();
    const sent: LogBatch[] = [];
    const s = start(engine, sent, 3);
    s.handle({ request: 'r1', services: ['reader'], tail: null, followMs: 5_000 });
    await until('following', () => s.following());
    engine.print('1', '2', '3', '4', '5');
    await until('a batch', () => sent.length > 0);
    assert.deepEqual(
      sent.map((b) => [b.lines.map((l) => l.text), b.dropped]),
      [[['3', '4', '5'], 2]],
    );
  });

  it('sends nothing without a want, even for a snapshot without a tail', async () => {
    const engine = new EngineLogs();
    engine.print('x');
    const sent: LogBatch[] = [];
    const s = start(engine, sent);
    s.onEvent('{"request":"r1","services":null,"tail":null,"followMs":0}');
    s.onEvent('not json');
    s.onEvent('{"request":"r2","services":null,"tail":5000,"followMs":0}');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(sent, []);
  });
});
