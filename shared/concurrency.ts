import { setImmediate as nextTurn } from 'node:timers/promises';

/** Runs `work` over the items with at most `limit` in flight; the first failure rejects once the others have settled. */
export async function forEachLimited<T>(items: Iterable<T>, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failed: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    for (let next = iterator.next(); !next.done && !failed; next = iterator.next()) {
      try {
        await work(next.value);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, lane));
  if (failed) throw failed.error;
}

/**
 * The source's items, with the next `depth` already being fetched while the caller works on the current one
 * (from the moment this is called): a paged read costs its round trips once, not once plus the work between
 * them, and a slow item to work on (the first, waiting for what it needs) holds up no fetch. The source must
 * take requests for its next items before it answers the last (an async generator queues them).
 */
export function readAhead<T>(source: AsyncIterable<T>, depth = 1): AsyncIterable<T> {
  const iterator = source[Symbol.asyncIterator]();
  const fetch = (): Promise<IteratorResult<T>> => {
    const pending = iterator.next();
    // Awaited below; a caller that stops early leaves it unobserved, which is not an error.
    pending.catch(() => undefined);
    return pending;
  };
  const ahead = Array.from({ length: Math.max(1, depth) }, fetch);
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const result = await (ahead.shift() as Promise<IteratorResult<T>>);
        if (result.done) return;
        ahead.push(fetch());
        // The next item is asked for in a microtask, but a request reaches the wire (an HTTP request's first write is
        // a nextTick) only once the microtask queue drains, and a caller working through an item on settled promises
        // keeps it busy until it is done: the fetch would wait for the work. One turn of the event loop sends it first.
        await nextTurn();
        yield result.value;
      }
    },
  };
}
