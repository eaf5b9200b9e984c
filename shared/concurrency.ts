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
 * The source's items, with the next one already being fetched while the caller works on the current one
 * (the first from the moment this is called): a paged read costs its round trips once, not once plus the
 * work between them.
 */
export function readAhead<T>(source: AsyncIterable<T>): AsyncIterable<T> {
  const iterator = source[Symbol.asyncIterator]();
  const fetch = (): Promise<IteratorResult<T>> => {
    const pending = iterator.next();
    // Awaited below; a caller that stops early leaves it unobserved, which is not an error.
    pending.catch(() => undefined);
    return pending;
  };
  let next = fetch();
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const result = await next;
        if (result.done) return;
        next = fetch();
        yield result.value;
      }
    },
  };
}
