import type { RotationJob } from '../../../shared/domain/jobs';
import type { RotationRecord } from '../../../shared/domain/model';
import type { Pin } from '../../../shared/domain/rebind';
import { bindingKey } from '../../../shared/domain/scopes';
import type { AccountJournal, Clock, JobQueue, JournalState, Lease, Ledger, PinStore } from '../../../shared/ports';

/** The ledger and each account's journal in memory, with ETags as Table Storage keeps them. */
export class MemoryLedger implements Ledger, AccountJournal {
  readonly rows = new Map<string, RotationRecord>();
  /** Every write in order, to check that intent came before the change. */
  readonly writes: RotationRecord[] = [];
  readonly leases = new Map<string, { holder: string; expiresAt: string; etag: string }>();
  /** Each row's ETag, new with every write. */
  private readonly rowEtags = new Map<string, string>();
  failOn?: (row: RotationRecord) => boolean;
  private etags = 0;
  constructor(
    private readonly clock: Clock,
    /** Where open() finds the binding's pin, as the journal partition holds it. */
    private readonly pins?: MemoryPins,
  ) {}

  /** A queued job's row, as the job index holds it (Table keeps it apart from the account's partition the job writes). */
  private write(row: RotationRecord, merge = true, queued = false): void {
    if (this.failOn?.(row)) throw new Error('ledger unavailable');
    const key = `${row.accountId.toLowerCase()}|${row.jobId}`;
    const defined = Object.fromEntries(Object.entries(row).filter(([, v]) => v !== undefined)) as RotationRecord;
    const next = merge ? { ...(this.rows.get(key) ?? {}), ...defined } : defined;
    this.writes.push(structuredClone(next));
    this.rows.set(key, structuredClone(next));
    if (!queued) this.rowEtags.set(key, `r${++this.etags}`);
  }
  private lease(accountId: string, holder: string, ttlMs: number): Lease {
    const lease = { holder, expiresAt: new Date(this.clock.now().getTime() + ttlMs).toISOString(), etag: `e${++this.etags}` };
    this.leases.set(accountId.toLowerCase(), lease);
    return { accountId, ...lease };
  }
  async recordQueued(rows: RotationRecord[]): Promise<void> {
    for (const row of rows) if (!this.rows.has(`${row.accountId.toLowerCase()}|${row.jobId}`)) this.write(row, false, true);
  }
  async open(accountId: string, ref: Pick<RotationRecord, 'queuedAt' | 'jobId'>, encryptionScope?: string): Promise<JournalState> {
    const lease = this.leases.get(accountId.toLowerCase());
    const key = `${accountId.toLowerCase()}|${ref.jobId}`;
    const row = this.rows.get(key);
    const pin = await this.pins?.get(accountId, encryptionScope);
    return {
      accountId, ...(lease ? { lease: { ...lease } } : {}), ...(row ? { row: structuredClone(row) } : {}), ...(this.rowEtags.has(key) ? { rowEtag: this.rowEtags.get(key) as string } : {}),
      ...(pin ? { pin: { ...pin } } : {}),
    };
  }
  async begin(state: JournalState, holder: string, ttlMs: number, row: RotationRecord): Promise<Lease | undefined> {
    if (this.leases.get(state.accountId.toLowerCase())?.etag !== state.lease?.etag) return undefined;
    if (this.rowEtags.get(`${row.accountId.toLowerCase()}|${row.jobId}`) !== state.rowEtag) return undefined;
    this.write(row);
    return this.lease(state.accountId, holder, ttlMs);
  }
  async renew(lease: Lease, ttlMs: number): Promise<Lease | undefined> {
    if (this.leases.get(lease.accountId.toLowerCase())?.etag !== lease.etag) return undefined;
    return this.lease(lease.accountId, lease.holder, ttlMs);
  }
  async finish(lease: Lease, row: RotationRecord): Promise<void> {
    this.write(row);
    await this.release(lease);
  }
  /** As TableLedger: the lease as this holder holds it (its ETag moved by a renewal whose answer was lost, or not). */
  async release(lease: Lease): Promise<void> {
    if (this.leases.get(lease.accountId.toLowerCase())?.holder === lease.holder) this.lease(lease.accountId, '', -this.clock.now().getTime());
  }
  async record(row: RotationRecord, over?: JournalState): Promise<boolean> {
    if (over && this.rowEtags.get(`${row.accountId.toLowerCase()}|${row.jobId}`) !== over.rowEtag) return false;
    this.write(row);
    return true;
  }
  async history(accountId: string, limit: number): Promise<RotationRecord[]> {
    return [...this.rows.values()].filter((r) => r.accountId.toLowerCase() === accountId.toLowerCase()).reverse().slice(0, limit);
  }
  async historyPage(accountId: string, limit: number, token?: string): Promise<{ rows: RotationRecord[]; continuationToken?: string }> {
    const all = await this.history(accountId, Number.MAX_SAFE_INTEGER);
    const start = Number(token ?? 0);
    const rows = all.slice(start, start + limit);
    return start + limit < all.length ? { rows, continuationToken: String(start + limit) } : { rows };
  }
  async get(accountId: string, _queuedAt: string, jobId: string): Promise<RotationRecord | undefined> {
    const row = this.rows.get(`${accountId.toLowerCase()}|${jobId}`);
    return row && structuredClone(row);
  }
  async job(jobId: string): Promise<RotationRecord[]> {
    return [...this.rows.values()].filter((r) => r.jobId === jobId);
  }
}

export class MemoryPins implements PinStore {
  readonly pins = new Map<string, Pin>();
  async get(accountId: string, scope?: string): Promise<Pin | undefined> {
    return this.pins.get(bindingKey(accountId, scope));
  }
  async set(pin: Pin): Promise<void> {
    this.pins.set(bindingKey(pin.accountId, pin.encryptionScope), { ...pin });
  }
  async restore(pin: Pin): Promise<void> {
    await this.set(pin);
  }
  async release(accountId: string, jobId?: string, scope?: string): Promise<Pin | undefined> {
    const pin = this.pins.get(bindingKey(accountId, scope));
    if (!pin || (jobId && pin.jobId !== jobId)) return undefined;
    this.pins.delete(bindingKey(accountId, scope));
    return pin;
  }
  async list(): Promise<Pin[]> {
    return [...this.pins.values()];
  }
}

export class MemoryQueue implements JobQueue {
  readonly jobs: Array<{ job: RotationJob; delaySeconds?: number }> = [];
  async enqueue(job: RotationJob, options: { delaySeconds?: number } = {}): Promise<void> {
    this.jobs.push({ job: structuredClone(job), ...options });
  }
}
