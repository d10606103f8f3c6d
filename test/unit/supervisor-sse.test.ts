import assert from 'node:assert/strict';
import { SseParser } from '../../lib/sse.js';

describe('server-sent events parser', () => {
  it('frames events, joins data lines, skips comments', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push(': heartbeat\n\nevent: target\ndata: {"etag":"x"}\n\ndata: a\ndata: b\n\n'), [
      { event: 'target', data: '{"etag":"x"}' },
      { event: 'message', data: 'a\nb' },
    ]);
  });

  it('handles events split anywhere, CRLF split between chunks included', () => {
    const text = 'event: target\r\ndata: {"etag":"1"}\r\n\r\nevent: target\rdata:2\r\r\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      assert.deepEqual(
        events,
        [
          { event: 'target', data: '{"etag":"1"}' },
          { event: 'target', data: '2' },
        ],
        `cut at ${cut}`,
      );
    }
  });

  it('forgets an event name without data at a blank line', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('event: target\n\ndata: x\n\n'), [{ event: 'message', data: 'x' }]);
  });
});
