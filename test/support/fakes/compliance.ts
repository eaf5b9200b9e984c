import { accountKey } from '../../../shared/domain/accounts';
import type { Finding, FindingRecord, Severity, SweepSummary } from '../../../shared/domain/findings';
import { servedSweep } from '../../../shared/domain/sweepRecords';
import { findingDigest, findingKey } from '../../../shared/domain/verdicts';
import type { Clock, FindingStore, RotationClaims, StoredVerdicts, SweepStore } from '../../../shared/ports';

/** The Findings table in memory: each account's findings by key, rewritten only when a digest changed. */
export class MemoryFindings implements FindingStore {
  readonly byAccount = new Map<string, FindingRecord[]>();
  /** The accounts whose findings were written, in order. */
  readonly written: string[] = [];

  /** Rows per page of verdicts(): small, so that a sweep reads an account's rows across pages. */
  constructor(private readonly pageRows = 3) {}

  async *verdicts(): AsyncIterable<StoredVerdicts> {
    const rows = [...this.byAccount].sort(([a], [b]) => (a < b ? -1 : 1)).flatMap(([key, records]) => records.map((r) => [key, findingKey(r), findingDigest(r)] as const));
    for (let i = 0; i < rows.length; i += this.pageRows) {
      const page: StoredVerdicts = new Map();
      for (const [key, code, digest] of rows.slice(i, i + this.pageRows)) page.set(key, (page.get(key) ?? new Map()).set(code, digest));
      yield page;
    }
  }

  private async stored(accountId: string): Promise<Map<string, string>> {
    const key = accountKey(accountId);
    return new Map((this.byAccount.get(key) ?? []).map((r) => [findingKey(r), findingDigest(r)]));
  }
  async replaceForAccount(accountId: string, findings: Finding[], sweepId: string, observedAt: string, stored?: ReadonlyMap<string, string>): Promise<boolean> {
    const before = stored ?? (await this.stored(accountId));
    const unchanged = before.size === findings.length && findings.every((f) => before.get(findingKey(f)) === findingDigest(f));
    if (unchanged) return false;
    this.byAccount.set(accountKey(accountId), findings.map((f) => ({ ...structuredClone(f), accountId, sweepId, observedAt })));
    this.written.push(accountId);
    return true;
  }
  async upsert(accountId: string, findings: Finding[], sourceId: string, observedAt: string): Promise<void> {
    const byKey = new Map((this.byAccount.get(accountKey(accountId)) ?? []).map((r) => [findingKey(r), r]));
    for (const f of findings) byKey.set(findingKey(f), { ...structuredClone(f), accountId, sweepId: sourceId, observedAt });
    this.byAccount.set(accountKey(accountId), [...byKey.values()]);
    this.written.push(accountId);
  }
  async list(options: { severity?: Severity; accountId?: string } = {}): Promise<FindingRecord[]> {
    return [...this.byAccount.values()].flat()
      .filter((r) => (!options.severity || r.severity === options.severity) && (!options.accountId || accountKey(r.accountId) === accountKey(options.accountId)));
  }
  async removeVerdicts(stale: StoredVerdicts): Promise<number> {
    const gone = [...stale.keys()].filter((key) => this.byAccount.delete(key));
    return gone.length;
  }
}

/** The Sweeps table in memory, with its one lock: a lock past its expiry (by the clock) is taken over. */
export class MemorySweeps implements SweepStore {
  readonly rows = new Map<string, SweepSummary>();
  /** Every record() in order, to see the running row before the last. */
  readonly records: SweepSummary[] = [];
  lockedBy: { sweepId: string; expiresAt: number; runner?: string; finished?: boolean } | undefined;

  constructor(private readonly clock: Clock) {}

  async record(summary: SweepSummary): Promise<void> {
    this.records.push(structuredClone(summary));
    this.rows.set(summary.sweepId, structuredClone(summary));
  }
  /** As TableSweepStore: a running row whose run no longer holds the lock is served failed. */
  async latest(): Promise<SweepSummary | undefined> {
    const row = [...this.rows.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt))[0];
    const lock = this.lockedBy && { sweepId: this.lockedBy.sweepId, expiresAt: new Date(this.lockedBy.expiresAt), finished: !!this.lockedBy.finished };
    return row && servedSweep(row, lock, this.clock.now());
  }
  async get(sweepId: string): Promise<SweepSummary | undefined> {
    return this.rows.get(sweepId);
  }
  /** As TableSweepStore. */
  async lock(sweepId: string, ttlMs: number, runner?: string): Promise<{ held: false } | { held: true; sweepId: string }> {
    const now = this.clock.now().getTime();
    const held = this.lockedBy;
    if (held?.finished) {
      if (held.sweepId === sweepId) return { held: true, sweepId };
    } else {
      const ours = held?.sweepId === sweepId && (!held.runner || !runner || held.runner === runner);
      if (held && !ours && held.expiresAt >= now) return { held: true, sweepId: held.sweepId };
    }
    this.lockedBy = { sweepId, expiresAt: now + ttlMs, ...(runner ? { runner } : {}) };
    return { held: false };
  }
  async renew(sweepId: string, ttlMs: number, runner?: string): Promise<boolean> {
    const held = this.lockedBy;
    if (held?.sweepId !== sweepId || held.runner !== runner || held.finished) return false;
    held.expiresAt = this.clock.now().getTime() + ttlMs;
    return true;
  }
  async unlock(sweepId: string, runner?: string, ended = false): Promise<void> {
    if (this.lockedBy?.sweepId !== sweepId || this.lockedBy.runner !== runner) return;
    this.lockedBy = runner && ended ? { ...this.lockedBy, finished: true } : undefined;
  }
}

/** The KeyRotations table in memory: as TableRotationClaims, a claim another holder finds held until it expires. */
export class MemoryRotationClaims implements RotationClaims {
  readonly claims = new Map<string, { holder: string; expiresAt: number }>();

  constructor(private readonly clock: Clock) {}

  async claim(vaultUri: string, keyName: string, version: string, holder: string, ttlMs: number): Promise<{ claimed: true } | { claimed: false; holder: string; expiresAt: Date }> {
    const id = `${new URL(vaultUri).host}/${keyName}/${version}`.toLowerCase();
    const now = this.clock.now().getTime();
    const current = this.claims.get(id);
    if (current && current.expiresAt >= now) {
      return current.holder === holder ? { claimed: true } : { claimed: false, holder: current.holder, expiresAt: new Date(current.expiresAt) };
    }
    this.claims.set(id, { holder, expiresAt: now + ttlMs });
    return { claimed: true };
  }
}
