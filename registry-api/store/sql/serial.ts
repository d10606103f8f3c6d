// One connection, one thing at a time: SQLite's handle is shared by every request, so a transaction that awaits
// between its statements must not let another request's statement land inside it.
import { AsyncLocalStorage } from 'node:async_hooks';

export class SerialLock {
  private tail: Promise<unknown> = Promise.resolve();
  /** Work queued or running that has not settled yet. */
  private pending = 0;

  /** Runs `fn` after everything queued before it has settled. */
  run<T>(fn: () => T | Promise<T>): Promise<T> {
    this.pending += 1;
    const result = this.tail.then(() => fn());
    const settled = (): void => {
      this.pending -= 1;
    };
    this.tail = result.then(settled, settled);
    return result;
  }

  /**
   * Runs synchronous `fn` at once when nothing is queued (nothing can come between its start and its end), else
   * behind the queue: the common case, a read with no transaction open, costs no promise chain.
   */
  runSync<T>(fn: () => T): Promise<T> {
    if (this.pending > 0) return this.run(fn);
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

const openTransaction = new AsyncLocalStorage<object>();

/** Runs `fn` marked as inside a transaction of `db`, so misuse of `db` itself within it is caught. */
export function insideTransaction<T>(db: object, fn: () => Promise<T>): Promise<T> {
  return openTransaction.run(db, fn);
}

/**
 * Throws when called from within a transaction of `db`: a statement there on `db` instead of the transaction's
 * handle would run outside it (PostgreSQL) or wait for it forever (SQLite).
 */
export function refuseInsideTransaction(db: object, what: string): void {
  if (openTransaction.getStore() === db) {
    throw new Error(`${what} on the database inside one of its transactions: use the transaction's handle`);
  }
}
