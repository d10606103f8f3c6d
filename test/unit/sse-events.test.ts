// sseEventsOf: the events of a body as they complete, and a call when the body goes silent for too long.
import assert from 'node:assert/strict';
import { sseEventsOf } from '../../lib/sse.js';

const encoder = new TextEncoder();

/** A body that sends `chunks`, then nothing until `end` is called. */
function stallingBody(chunks: string[]): { body: AsyncIterable<Uint8Array>; end: () => void } {
  let end = (): void => undefined;
  const ended = new Promise<void>((resolve) => {
    end = resolve;
  });
  async function* body(): AsyncGenerator<Uint8Array> {
    for (const chunk of chunks) yield encoder.encode(chunk);
    await ended;
  }
  return { body: body(), end };
}

describe('sseEventsOf', () => {
  it('yields each event once complete, across chunks', async () => {
    async function* body(): AsyncGenerator<Uint8Array> {
      yield encoder.encode('event: a\nda');
      yield encoder.encode('ta: 1\n\n: heartbeat\n\nevent: b\ndata: 2\n\n');
    }
    const seen = [];
    for await (const event of sseEventsOf(body(), 10_000, () => assert.fail('not silent'))) seen.push(event);
    assert.deepEqual(seen, [
      { event: 'a', data: '1' },
      { event: 'b', data: '2' },
    ]);
  });

  it('calls onSilence when no byte came for the limit, once', async () => {
    const { body, end } = stallingBody(['event: a\ndata: 1\n\n']);
    let silences = 0;
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of sseEventsOf(body, 50, () => {
        silences += 1;
        end();
      }))
        seen.push(event.data);
    })();
    await reading;
    assert.deepEqual(seen, ['1']);
    assert.equal(silences, 1);
  });

  it('stops its timer when the body ends', async () => {
    async function* body(): AsyncGenerator<Uint8Array> {
      yield encoder.encode('data: x\n\n');
    }
    let silences = 0;
    for await (const _ of sseEventsOf(body(), 20, () => {
      silences += 1;
    }));
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(silences, 0);
  });
});
