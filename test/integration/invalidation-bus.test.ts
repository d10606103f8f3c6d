// The invalidation bus on the env's real Redis: a change's announcement (and so the request that made it) finishes
// only once every instance on the channel has applied it, however late an instance reads its messages; an instance
// that never confirms delays it by the ack timeout at most, with a warning.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import {
  redisInvalidation,
  type BusMessage,
  type Invalidation,
  type InvalidationBus,
} from '../../registry-api/fleet/invalidation.js';
import { TargetChanges } from '../../registry-api/store/target-generation.js';
import { loadTestEnv } from '../../harness/env.js';

/** A logger whose lines the test reads. */
function capturingLogger(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const text: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = pino({ level: 'warn' }, stream);
  return {
    logger,
    lines: () =>
      text
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/**
 * A stand-in instance on the channel speaking the wire format by hand: it acks each change message after
 * `delayMs`, or never (null), so the test controls how late an instance confirms.
 */
async function handInstance(
  redisUrl: string,
  channel: string,
  delayMs: number | null,
): Promise<{ heard: string[]; close(): void }> {
  const subscriber = new Redis(redisUrl);
  const publisher = new Redis(redisUrl);
  const heard: string[] = [];
  subscriber.on('message', (_from: string, text: string) => {
    const message = JSON.parse(text) as BusMessage;
    if (message.kind !== 'changes') return;
    heard.push(message.id);
    if (delayMs === null) return;
    setTimeout(() => {
      void publisher.publish(
        channel,
        JSON.stringify({ kind: 'ack', id: message.id, from: 'hand' } satisfies BusMessage),
      );
    }, delayMs);
  });
  await subscriber.subscribe(channel);
  return {
    heard,
    close() {
      subscriber.disconnect();
      publisher.disconnect();
    },
  };
}

describe('invalidation bus on Redis: a change is answered once every instance applied it', function () {
  this.timeout(20_000);
  const redisUrl = loadTestEnv().redisUrl;
  const closers: (() => Promise<void> | void)[] = [];

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function instance(
    channel: string,
    ackTimeoutMs?: number,
  ): Promise<{
    changes: TargetChanges;
    bus: InvalidationBus;
    heard: Invalidation[][];
    lines: () => Record<string, unknown>[];
  }> {
    const changes = new TargetChanges();
    const { logger, lines } = capturingLogger();
    const bus = await redisInvalidation({ changes, redisUrl, channel, logger, ackTimeoutMs });
    closers.push(() => bus.close());
    const heard: Invalidation[][] = [];
    bus.subscribe((batch) => {
      heard.push([...batch]);
    });
    return { changes, bus, heard, lines };
  }

  it("waits for a slow instance's ack, and every real instance has applied the change when it returns", async () => {
    const channel = `skiff-test-bus-${randomUUID()}`;
    const x = await instance(channel);
    const y = await instance(channel);
    const slow = await handInstance(redisUrl, channel, 400);
    closers.push(() => slow.close());

    const started = performance.now();
    await x.changes.announce([{ kind: 'fleet', name: 'meters' }]);
    const took = performance.now() - started;
    assert.ok(
      took >= 400,
      `the announcement returned after ${took.toFixed(0)} ms, before the slow instance's ack (400 ms)`,
    );
    assert.deepEqual(
      y.heard,
      [[{ kind: 'fleet', name: 'meters' }]],
      'the other real instance applied the change before the answer',
    );
    assert.deepEqual(x.heard, [[{ kind: 'fleet', name: 'meters' }]], 'the origin applies its own change once, locally');
    assert.equal(slow.heard.length, 1);
    assert.deepEqual(x.lines(), [], 'no warning when every instance confirmed');

    // Changes from the other side are confirmed the same way.
    await y.changes.announce([{ kind: 'device', uuid: 'u-1' }]);
    assert.deepEqual(x.heard.at(-1), [{ kind: 'device', uuid: 'u-1' }]);
  });

  it('answers after the ack timeout when an instance never confirms, and says so', async () => {
    const channel = `skiff-test-bus-${randomUUID()}`;
    const x = await instance(channel, 300);
    const mute = await handInstance(redisUrl, channel, null);
    closers.push(() => mute.close());

    const started = performance.now();
    await x.changes.announce([{ kind: 'fleet', name: 'meters' }]);
    const took = performance.now() - started;
    assert.ok(took >= 300, `returned after ${took.toFixed(0)} ms, before the ack timeout`);
    assert.equal(mute.heard.length, 1, 'the mute instance got the message');
    const warning = x.lines().find((line) => String(line.msg).includes('not every instance confirmed'));
    assert.ok(warning !== undefined, JSON.stringify(x.lines()));
    assert.equal(warning.receivers, 2);
  });

  it('answers at once with no other instance on the channel (its own ack only)', async () => {
    const channel = `skiff-test-bus-${randomUUID()}`;
    const x = await instance(channel, 5_000);
    const started = performance.now();
    await x.changes.announce([{ kind: 'device', uuid: 'u-2' }]);
    assert.ok(performance.now() - started < 5_000, 'waited for the timeout although its own ack came');
    assert.deepEqual(x.lines(), []);
  });
});
