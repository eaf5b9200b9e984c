import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accountKey } from '../../shared/domain/accounts';
import type { Finding } from '../../shared/domain/findings';
import { findingDigest, findingKey } from '../../shared/domain/verdicts';
import type { StoredVerdicts } from '../../shared/ports';
import { VerdictWriter } from '../../shared/usecases/verdictWriter';
import { accountId } from '../support/fakes';

const drift: Finding = { code: 'version-drift', severity: 'warning', evidence: {}, remedy: 'rebind' };
const stale: Finding = { code: 'key-expired', severity: 'critical', evidence: {}, remedy: 'rotate' };
const digests = (...findings: Finding[]) => new Map(findings.map((f) => [findingKey(f), findingDigest(f)]));

/**
 * A findings store whose verdicts() answers these pages in order (held until released when asked), and records
 * how many pages were asked for and what it was asked to write against which stored digests.
 */
function store(pages: StoredVerdicts[] = [], o: { held?: boolean; failWrites?: boolean; failReads?: boolean } = {}) {
  const writes: Array<{ accountId: string; stored: number }> = [];
  const held: Array<() => void> = [];
  const s = {
    writes, pagesRead: 0,
    release: () => held.splice(0).forEach((go) => go()),
    async *verdicts(): AsyncIterable<StoredVerdicts> {
      for (const page of pages) {
        s.pagesRead += 1;
        if (o.held) await new Promise<void>((go) => held.push(go));
        if (o.failReads) throw new Error('no verdicts');
        yield page;
      }
    },
    async replaceForAccount(id: string, _f: Finding[], _s: string, _o: string, storedRows?: ReadonlyMap<string, string>): Promise<boolean> {
      if (o.failWrites) throw new Error('storage unavailable');
      writes.push({ accountId: id, stored: storedRows?.size ?? -1 });
      return true;
    },
  };
  return s;
}

const meta = { sweepId: 'sw', observedAt: 'now' };
const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => accountId(name)) as [string, string, string, string];
const key = (id: string) => accountKey(id);
const page = (...rows: Array<[string, Map<string, string>]>): StoredVerdicts => new Map(rows.map(([id, codes]) => [key(id), codes]));
const tick = () => new Promise((r) => setImmediate(r));
/** Lets the held store answer page after page until `done` settles. */
async function releasing(s: { release: () => void }, done: Promise<unknown>): Promise<void> {
  let settled = false;
  const watched = done.finally(() => (settled = true));
  while (!settled) {
    s.release();
    await tick();
  }
  await watched;
}

describe('verdict writer: the stored verdicts are read beside discovery, in account order', () => {
  it('reads the store only as far as the page needs (a page ahead), and the rest after the last page', async () => {
    const s = store([page([a, digests(drift)]), page([c, digests(drift)]), page([d, digests(drift)])]);
    const writer = new VerdictWriter(s, meta);
    await writer.beforePage([key(b), key(a)]);
    await writer.record(a, [drift]);
    await writer.record(b, [drift]);
    await writer.settle();
    assert.ok(s.pagesRead <= 3, 'past b: the page holding c, and one more at most on its way');
    await writer.beforePage([key(c)]);
    await writer.record(c, []);
    const left = await writer.leftOver();
    assert.deepEqual(s.writes, [{ accountId: b, stored: 0 }, { accountId: c, stored: 1 }], 'a unchanged; b new; c cleared');
    assert.deepEqual([...left.keys()], [key(d)], 'the account past the last page was not seen: its rows are left over');
  });

  it("an account's rows that go on in the next page of the store are all compared", async () => {
    const s = store([page([a, digests(drift)], [b, digests(drift)]), page([b, digests(stale)], [c, digests(drift)])]);
    const writer = new VerdictWriter(s, meta);
    await writer.beforePage([key(a), key(b)]);
    await writer.record(b, [drift, stale]);
    await writer.record(a, [drift]);
    await writer.settle();
    assert.deepEqual(s.writes, [], "b's two rows, read across two pages, are exactly its findings");
  });

  it("an account discovery gives out of the store's order finds its rows kept from earlier", async () => {
    const s = store([page([a, digests(drift)], [b, digests(drift, stale)]), page([c, digests(drift)])]);
    const writer = new VerdictWriter(s, meta);
    await writer.beforePage([key(c)]);
    await writer.record(c, [drift]);
    await writer.beforePage([key(b)]);
    await writer.record(b, [drift]);
    const left = await writer.leftOver();
    assert.deepEqual(s.writes, [{ accountId: b, stored: 2 }], 'c unchanged; b compared with its own two rows');
    assert.deepEqual([...left.keys()], [key(a)]);
  });

  it('every account of a page is compared, however long after the store was read its findings come', async () => {
    const s = store([page([a, digests(stale)], [b, digests(stale)])]);
    const writer = new VerdictWriter(s, meta);
    await writer.beforePage([key(a), key(b), key(c)]);
    await writer.record(a, [drift]);
    await tick();
    await tick();
    await writer.record(b, [drift]);
    await tick();
    await writer.record(c, [drift]);
    await writer.settle();
    assert.deepEqual(s.writes.map((w) => w.accountId), [a, b, c]);
  });

  it('an account seen but not judged keeps its rows: they are never left over', async () => {
    const writer = new VerdictWriter(store([page([a, digests(drift)], [b, digests(drift)])]), meta);
    await writer.beforePage([key(a), key(b)]);
    await writer.record(a, [drift]);
    assert.deepEqual([...(await writer.leftOver()).keys()], []);
  });

  it("a page's writes wait for the store, and judging waits rather than have three pages unread", async () => {
    const s = store([page([a, digests(stale)]), page([b, digests(drift)]), page([c, digests(drift)]), page([d, digests(drift)])], { held: true });
    const writer = new VerdictWriter(s, meta);
    await writer.beforePage([key(a)]);
    await writer.record(a, [drift]);
    await writer.beforePage([key(b)]);
    let third = false;
    const waiting = writer.beforePage([key(c)]).then(() => (third = true));
    await tick();
    assert.deepEqual([s.writes, third], [[], false], 'nothing written before it can be compared; the third page waits');
    await releasing(s, waiting);
    await releasing(s, writer.settle());
    assert.deepEqual(s.writes, [{ accountId: a, stored: 1 }]);
  });

  it('a write that failed fails settle(), and a read of the store that failed fails it too', async () => {
    const failing = new VerdictWriter(store([], { failWrites: true }), meta);
    await failing.beforePage([key(a)]);
    await failing.record(a, [drift]);
    await assert.rejects(failing.settle(), /storage unavailable/);
    const unread = new VerdictWriter(store([page([a, digests(drift)])], { failReads: true }), meta);
    await unread.beforePage([key(a)]);
    await unread.record(a, [drift]);
    await assert.rejects(unread.settle(), /no verdicts/);
    await assert.rejects(new VerdictWriter(store([page([a, digests(drift)])], { failReads: true }), meta).leftOver(), /no verdicts/);
  });
});

describe('verdict writer: an unchanged verdict is not written', () => {
  it('skips an account whose stored rows are exactly its findings, and writes one with a row more or a finding new', async () => {
    const same = accountId('same');
    const extra = accountId('extra');
    const clean = accountId('clean');
    const fresh = accountId('new');
    const s = store([page([same, digests(drift)], [extra, new Map([...digests(drift), ['key-expired', 'old']])])]);
    const writer = new VerdictWriter(s, meta);
    await writer.beforePage([same, extra, clean, fresh].map(key));
    await writer.record(same, [drift]);
    await writer.record(extra, [drift]);
    await writer.record(clean, []);
    await writer.record(fresh, [drift]);
    await writer.settle();
    assert.deepEqual(s.writes, [{ accountId: extra, stored: 2 }, { accountId: fresh, stored: 0 }]);
  });
});
