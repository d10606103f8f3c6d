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
