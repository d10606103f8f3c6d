import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { DeviceLogLine, LogsEvent } from '../../protocol/device-logs.js';
import { DeviceLogs, DeviceNotConnected, DeviceSilent } from '../../registry-api/logs/device-logs.js';

const A = 'aaaaaaaa-0000-4000-8000-00000000000a';
const B = 'bbbbbbbb-0000-4000-8000-00000000000b';
const line = (text: string, timestamp: string, service = 'reader'): DeviceLogLine => ({
  service,
  containerId: 'a'.repeat(64),
  timestamp,
  stream: 'stdout',
  text,
});
const quiet = pino({ level: 'silent' });

/** The events the hub sent to device `uuid`'s channel, as the channel would carry them. */
function channel(hub: DeviceLogs, uuid: string): LogsEvent[] {
  const heard: LogsEvent[] = [];
  hub.attach(uuid, (event) => heard.push(event));
  return heard;
}

async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
  for (let i = 0; i < 200; i += 1) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never: ${what}`);
}

describe('device log hub (one API instance)', () => {
  it('refuses at once when the device has no push channel open', async () => {
    const hub = new DeviceLogs({}, quiet);
    await assert.rejects(hub.snapshot(A, { services: null, tail: 5, waitMs: 5_000, followMs: 0 }), DeviceNotConnected);
  });

  it('asks the device through its channel and answers with its snapshot, gathered over several batches, in time order', async () => {
    const hub = new DeviceLogs({}, quiet);
    const heard = channel(hub, A);
    const answer = hub.snapshot(A, { services: ['reader'], tail: 5, waitMs: 5_000, followMs: 0 });
    const event = await until('the logs event', () => heard[0]);
    assert.deepEqual({ ...event, request: '' }, { request: '', services: ['reader'], tail: 5, followMs: 0 });
    await hub.receive(A, {
      lines: [line('second', '2026-01-01T00:00:01Z')],
      snapshot: { request: event.request, final: false, services: ['reader'] },
    });
    // Another device cannot answer A's request, even with its id.
    await hub.receive(B, {
      lines: [line('forged', '2026-01-01T00:00:00Z')],
      snapshot: { request: event.request, final: true, services: [] },
    });
    // Followed lines are no part of a snapshot.
    await hub.receive(A, { lines: [line('followed', '2026-01-01T00:00:00Z')] });
    await hub.receive(A, {
      lines: [line('first', '2026-01-01T00:00:00.5Z')],
      snapshot: { request: event.request, final: true, services: ['reader'] },
    });
    const snapshot = await answer;
    assert.deepEqual(
      snapshot.lines.map((l) => l.text),
      ['first', 'second'],
    );
    assert.deepEqual(snapshot.services, ['reader']);
  });

  it('gives up on a device that does not finish its answer in time', async () => {
    const hub = new DeviceLogs({}, quiet);
    const heard = channel(hub, A);
    const answer = hub.snapshot(A, { services: null, tail: 5, waitMs: 50, followMs: 0 });
    const event = await until('the logs event', () => heard[0]);
    await hub.receive(A, {
      lines: [line('partial', '2026-01-01T00:00:00Z')],
      snapshot: { request: event.request, final: false, services: [] },
    });
    await assert.rejects(answer, (err: unknown) => err instanceof DeviceSilent && err.linesSoFar === 1);
  });

  it('keeps followed lines only while someone follows, from where their snapshot ended', async () => {
    const hub = new DeviceLogs({ followMs: 60_000 }, quiet);
    const heard = channel(hub, A);
    await hub.receive(A, { lines: [line('nobody follows', '2026-01-01T00:00:00Z')] });
    const handle = hub.follow(A);
    assert.equal(handle.ring.last, 0, 'lines nobody followed were not kept');
    let signals = 0;
    handle.listen(() => {
      signals += 1;
    });
    const answer = hub.snapshot(A, { services: null, tail: 2, waitMs: 5_000, followMs: hub.followMs });
    const event = await until('the logs event', () => heard[0]);
    assert.equal(event.followMs, 60_000);
    await hub.receive(A, { lines: [line('before the snapshot ended', '2026-01-01T00:00:01Z')] });
    await hub.receive(A, { lines: [], snapshot: { request: event.request, final: true, services: ['reader'] } });
    const { cursor } = await answer;
    await hub.receive(A, { lines: [line('after', '2026-01-01T00:00:02Z')] });
    assert.deepEqual(
      handle.ring.read(cursor, null).lines.map((l) => l.text),
      ['after'],
    );
    assert.equal(signals, 2);
    assert.ok(await hub.renew(A, null));
    assert.deepEqual({ ...heard[1]!, request: '' }, { request: '', services: null, tail: null, followMs: 60_000 });
    handle.close();
    const again = hub.follow(A);
    assert.equal(again.ring.last, 0, 'the ring went with the last follower');
  });
});
