// The device's end of remote actions (protocol/device-actions.ts): an `action` event on the push channel wakes it,
// it takes what waits for it from the API over its own authenticated route (the event itself is believed for
// nothing), runs each action in turn and posts what came of it. The API hands each action out once, so a reboot is
// never run twice; what follows the result (the reboot itself) runs only after the result left.
import type { DeviceActionOrder, DeviceActionResult, DiagnosticsBundle } from '../../protocol/device-actions.js';
import { MAX_ACTION_MESSAGE_CHARS } from '../../protocol/device-actions.js';
import { messageOf } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { backoffDelay } from '../../lib/backoff.js';
import type { ApiClient } from './api-client.js';

export interface ActionOutcome {
  message: string;
  diagnostics?: DiagnosticsBundle;
  /** What must happen after the API heard the result (a reboot takes the device, and its result, down). */
  after?: () => Promise<void>;
}

export interface RemoteActionsOptions {
  api: Pick<ApiClient, 'takeActions' | 'postActionResult'>;
  uuid: string;
  log: Logger;
  /** Runs one action; a throw is its failure, with the error's message as the result. */
  run: (order: DeviceActionOrder) => Promise<ActionOutcome>;
  /** Attempts at posting one result before it is given up (the action then expires on the API). */
  postAttempts?: number;
}

const clip = (text: string): string =>
  text.length <= MAX_ACTION_MESSAGE_CHARS ? text : `${text.slice(0, MAX_ACTION_MESSAGE_CHARS - 3)}...`;

export class RemoteActions {
  private draining: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly options: RemoteActionsOptions) {}

  /** Something may wait: fetch now, or once more after the fetch under way. */
  wake(): void {
    if (this.stopped) return;
    if (this.draining !== null) {
      this.again = true;
      return;
    }
    this.draining = this.drain().finally(() => {
      this.draining = null;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.draining;
  }

  private async drain(): Promise<void> {
    const { api, uuid, log } = this.options;
    do {
      this.again = false;
      let orders: DeviceActionOrder[];
      try {
        orders = await api.takeActions(uuid);
      } catch (err) {
        // The actions stay pending on the API: the next event (or the channel's next opening) fetches them.
        log.warn({ err: messageOf(err) }, 'remote actions: cannot fetch what waits');
        return;
      }
      for (const order of orders) {
        if (this.stopped) return;
        await this.runOne(order);
      }
    } while (this.again && !this.stopped);
  }

  private async runOne(order: DeviceActionOrder): Promise<void> {
    const { log } = this.options;
    log.info({ id: order.id, action: order.action, service: order.service }, 'remote action: running');
    let result: DeviceActionResult;
    let after: (() => Promise<void>) | undefined;
    try {
      const outcome = await this.options.run(order);
      result = {
        status: 'succeeded',
        message: clip(outcome.message),
        ...(outcome.diagnostics === undefined ? {} : { diagnostics: outcome.diagnostics }),
      };
      after = outcome.after;
    } catch (err) {
      result = { status: 'failed', message: clip(messageOf(err)) };
    }
    log.info(
      { id: order.id, action: order.action, status: result.status, message: result.message },
      'remote action done',
    );
    await this.post(order, result);
    if (after !== undefined) {
      try {
        await after();
      } catch (err) {
        log.error({ id: order.id, action: order.action, err: messageOf(err) }, 'remote action: what follows failed');
      }
    }
  }

  private async post(order: DeviceActionOrder, result: DeviceActionResult): Promise<void> {
    const attempts = this.options.postAttempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.api.postActionResult(this.options.uuid, order.id, result);
        return;
      } catch (err) {
        if (attempt >= attempts || this.stopped) {
          this.options.log.warn(
            { id: order.id, attempts: attempt, err: messageOf(err) },
            'remote action: its result could not be sent; the API shows the action expired',
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, { initialMs: 1_000, maxMs: 15_000 })));
      }
    }
  }
}
