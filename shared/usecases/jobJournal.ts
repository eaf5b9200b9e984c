import { finalStatuses, type RotationRecord } from '../domain/model';
import type { AccountJournal, Clock, JournalState, Lease } from '../ports';

/**
 * One attempt's view of its account journal (DESIGN §2 rules 6-8): the state it read, and how it writes the job's
 * row. With the lease, the write releases it. Without, the row is the attempt's own once it wrote its intent (a
 * lease lost meanwhile changes nothing); before that, a write goes only over the row as the attempt read it, never
 * over a final one: another delivery of the same job (a duplicate message) that wrote it since carries the job on.
 */
export class JobJournal {
  /** The lease, the job's row (with its ETag) and the pin, as first read; undefined until read. */
  state: JournalState | undefined;
  /** When it was read: a lease live then may have had its update in flight since, whatever the clock says now. */
  private readAt = 0;
  /** This attempt wrote the row with its intent. */
  ownsRow = false;
  /** The lease this attempt holds, until a write releases it. */
  held: Lease | undefined;

  constructor(
    private readonly journal: AccountJournal,
    private readonly job: { accountId: string; jobId: string; createdAt: string },
    private readonly scope: string | undefined,
    private readonly clock: Clock,
  ) {}

  /** The journal as this attempt reads it, once: what it decides from. */
  async read(): Promise<JournalState> {
    if (!this.state) {
      const at = this.clock.now().getTime();
      this.state = await this.open();
      this.readAt = at;
    }
    return this.state;
  }

  /** The journal as stored now. */
  open(): Promise<JournalState> {
    return this.journal.open(this.job.accountId, { queuedAt: this.job.createdAt, jobId: this.job.jobId }, this.scope);
  }

  /** Writes the row; false, writing nothing, when another delivery wrote it since this attempt read it. */
  async write(row: RotationRecord, lease: Lease | undefined): Promise<boolean> {
    if (lease) {
      await this.journal.finish(lease, row);
      this.held = undefined;
      return true;
    }
    if (this.ownsRow) return this.journal.record(row);
    const state = await this.read();
    if (state.row && finalStatuses.has(state.row.status)) return false;
    return this.journal.record(row, state);
  }

  /**
   * Whether the lease was held by another (a job, or another delivery of this one) when the journal was read, and
   * how long it is held from now (0: it has expired since, and what was read since may predate its update).
   */
  heldFor(now: Date): number | undefined {
    const lease = this.state?.lease;
    const expires = lease && lease.holder !== '' ? Date.parse(lease.expiresAt) : 0;
    return expires > this.readAt ? Math.max(0, expires - now.getTime()) : undefined;
  }

  /**
   * Takes the lease over the journal as read, writing the row as it stands (no intent); undefined when it is held,
   * either moved, or the row as read is final (another delivery finished the job: its outcome stands).
   */
  async take(holder: string, ttlMs: number, row: RotationRecord, now: Date): Promise<Lease | undefined> {
    const state = await this.read();
    if (state.row && finalStatuses.has(state.row.status)) return undefined;
    if (this.heldFor(now) !== undefined) return undefined;
    const lease = await this.journal.begin(state, holder, ttlMs, { ...row, status: state.row?.status ?? 'queued' });
    if (lease) {
      this.ownsRow = true;
      this.held = lease;
    }
    return lease;
  }

  /** What changed since this attempt read the journal: the job's row (another delivery wrote it), or the lease (another job took it). */
  async changedSinceRead(): Promise<'row' | 'lease' | undefined> {
    const now = await this.open();
    if (now.rowEtag !== this.state?.rowEtag || (!!now.row && finalStatuses.has(now.row.status))) return 'row';
    return now.lease?.etag !== this.state?.lease?.etag ? 'lease' : undefined;
  }

  /** begin() failed without an answer: if its transaction committed, the lease is this attempt's, and so is the row (a failure to tell goes up). */
  async ifCommitted(holder: string): Promise<Lease | undefined> {
    const lease = (await this.open()).lease;
    if (lease?.holder !== holder) return undefined;
    this.ownsRow = true;
    return (this.held = { accountId: this.job.accountId, holder, expiresAt: lease.expiresAt, etag: lease.etag });
  }
}
