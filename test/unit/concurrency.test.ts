import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readAhead } from '../../shared/concurrency';

/** A paged source whose next request goes out as an HTTP request's first write does: on a nextTick. */
function pagedSource(pages: number, sent: number[]): AsyncIterable<number> {
  return {
    async *[Symbol.asyncIterator]() {
      for (let page = 0; page < pages; page++) {
        process.nextTick(() => sent.push(page));
        await Promise.resolve();
        yield page;
      }
    },
  };
}

describe('readAhead', () => {
  it('has the next page on the wire before the caller works on the current one', async () => {
    const sent: number[] = [];
    const seenAtStart: number[][] = [];
    for await (const page of readAhead(pagedSource(4, sent))) {
      seenAtStart.push([...sent]);
      // Work on settled promises only, as judging a page whose keys are already read is: no turn of the event loop.
      for (let i = 0; i < 1_000; i++) await Promise.resolve(page);
    }
    assert.deepEqual(seenAtStart, [[0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3]]);
  });

  it('keeps the order of the source and ends with it', async () => {
    const pages: number[] = [];
    for await (const page of readAhead(pagedSource(5, []), 2)) pages.push(page);
    assert.deepEqual(pages, [0, 1, 2, 3, 4]);
  });
});
