import type { TableClient, TableEntity, TransactionAction } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import { accountKey } from '../../domain/accounts';
import type { RotationRecord } from '../../domain/model';
import { definedFields, HISTORY_TOKEN_ACCOUNT, newestFirstKey } from '../../domain/records';
import type { Pin } from '../../domain/rebind';
import type { AccountJournal, Clock, JournalState, Lease, Ledger } from '../../ports';
import { statusOf } from '../azureErrors';
import { TABLES, WRITE_ID, type TableStorage, expect, odata, plain, storage } from './storage';
import { pinRow } from './pins';

// One partition per account in the Rotations table: its ledger rows (row keys are digits, newest first) and
// its writer lease (row key "lease", kept for good so that taking it is always an ETag-guarded update).
// Job index rows live under "job~<id>" partitions; account keys start with a subscription GUID.
const JOB_PREFIX = 'job~';
const jobPartition = (jobId: string): string => `${JOB_PREFIX}${jobId}`;
const LEASE = 'lease';
/** Ledger row keys start with a digit; control rows such as the lease with a letter. */
const LEDGER_ROWS_BEFORE = 'a';

/** Ledger rows sort newest first. */
function ledgerRowKey(row: Pick<RotationRecord, 'queuedAt' | 'jobId'>): string {
  return newestFirstKey(row.queuedAt, row.jobId);
}

interface LeaseEntity {
  holder: string;
  expiresAt: string;
}

/** The Rotations table: the ledger, read by the API, and each account's journal, written by the worker. */
export class TableLedger implements Ledger, AccountJournal {
  constructor(
    private readonly tables: TableStorage,
    private readonly clock: Clock = { now: () => new Date() },
  ) {}

  /**
   * One write per queued job: its index row, which GET /api/rotations/{jobId} reads, carries the queued record
   * until the job's own row exists (the job writes it with its intent, in the account's partition).
   */
  recordQueued(rows: RotationRecord[]): Promise<void> {
    return storage('recording queued jobs in the ledger', async () => {
      const table = await this.tables.table(TABLES.rotations);
      await Promise.all(rows.map(async (row) => {
        const entity = toEntity(row);
        const index = { ...entity, partitionKey: jobPartition(row.jobId), rowKey: entity.partitionKey, rotationRowKey: entity.rowKey };
        await expect(table.createEntity(index), 409, undefined);
      }));
    });
  }

  open(accountId: string, ref: Pick<RotationRecord, 'queuedAt' | 'jobId'>, encryptionScope?: string): Promise<JournalState> {
    return storage('reading the account journal', async () => {
      const table = await this.tables.table(TABLES.rotations);
      const partitionKey = accountKey(accountId);
      const [rowKey, pin] = [ledgerRowKey(ref), pinRow(encryptionScope)];
      const state: JournalState = { accountId };
      const filter = await odata`PartitionKey eq ${partitionKey} and (RowKey eq ${LEASE} or RowKey eq ${rowKey} or RowKey eq ${pin})`;
      for await (const e of table.listEntities<LeaseEntity & RotationRecord & Pin>({ queryOptions: { filter } })) {
        if (e.rowKey === LEASE) state.lease = { holder: e.holder, expiresAt: e.expiresAt, etag: e.etag };
        else if (e.rowKey === pin) state.pin = plain<Pin>(e);
        else {
          state.row = plain<RotationRecord>(e);
          state.rowEtag = e.etag;
        }
      }
      return state;
    });
  }

  begin(state: JournalState, holder: string, ttlMs: number, row: RotationRecord): Promise<Lease | undefined> {
    return storage('taking the account lease and recording the intent', async () => {
      const table = await this.tables.table(TABLES.rotations);
      const lease = { partitionKey: accountKey(state.accountId), rowKey: LEASE, holder, expiresAt: new Date(this.clock.now().getTime() + ttlMs).toISOString() };
      const take: TransactionAction = state.lease ? ['update', lease, 'Replace', { etag: state.lease.etag }] : ['create', lease];
      // The row too only as it was read: another delivery of the job may have written it (even a final one) since.
      const write: TransactionAction = state.rowEtag ? ['update', toEntity(row), 'Merge', { etag: state.rowEtag }] : ['create', toEntity(row)];
      const etag = await transact(table, [take, write], LEASE);
      if (etag) return { accountId: state.accountId, holder, expiresAt: lease.expiresAt, etag };
      // Sent again after its answer was lost, it met its own commit: the lease names this holder (unique per attempt).
      const stored = await expect(table.getEntity<LeaseEntity>(lease.partitionKey, LEASE), 404, undefined);
      return stored?.holder === holder && stored.etag ? { accountId: state.accountId, holder, expiresAt: stored.expiresAt, etag: stored.etag } : undefined;
    });
  }

  renew(lease: Lease, ttlMs: number): Promise<Lease | undefined> {
    return storage('renewing the account lease', async () => {
      const table = await this.tables.table(TABLES.rotations);
      const expiresAt = new Date(this.clock.now().getTime() + ttlMs).toISOString();
      const entity = { partitionKey: accountKey(lease.accountId), rowKey: LEASE, holder: lease.holder, expiresAt };
      const renewed = await expect(table.updateEntity(entity, 'Replace', { etag: lease.etag }), 412, undefined);
      return renewed?.etag ? { ...lease, expiresAt, etag: renewed.etag } : undefined;
    });
  }

  finish(lease: Lease, row: RotationRecord): Promise<void> {
    return storage('recording the outcome and releasing the account lease', async () => {
      const table = await this.tables.table(TABLES.rotations);
      const released = asHeld(table, lease, async (etag) => !!(await transact(table, [['update', releasedLease(lease), 'Replace', { etag }], ['upsert', toEntity(row), 'Merge']], LEASE)));
      // The lease was taken over (this job stalled past its lifetime): the outcome is still this job's to record.
      if (!(await released)) await table.upsertEntity(toEntity(row), 'Merge');
    });
  }

  release(lease: Lease): Promise<void> {
    return storage('releasing the account lease', async () => {
      const table = await this.tables.table(TABLES.rotations);
      await asHeld(table, lease, async (etag) => (await expect(table.updateEntity(releasedLease(lease), 'Replace', { etag }), 412, undefined)) !== undefined);
    });
  }

  record(row: RotationRecord, over?: JournalState): Promise<boolean> {
    return storage('recording a ledger row', async () => {
      const table = await this.tables.table(TABLES.rotations);
      if (!over) {
        await table.upsertEntity(toEntity(row), 'Merge');
        return true;
      }
      // Each guarded write carries its own id: sent again after its answer was lost, it meets its own commit (412, 409).
      const entity = { ...toEntity(row), [WRITE_ID]: randomUUID() };
      const written = await (over.rowEtag
        ? expect(table.updateEntity(entity, 'Merge', { etag: over.rowEtag }), 412, undefined)
        : expect(table.createEntity(entity), 409, undefined));
      if (written !== undefined) return true;
      const stored = await expect(table.getEntity<Record<string, unknown>>(entity.partitionKey, entity.rowKey), 404, undefined);
      return stored?.[WRITE_ID] === entity[WRITE_ID];
    });
  }

  /** The account's newest rows (tests and the demo read them; the API pages). */
  async history(accountId: string, limit: number): Promise<RotationRecord[]> {
    return (await this.historyPage(accountId, limit)).rows;
  }

  historyPage(accountId: string, limit: number, continuationToken?: string): Promise<{ rows: RotationRecord[]; continuationToken?: string }> {
    return storage('reading the ledger', async () => {
      const table = await this.tables.table(TABLES.rotations);
      const partitionKey = accountKey(accountId);
      const filter = await odata`PartitionKey eq ${partitionKey} and RowKey lt ${LEDGER_ROWS_BEFORE}`;
      const pages = table.listEntities<RotationRecord>({ queryOptions: { filter } }).byPage({ maxPageSize: limit, ...(continuationToken ? { continuationToken } : {}) });
      for await (const page of pages) {
        return { rows: page.slice(0, limit).map((e) => plain(e)), ...(page.continuationToken ? { continuationToken: accountToken(page.continuationToken, partitionKey) } : {}) };
      }
      return { rows: [] };
    });
  }

  /** Every row of one job (one per account it touched), through the job index rows. */
  job(jobId: string): Promise<RotationRecord[]> {
    return storage('reading a job', async () => {
      const table = await this.tables.table(TABLES.rotations);
      const rows: RotationRecord[] = [];
      const index = table.listEntities<RotationRecord & { rotationRowKey: string }>({ queryOptions: { filter: await odata`PartitionKey eq ${jobPartition(jobId)}` } });
      for await (const entry of index) {
        const row = await expect(table.getEntity<RotationRecord>(entry.rowKey ?? '', entry.rotationRowKey), 404, undefined);
        // Not started yet: the index row holds the queued record.
        const { rotationRowKey: _, ...queued } = plain(entry);
        rows.push(row ? plain(row) : queued);
      }
      return rows;
    });
  }

  /** Every ledger row (the demo and tests read the whole ledger back). */
  all(): Promise<RotationRecord[]> {
    return storage('reading the whole ledger', async () => {
      const table = await this.tables.table(TABLES.rotations);
      const rows: RotationRecord[] = [];
      for await (const e of table.listEntities<RotationRecord>({ queryOptions: { filter: await odata`RowKey lt ${LEDGER_ROWS_BEFORE}` } })) {
        if (!e.partitionKey?.startsWith(JOB_PREFIX)) rows.push(plain(e));
      }
      return rows;
    });
  }
}

/**
 * Table Storage's token (base64 JSON of the next partition and row keys, opaque) with the account's partition key
 * beside them, so that the API refuses it for another account's history, which it would start over or end at once.
 * The SDK reads only its own two fields back.
 */
function accountToken(token: string, partitionKey: string): string {
  const next = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as Record<string, unknown>;
  return Buffer.from(JSON.stringify({ ...next, [HISTORY_TOKEN_ACCOUNT]: partitionKey }), 'utf8').toString('base64');
}

/** A ledger row as an entity; undefined fields are left out, so a Merge keeps what an earlier write said. */
function toEntity(row: RotationRecord): TableEntity<Record<string, unknown>> {
  return { partitionKey: accountKey(row.accountId), rowKey: ledgerRowKey(row), ...definedFields(row) };
}

const releasedLease = (lease: Lease) => ({ partitionKey: accountKey(lease.accountId), rowKey: LEASE, holder: '', expiresAt: new Date(0).toISOString() });

/**
 * `write` with the lease's ETag as the holder last knew it, or, when that moved and the lease is still this holder's
 * (a renewal committed whose answer was lost), with its ETag now. Holders are unique per attempt; a lease released or
 * taken over is left as it is. False when nothing was written.
 */
async function asHeld(table: TableClient, lease: Lease, write: (etag: string) => Promise<boolean>): Promise<boolean> {
  if (await write(lease.etag)) return true;
  const stored = await expect(table.getEntity<LeaseEntity>(accountKey(lease.accountId), LEASE), 404, undefined);
  return stored?.holder === lease.holder && stored.etag !== lease.etag ? write(stored.etag) : false;
}

/** One entity-group transaction; the ETag of the row `etagOf` names, or undefined when another writer changed or created it first. */
async function transact(table: TableClient, actions: TransactionAction[], etagOf: string): Promise<string | undefined> {
  try {
    const response = await table.submitTransaction(actions);
    const partitionKey = actions[0]?.[1].partitionKey ?? '';
    // Sub-responses come in the order of the actions; not every service names the row in each of them.
    const index = actions.findIndex(([, entity]) => entity.rowKey === etagOf);
    const etag = response.getResponseForEntity(etagOf)?.etag ?? response.subResponses[index]?.etag;
    return etag ?? (await table.getEntity(partitionKey, etagOf)).etag;
  } catch (error) {
    if (statusOf(error) === 412 || statusOf(error) === 409) return undefined;
    throw error;
  }
}
