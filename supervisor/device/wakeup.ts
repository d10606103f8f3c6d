// A sleep that can be cut short: loops wait on it between passes, and anything that makes a pass worth running
// now (a new target, a status change, shutdown) wakes them. A wake that arrives while nobody waits is kept, so
// the next wait returns at once and no trigger is lost.
export class Wakeup {
  private pending = false;
  private release: (() => void) | undefined;

  wake(): void {
    this.pending = true;
    this.release?.();
  }

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.release = undefined;
        this.pending = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.release = done;
    });
  }
}

/**
 * The supervisor's background loops (poller, reporter, reconciler, push channel, log shipper): run a pass, wait
 * as long as it asks or until woken, again, until stopped. stop() lets the pass in flight finish.
 */
export class PassLoop {
  private readonly wakeup = new Wakeup();
  private stopping = false;
  private running: Promise<void> | undefined;

  /** `pass` returns how long to wait before the next one (ms). */
  constructor(private readonly pass: () => Promise<number>) {}

  get stopped(): boolean {
    return this.stopping;
  }

  /** Runs the next pass now, or right after the one in flight. */
  wake(): void {
    this.wakeup.wake();
  }

  start(): void {
    if (this.running !== undefined) return;
    this.stopping = false;
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeup.wake();
    await this.running;
    this.running = undefined;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const delay = await this.pass();
      if (this.stopping) break;
      await this.wakeup.wait(delay);
    }
  }
}
