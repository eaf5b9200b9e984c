import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accountKey } from '../../shared/domain/accounts';
import { findingDigest, findingKey, type Finding } from '../../shared/domain/findings';
import type { AccountKeyRange, StoredVerdicts } from '../../shared/ports';
import { VerdictWriter } from '../../shared/usecases/verdictWriter';
import { accountId } from '../support/fakes';

const drift: Finding = { code: 'version-drift', severity: 'warning', evidence: {}, remedy: 'rebind' };
const stale: Finding = { code: 'key-expired', severity: 'critical', evidence: {}, remedy: 'rotate' };
const digests = (...findings: Finding[]) => new Map(findings.map((f) => [findingKey(f), findingDigest(f)]));

/**
 * A findings store over `rows` (account key -> digests) that answers range reads when told to (or at once), and
 * records the ranges asked and what it was asked to write against which stored digests.
 */
function store(rows: StoredVerdicts = new Map(), o: { held?: boolean; failWrites?: boolean; failReads?: boolean } = {}) {
  const ranges: AccountKeyRange[] = [];
  const writes: Array<{ accountId: string; stored: number }> = [];
  const held: Array<() => void> = [];
  return {
    ranges, writes,
    release: () => held.splice(0).forEach((go) => go()),
    async verdicts(range: AccountKeyRange = {}): Promise<StoredVerdicts> {
      ranges.push(range);
      if (o.held) await new Promise<void>((go) => held.push(go));
      if (o.failReads) throw new Error('no verdicts');
      const within = (key: string) => (range.after === undefined || key > range.after) && (range.upTo === undefined || key <= range.upTo);
      return new Map([...rows].filter(([key]) => within(key)));
    },
    async replaceForAccount(id: string, _f: Finding[], _s: string, _o: string, storedRows?: ReadonlyMap<string, string>): Promise<boolean> {
      if (o.failWrites) throw new Error('storage unavailable');
      writes.push({ accountId: id, stored: storedRows?.size ?? -1 });
      return true;
    },
  };
}

const meta = { sweepId: 'sw', observedAt: 'now' };
const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => accountId(name)) as [string, string, string, string];
const key = (id: string) => accountKey(id);

describe('verdict writer: the stored verdicts are read one key range per page', () => {
  it('each page reads from where the last range ended to its last account, and the rest after the last page', async () => {
    const s = store(new Map([[key(a), digests(drift)], [key(c), digests(drift)], [key(d), digests(drift)]]));
    const writer = new VerdictWriter(s, meta);
    await writer.beforePage([key(b), key(a)]);
    await writer.record(a, [drift]);
    await writer.record(b, [drift]);
    await writer.beforePage([key(c)]);
    await writer.record(c, []);
    const left = await writer.leftOver();
    assert.deepEqual(s.ranges, [{ after: undefined, upTo: key(b) }, { after: key(b), upTo: key(c) }, { after: key(c) }]);
    assert.deepEqual(s.writes, [{ accountId: b, stored: 0 }, { accountId: c, stored: 1 }], 'a unchanged; b new; c cleared');
    assert.deepEqual([...left.keys()], [key(d)], 'the account past the last page was not seen: its rows are left over');
  });

  it('an account discovery gives out of the store\'s order finds its rows kept from an earlier range', async () => {
    const s = store(new Map([[key(a), digests(drift)], [key(b), digests(drift, stale)]]));
    const writer = new VerdictWriter(s, meta);
    await writer.beforePage([key(c)]);
    await writer.record(c, [drift]);
    await writer.beforePage([key(b)]);
    await writer.record(b, [drift]);
    const left = await writer.leftOver();
    assert.equal(s.ranges.length, 2, 'b lies before c: no range more for its page, only the rest at the end');
    assert.deepEqual(s.writes, [{ accountId: c, stored: 0 }, { accountId: b, stored: 2 }], "b is compared with its own two rows");
    assert.deepEqual([...left.keys()], [key(a)]);
  });

  it('an account seen but not judged keeps its rows: they are never left over', async () => {
    const s = store(new Map([[key(a), digests(drift)], [key(b), digests(drift)]]));
    const writer = new VerdictWriter(s, meta);
    await writer.beforePage([key(a), key(b)]);
    await writer.record(a, [drift]);
    assert.deepEqual([...(await writer.leftOver()).keys()], []);
  });

  it("a page's writes wait for its range, and judging waits rather than have three ranges unread", async () => {
    const s = store(new Map([[key(a), digests(stale)]]), { held: true });
    const writer = new VerdictWriter(s, meta);
    await writer.beforePage([key(a)]);
    await writer.record(a, [drift]);
    await writer.beforePage([key(b)]);
    let third = false;
    const waiting = writer.beforePage([key(c)]).then(() => (third = true));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([s.writes, third], [[], false], 'nothing written before it can be compared; the third page waits');
    s.release();
    await waiting;
    await writer.settle();
    assert.deepEqual(s.writes, [{ accountId: a, stored: 1 }]);
  });

  it('a write that failed fails settle(), and a range read that failed fails it too', async () => {
    const failing = new VerdictWriter(store(new Map(), { failWrites: true }), meta);
    await failing.beforePage([key(a)]);
    await failing.record(a, [drift]);
    await assert.rejects(failing.settle(), /storage unavailable/);
    const unread = new VerdictWriter(store(new Map(), { failReads: true }), meta);
    await unread.beforePage([key(a)]);
    await unread.record(a, [drift]);
    await assert.rejects(unread.settle(), /no verdicts/);
    await assert.rejects(new VerdictWriter(store(new Map(), { failReads: true }), meta).leftOver(), /no verdicts/);
  });
});

describe('verdict writer: an unchanged verdict is not written', () => {
  it('skips an account whose stored rows are exactly its findings, and writes one with a row more or a finding new', async () => {
    const same = accountId('same');
    const extra = accountId('extra');
    const clean = accountId('clean');
    const fresh = accountId('new');
    const s = store(new Map([[key(same), digests(drift)], [key(extra), new Map([...digests(drift), ['key-expired', 'old']])]]));
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
