// Runs a job over many items with at most `limit` at once: how the tests drive a simulated fleet (sign-ins,
// polls, reports) without opening thousands of requests together.

/** Calls `fn` for each item, `limit` at a time, in order of start; rejects with the first failure. */
export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next];
        next += 1;
        if (item !== undefined) await fn(item);
      }
    }),
  );
}
