// A device's side of fleet logs reduced to its protocol, for API tests without a supervisor: holds the device's push
// channel open with its token and answers every `logs` event that asks for a snapshot with the lines given (none
// by default), as one final batch.
import {
  LOGS_EVENT,
  LogsEventSchema,
  type DeviceLogLine,
  type LogBatch,
  type LogsEvent,
} from '../protocol/device-logs.js';
import { parse } from '../protocol/validate.js';
import { deviceLogPaths, eventPaths } from '../protocol/http/paths.js';
import { SseParser } from '../lib/sse.js';

export interface ResponderOptions {
  /** The snapshot's lines; none by default. */
  lines?: DeviceLogLine[];
  /** The services the device says it runs. */
  services?: string[];
  /** Where batches are posted (another instance behind the same load balancer); default where the channel is. */
  postTo?: string;
}

export class LogResponder {
  /** Every `logs` event heard, oldest first. */
  readonly heard: LogsEvent[] = [];
  private readonly stop = new AbortController();
  private readonly done: Promise<void>;
  /** Why it stopped answering, if it did: close() throws it. */
  private failure: unknown = null;

  private constructor(
    private readonly base: string,
    private readonly uuid: string,
    private readonly token: string,
    body: ReadableStream<Uint8Array>,
    private readonly answer: ResponderOptions,
  ) {
    this.done = this.listen(body).catch((err: unknown) => {
      if (!this.stop.signal.aborted) this.failure = err;
    });
  }

  /** Resolves once the channel is open (the API attaches it before answering the headers). */
  static async open(base: string, uuid: string, token: string, answer: ResponderOptions = {}): Promise<LogResponder> {
    const stop = new AbortController();
    const response = await fetch(`${base}${eventPaths.events(uuid)}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: stop.signal,
    });
    if (response.status !== 200 || response.body === null)
      throw new Error(`GET ${eventPaths.events(uuid)} answered ${response.status}: ${await response.text()}`);
    const responder = new LogResponder(base, uuid, token, response.body, answer);
    responder.stop.signal.addEventListener('abort', () => stop.abort());
    return responder;
  }

  private async listen(body: ReadableStream<Uint8Array>): Promise<void> {
    const parser = new SseParser();
    const decoder = new TextDecoder();
    for await (const chunk of body) {
      for (const event of parser.push(decoder.decode(chunk, { stream: true }))) {
        if (event.event !== LOGS_EVENT) continue;
        const asked = parse(LogsEventSchema, JSON.parse(event.data), 'a logs event');
        this.heard.push(asked);
        if (asked.tail === null) continue;
        await this.post({
          lines: this.answer.lines ?? [],
          snapshot: { request: asked.request, final: true, services: this.answer.services ?? [] },
        });
      }
    }
  }

  /** Posts a batch as the device would, by default where the answers go. */
  async post(batch: LogBatch, to: string = this.answer.postTo ?? this.base): Promise<void> {
    const response = await fetch(`${to}${deviceLogPaths.batches(this.uuid)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(batch),
    });
    if (response.status !== 204)
      throw new Error(`the log batch was answered ${response.status}: ${await response.text()}`);
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.done;
    if (this.failure !== null) throw this.failure;
  }
}
