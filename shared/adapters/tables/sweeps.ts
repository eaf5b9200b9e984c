import type { TableClient } from '@azure/data-tables';
import type { SweepSummary } from '../../domain/findings';
import { servedSweep } from '../../domain/sweepRecords';
import { definedFields, newestFirstKey } from '../../domain/records';
import { DependencyError } from '../../errors';
import type { Clock, SweepStore } from '../../ports';
import { claimRow, expect, odata, storage, TABLES, type TableStorage } from './storage';

const SWEEP_PARTITION = 'sweep';
// A string property holds at most 32K UTF-16 characters; keep the errors column well inside it.
const MAX_ERRORS_CHARS = 30_000;

const LOCK_PARTITION = 'lock';
/** A lock row without an expiry (written before locks had one) expires an hour after it was taken. */
const UNDATED_LOCK_MS = 60 * 60_000;

/** The sweep lock: who holds it since when and until when, the queue message of a queued sweep, and when that sweep finished. */
interface LockEntity {
  sweepId: string;
  lockedAt: string;
  expiresAt?: string;
  runner?: string;
  finishedAt?: string;
}

/** The lock row as stored, with its ETag; undefined when there is none. */
function readLock(table: TableClient) {
  return expect(table.getEntity<LockEntity>(LOCK_PARTITION, 'sweep'), 404, undefined);
}

/** When the lock expires, in ms. */
function expiry(lock: LockEntity): number {
  return lock.expiresAt ? Date.parse(lock.expiresAt) : Date.parse(lock.lockedAt) + UNDATED_LOCK_MS;
}

/** The lock is still `sweepId`'s as `runner` took it, and not done. */
function heldAs<T extends LockEntity>(current: T | undefined, sweepId: string, runner: string | undefined): current is T {
  return current?.sweepId === sweepId && current.runner === runner && !current.finishedAt;
}

interface SweepEntity extends Omit<SweepSummary, 'findingsByCode' | 'findingsBySeverity' | 'errors'> {
  findingsByCode: string;
  findingsBySeverity: string;
  errors: string;
}

/** Sweep rows sort newest first. */
function sweepRowKey(summary: Pick<SweepSummary, 'startedAt' | 'sweepId'>): string {
  return newestFirstKey(summary.startedAt, summary.sweepId);
}

/** The Sweeps table: one summary row per run, newest first. */
export class TableSweepStore implements SweepStore {
  constructor(
    private readonly storage: TableStorage,
    private readonly clock: Clock = { now: () => new Date() },
  ) {}

  lock(sweepId: string, ttlMs: number, runner?: string): Promise<{ held: false } | { held: true; sweepId: string }> {
    return storage('taking the sweep lock', async () => {
      const table = await this.storage.table(TABLES.sweeps);
      const now = this.clock.now();
      const entity = { ...this.lockRow(sweepId, ttlMs, runner), lockedAt: now.toISOString() };
      const claim = await claimRow<LockEntity>(table, entity, (current) => {
        // A queued sweep that has run: another message of it finds it done, any other sweep takes the lock.
        if (current.finishedAt) return current.sweepId === sweepId ? 'held' : 'take';
        // The queued sweep starting now renews its lock (it counts from here, not from the request that queued it),
        // and so does its message delivered again; another message of the same sweep does not.
        if (current.sweepId === sweepId && (!current.runner || !runner || current.runner === runner)) return 'take';
        // A sweep that died without unlocking must not block every later one.
        return expiry(current) < now.getTime() ? 'take' : 'held';
      });
      return claim.held ? { held: true, sweepId: claim.current.sweepId } : { held: false };
    });
  }

  renew(sweepId: string, ttlMs: number, runner?: string): Promise<boolean> {
    return storage('renewing the sweep lock', async () => {
      const table = await this.storage.table(TABLES.sweeps);
      const read = () => readLock(table);
      const current = await read();
      if (!heldAs(current, sweepId, runner)) return false;
      const row = { ...this.lockRow(sweepId, ttlMs, runner), lockedAt: current.lockedAt };
      const renewed = await expect(table.updateEntity(row, 'Replace', { etag: current.etag }), [412, 404], undefined);
      // The ETag moved: this renewal sent again after its answer was lost (the lock still this run's), or another
      // sweep took the lock once it had expired; or the row is gone (released by another delivery of the message).
      return renewed !== undefined || heldAs(await read(), sweepId, runner);
    });
  }

  /** The lock row as `runner` holds it for `sweepId`, expiring `ttlMs` from now. */
  private lockRow(sweepId: string, ttlMs: number, runner: string | undefined) {
    const expiresAt = new Date(this.clock.now().getTime() + ttlMs).toISOString();
    return { partitionKey: LOCK_PARTITION, rowKey: 'sweep', sweepId, expiresAt, ...(runner ? { runner } : {}) };
  }

  unlock(sweepId: string, runner?: string, ended = false): Promise<void> {
    return storage('releasing the sweep lock', async () => {
      const table = await this.storage.table(TABLES.sweeps);
      const current = await readLock(table);
      // Only as this caller took it: a request whose send failed late leaves the run its message has started.
      if (current?.sweepId !== sweepId || current.runner !== runner) return;
      if (runner && ended) {
        // A queued sweep's run marks it done, so that a second message of it does not run it again.
        const done = { partitionKey: LOCK_PARTITION, rowKey: 'sweep', sweepId, lockedAt: current.lockedAt, runner, finishedAt: this.clock.now().toISOString() };
        await expect(table.updateEntity(done, 'Replace', { etag: current.etag }), 412, undefined);
        return;
      }
      // A delete sent again after its answer was lost finds nothing (404): released, as asked.
      await expect(table.deleteEntity(LOCK_PARTITION, 'sweep', { etag: current.etag }), [412, 404], undefined);
    });
  }

  record(summary: SweepSummary): Promise<void> {
    return storage('recording the sweep summary', async () => {
      const table = await this.storage.table(TABLES.sweeps);
      const entity: SweepEntity = {
        ...summary,
        findingsByCode: JSON.stringify(summary.findingsByCode),
        findingsBySeverity: JSON.stringify(summary.findingsBySeverity),
        errors: errorsColumn(summary.errors),
      };
      // Every call carries the whole summary, so Replace drops what the running row said.
      await table.upsertEntity({ partitionKey: SWEEP_PARTITION, rowKey: sweepRowKey(summary), ...definedFields(entity) }, 'Replace');
    });
  }

  /**
   * The newest row; one still running whose run no longer holds the lock is served failed (servedSweep). A lock
   * that cannot be read leaves the row as stored: the report is still served.
   */
  async latest(): Promise<SweepSummary | undefined> {
    const row = await this.newest();
    if (row?.status !== 'running') return row;
    const lock = await storage('reading the sweep lock', async () => {
      const table = await this.storage.table(TABLES.sweeps);
      return readLock(table);
    }).catch((error: unknown) => {
      if (error instanceof DependencyError) return 'unread' as const;
      throw error;
    });
    if (lock === 'unread') return row;
    const served = servedSweep(row, lock && { sweepId: lock.sweepId, expiresAt: new Date(expiry(lock)), finished: !!lock.finishedAt }, this.clock.now());
    if (served === row) return row;
    // The run may have recorded its end and released the lock between the two reads: the row read after the lock
    // decides. A newer row (another sweep's, or this sweep's message delivered again) started after the lock was read.
    const again = await this.newest();
    return again && sweepRowKey(again) === sweepRowKey(row) && again.status === 'running' ? served : again;
  }

  private async newest(): Promise<SweepSummary | undefined> {
    const filter = await odata`PartitionKey eq ${SWEEP_PARTITION}`;
    return storage('reading sweep summaries', async () => {
      const table = await this.storage.table(TABLES.sweeps);
      for await (const page of table.listEntities<SweepEntity>({ queryOptions: { filter } }).byPage({ maxPageSize: 1 })) {
        const entity = page[0];
        if (entity) return toSummary(entity);
      }
      return undefined;
    });
  }
}

/** The errors as a JSON array that fits one column; what does not fit is counted, not dropped silently. */
function errorsColumn(errors: string[]): string {
  const kept: string[] = [];
  let length = 2;
  for (const [i, error] of errors.entries()) {
    const item = error.slice(0, 1_000);
    length += JSON.stringify(item).length + 1;
    if (length > MAX_ERRORS_CHARS) {
      kept.push(`... and ${errors.length - i} more`);
      break;
    }
    kept.push(item);
  }
  return JSON.stringify(kept);
}

function toSummary(e: SweepEntity): SweepSummary {
  const summary: SweepSummary = {
    sweepId: e.sweepId, trigger: e.trigger, mode: e.mode, status: e.status, startedAt: e.startedAt,
    accountsSeen: e.accountsSeen, keysRead: e.keysRead,
    findingsByCode: JSON.parse(e.findingsByCode) as SweepSummary['findingsByCode'],
    findingsBySeverity: JSON.parse(e.findingsBySeverity) as SweepSummary['findingsBySeverity'],
    remediationsQueued: e.remediationsQueued,
    errors: JSON.parse(e.errors) as string[],
  };
  if (e.finishedAt !== undefined) summary.finishedAt = e.finishedAt;
  if (e.durationMs !== undefined) summary.durationMs = e.durationMs;
  return summary;
}
