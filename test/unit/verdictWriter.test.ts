import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accountKey } from '../../shared/domain/accounts';
import { findingDigest, findingKey, type Finding } from '../../shared/domain/findings';
import type { StoredVerdicts } from '../../shared/ports';
import { VerdictWriter } from '../../shared/usecases/verdictWriter';
import { accountId } from '../support/fakes';

const drift: Finding = { code: 'version-drift', severity: 'warning', evidence: {}, remedy: 'rebind' };

/** A findings store that records what it was asked to write and against which stored digests. */
function store(fail = false) {
  const writes: Array<{ accountId: string; stored: number }> = [];
  return {
    writes,
    async replaceForAccount(id: string, _f: Finding[], _s: string, _o: string, stored?: ReadonlyMap<string, string>): Promise<boolean> {
      if (fail) throw new Error('storage unavailable');
      writes.push({ accountId: id, stored: stored?.size ?? -1 });
      return true;
    },
  };
}

function later<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('verdict writer: findings wait for the stored verdicts, then are compared with them', () => {
  it('writes judged before the verdicts arrive go out once they do, each with its account\'s stored digests', async () => {
    const s = store();
    const verdicts = later<StoredVerdicts>();
    const writer = new VerdictWriter(s, verdicts.promise, { sweepId: 'sw', observedAt: 'now' });
    await writer.beforePage();
    await writer.record(accountId('a'), [drift]);
    assert.deepEqual(s.writes, [], 'nothing is written before it can be compared');
    verdicts.resolve(new Map([[accountKey(accountId('a')), new Map([['version-drift', 'digest']])]]));
    await writer.settle();
    assert.deepEqual(s.writes, [{ accountId: accountId('a'), stored: 1 }]);
    await writer.record(accountId('b'), [drift]);
    assert.deepEqual(s.writes.at(-1), { accountId: accountId('b'), stored: 0 }, 'after they arrived, a write goes out at once');
  });

  it('judging waits for the verdicts once two pages are ahead of them', async () => {
    const verdicts = later<StoredVerdicts>();
    const writer = new VerdictWriter(store(), verdicts.promise, { sweepId: 'sw', observedAt: 'now' });
    await writer.beforePage();
    await writer.beforePage();
    let third = false;
    const waiting = writer.beforePage().then(() => (third = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(third, false);
    verdicts.resolve(new Map());
    await waiting;
    assert.equal(third, true);
  });

  it('a write that failed fails settle(), and a verdict read that failed fails it too', async () => {
    const failing = new VerdictWriter(store(true), Promise.resolve(new Map()), { sweepId: 'sw', observedAt: 'now' });
    const verdicts = later<StoredVerdicts>();
    const pending = new VerdictWriter(store(true), verdicts.promise, { sweepId: 'sw', observedAt: 'now' });
    await pending.record(accountId('c'), [drift]);
    verdicts.resolve(new Map());
    await assert.rejects(pending.settle(), /storage unavailable/);
    await new Promise((r) => setImmediate(r));
    await assert.rejects(failing.record(accountId('d'), [drift]), /storage unavailable/);
    const unread = new VerdictWriter(store(), Promise.reject(new Error('no verdicts')), { sweepId: 'sw', observedAt: 'now' });
    await assert.rejects(unread.storedVerdicts(), /no verdicts/);
  });
});

describe('verdict writer: an unchanged verdict is not written', () => {
  it('skips an account whose stored rows are exactly its findings, and writes one with a row more or a finding new', async () => {
    const s = store();
    const same = accountId('same');
    const extra = accountId('extra');
    const clean = accountId('clean');
    const stored: StoredVerdicts = new Map([
      [accountKey(same), new Map([[findingKey(drift), findingDigest(drift)]])],
      [accountKey(extra), new Map([[findingKey(drift), findingDigest(drift)], ['key-expired', 'old']])],
    ]);
    const writer = new VerdictWriter(s, Promise.resolve(stored), { sweepId: 'sw', observedAt: 'now' });
    await writer.storedVerdicts();
    await writer.record(same, [drift]);
    await writer.record(extra, [drift]);
    await writer.record(clean, []);
    await writer.record(accountId('new'), [drift]);
    await writer.settle();
    assert.deepEqual(s.writes, [{ accountId: extra, stored: 2 }, { accountId: accountId('new'), stored: 0 }]);
  });
});
