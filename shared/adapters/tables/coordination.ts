import { accountKey } from '../../domain/accounts';
import type { Clock, JobKeyStore, Lease, LeaseStore } from '../../ports';
import { claimRow, expect, statusOf, TABLES, type TableStorage } from './storage';

interface LeaseEntity {
  holder: string;
  expiresAt: string;
}

/** One writer per account (rule 7): a Leases row, taken with createEntity or an ETag-guarded update. */
export class TableLeaseStore implements LeaseStore {
  constructor(
    private readonly storage: TableStorage,
    private readonly clock: Clock,
  ) {}

  async acquire(accountId: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    const table = await this.storage.table(TABLES.leases);
    const partitionKey = accountKey(accountId);
    const entity = { partitionKey, rowKey: 'lease', holder, expiresAt: new Date(this.clock.now().getTime() + ttlMs).toISOString() };
    const claim = await claimRow<LeaseEntity>(table, entity, (current) =>
      Date.parse(current.expiresAt) > this.clock.now().getTime() && current.holder !== holder ? 'held' : 'take',
    );
    return claim.held ? undefined : { accountId, holder, etag: claim.etag };
  }

  async release(lease: Lease): Promise<void> {
    const table = await this.storage.table(TABLES.leases);
    try {
      await table.deleteEntity(accountKey(lease.accountId), 'lease', { etag: lease.etag });
    } catch (error) {
      // Already gone, or taken over after it expired: either way it is no longer ours.
      if (statusOf(error) !== 404 && statusOf(error) !== 412) throw error;
    }
  }
}

interface JobKeyEntity {
  jobId: string;
  state: 'claimed' | 'done';
  claimedAt: string;
}

/**
 * Exactly once per (account, target) (rule 8): a JobKeys row created with createEntity. A row in
 * flight or finished within staleAfterMs makes later jobs duplicates; after that it may be taken
 * over, so an account that someone moved back can be repaired (rule 4 still stops a second PATCH).
 */
export class TableJobKeyStore implements JobKeyStore {
  constructor(
    private readonly storage: TableStorage,
    private readonly clock: Clock,
  ) {}

  async claim(accountId: string, dedupeKey: string, jobId: string, staleAfterMs: number): Promise<'claimed' | 'duplicate'> {
    const table = await this.storage.table(TABLES.jobKeys);
    const partitionKey = accountKey(accountId);
    const entity = { partitionKey, rowKey: dedupeKey, jobId, state: 'claimed' as const, claimedAt: this.clock.now().toISOString() };
    const claim = await claimRow<JobKeyEntity>(table, entity, (current) => {
      if (current.jobId === jobId) return 'keep';
      return Date.parse(current.claimedAt) + staleAfterMs < this.clock.now().getTime() ? 'take' : 'held';
    });
    return claim.held ? 'duplicate' : 'claimed';
  }

  async settle(accountId: string, dedupeKey: string, jobId: string, outcome: 'done' | 'release'): Promise<void> {
    const table = await this.storage.table(TABLES.jobKeys);
    const partitionKey = accountKey(accountId);
    const current = await expect(table.getEntity<JobKeyEntity>(partitionKey, dedupeKey), 404, undefined);
    // Only the job that holds the claim settles it; another may have taken it over meanwhile.
    if (!current || current.jobId !== jobId) return;
    const settled =
      outcome === 'release'
        ? table.deleteEntity(partitionKey, dedupeKey, { etag: current.etag })
        : table.updateEntity({ partitionKey, rowKey: dedupeKey, state: 'done', claimedAt: this.clock.now().toISOString() }, 'Merge', { etag: current.etag });
    await expect(settled, 412, undefined);
  }
}
