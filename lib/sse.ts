// Server-sent events as the WHATWG spec frames them (text/event-stream): `field: value` lines, an event ends at a
// blank line, `data` lines join with newlines, lines starting with ':' are comments (heartbeats). Fed text as it
// arrives; chunks may split lines anywhere, even between \r and \n.
//
// The parser holds an unfinished line and an unfinished event in memory, so a stream that never ends its line (or
// its event) would grow without bound: past `maxEventChars` it throws SseLimitError, and the caller drops the
// connection (and opens a new one if it wants).

/** What an event may hold by default: a `lines` event of fleet logs (500 lines of 2,000 characters, escaped) fits. */
export const DEFAULT_MAX_SSE_EVENT_CHARS = 8 * 1024 * 1024;

export class SseLimitError extends Error {
  constructor(readonly limit: number) {
    super(
      `a server-sent event is longer than ${limit} characters (a line without its end, or an event without the blank line that ends it): the stream is dropped`,
    );
    this.name = 'SseLimitError';
  }
}

export interface SseParserOptions {
  /** Most characters one event may take, its unfinished line included. */
  maxEventChars?: number;
}

export interface SseEvent {
  /** 'message' when the event named none. */
  event: string;
  data: string;
}

export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  /** Characters the unfinished event holds (its event name and data lines). */
  private held = 0;
  private readonly maxEventChars: number;

  constructor(options: SseParserOptions = {}) {
    this.maxEventChars = options.maxEventChars ?? DEFAULT_MAX_SSE_EVENT_CHARS;
  }

  /** The events completed by `chunk`. Throws SseLimitError once an event grows past the limit. */
  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const done: SseEvent[] = [];
    for (;;) {
      const end = this.buffer.search(/\r\n|\r|\n/);
      if (end < 0) break;
      // A \r at the very end may be the first half of \r\n: wait for the next chunk to tell.
      if (this.buffer[end] === '\r' && end === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + (this.buffer.startsWith('\r\n', end) ? 2 : 1));
      const event = this.line(line);
      if (event !== null) done.push(event);
      if (this.held > this.maxEventChars) throw new SseLimitError(this.maxEventChars);
    }
    // What is left is one unfinished line.
    if (this.held + this.buffer.length > this.maxEventChars) throw new SseLimitError(this.maxEventChars);
    return done;
  }

  private line(line: string): SseEvent | null {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        this.held = 0;
        return null;
      }
      const event = { event: this.event || 'message', data: this.data.join('\n') };
      this.event = '';
      this.data = [];
      this.held = 0;
      return event;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') {
      this.held += value.length - this.event.length;
      this.event = value;
    } else if (field === 'data') {
      this.held += value.length + 1;
      this.data.push(value);
    }
    // id and retry are not used: after a reconnect the first event says where things stand.
    return null;
  }
}

/**
 * The events of a text/event-stream body as they complete. When `silenceMs` pass without a byte, `onSilence` is
 * called once: a stream its sender keeps alive with heartbeats has died, and the caller aborts it (which ends the
 * body). The timer stops with the body, however it ends.
 */
export async function* sseEventsOf(
  body: AsyncIterable<Uint8Array>,
  silenceMs: number,
  onSilence: () => void,
  options: SseParserOptions = {},
): AsyncGenerator<SseEvent> {
  const parser = new SseParser(options);
  const decoder = new TextDecoder();
  let silence: NodeJS.Timeout | undefined;
  const listen = (): void => {
    clearTimeout(silence);
    silence = setTimeout(onSilence, silenceMs);
  };
  try {
    listen();
    for await (const chunk of body) {
      listen();
      yield* parser.push(decoder.decode(chunk, { stream: true }));
    }
  } finally {
    clearTimeout(silence);
  }
}
