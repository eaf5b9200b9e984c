import { odata, type TableEntity } from '@azure/data-tables';
import { accountKey } from '../../domain/accounts';
import type { RotationRecord } from '../../domain/model';
import type { Ledger } from '../../ports';
import { expect, plain, TABLES, type TableStorage } from './storage';

// Job index rows live in the same table under "job~<id>" partitions; account keys start with a subscription GUID.
const JOB_PREFIX = 'job~';
const jobPartition = (jobId: string): string => `${JOB_PREFIX}${jobId}`;

// Row keys sort newest first: inverted milliseconds, zero-padded, then the job id.
const MAX_MS = 8_640_000_000_000_000;

export function ledgerRowKey(row: Pick<RotationRecord, 'queuedAt' | 'jobId'>): string {
  const inverted = MAX_MS - Date.parse(row.queuedAt);
  return `${String(inverted).padStart(16, '0')}_${row.jobId}`;
}

/** The Rotations table: one row per (account, job), moved through its states by upserts. */
export class TableLedger implements Ledger {
  constructor(private readonly storage: TableStorage) {}

  async record(row: RotationRecord): Promise<void> {
    const table = await this.storage.table(TABLES.rotations);
    const entity: TableEntity<RotationRecord> = { partitionKey: accountKey(row.accountId), rowKey: ledgerRowKey(row), ...row };
    // The job index row lets GET /api/rotations/{jobId} read points instead of scanning the ledger.
    if (row.status === 'queued') {
      await table.upsertEntity({ partitionKey: jobPartition(row.jobId), rowKey: entity.partitionKey, rotationRowKey: entity.rowKey }, 'Replace');
    }
    // Every call carries the whole row, so Replace drops what an earlier attempt said.
    await table.upsertEntity(stripUndefined(entity), 'Replace');
  }

  async get(accountId: string, queuedAt: string, jobId: string): Promise<RotationRecord | undefined> {
    const table = await this.storage.table(TABLES.rotations);
    const row = await expect(table.getEntity<RotationRecord>(accountKey(accountId), ledgerRowKey({ queuedAt, jobId })), 404, undefined);
    return row && plain(row);
  }

  async history(accountId: string, limit: number): Promise<RotationRecord[]> {
    const table = await this.storage.table(TABLES.rotations);
    const pages = table
      .listEntities<RotationRecord>({ queryOptions: { filter: odata`PartitionKey eq ${accountKey(accountId)}` } })
      .byPage({ maxPageSize: limit });
    for await (const page of pages) return page.slice(0, limit).map((e) => plain(e));
    return [];
  }

  async historyPage(accountId: string, limit: number, continuationToken?: string): Promise<{ rows: RotationRecord[]; continuationToken?: string }> {
    const table = await this.storage.table(TABLES.rotations);
    const pages = table
      .listEntities<RotationRecord>({ queryOptions: { filter: odata`PartitionKey eq ${accountKey(accountId)}` } })
      .byPage({ maxPageSize: limit, ...(continuationToken ? { continuationToken } : {}) });
    for await (const page of pages) {
      return { rows: page.map((e) => plain(e)), ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}) };
    }
    return { rows: [] };
  }

  /** Every row of one job (one per account it touched), through the job index rows. */
  async job(jobId: string): Promise<RotationRecord[]> {
    const table = await this.storage.table(TABLES.rotations);
    const rows: RotationRecord[] = [];
    const index = table.listEntities<{ rotationRowKey: string }>({ queryOptions: { filter: odata`PartitionKey eq ${jobPartition(jobId)}` } });
    for await (const entry of index) {
      const row = await expect(table.getEntity<RotationRecord>(entry.rowKey ?? '', entry.rotationRowKey), 404, undefined);
      if (row) rows.push(plain(row));
    }
    return rows;
  }

  /** Every ledger row (the demo and tests read the whole ledger back). */
  async all(): Promise<RotationRecord[]> {
    const table = await this.storage.table(TABLES.rotations);
    const rows: RotationRecord[] = [];
    for await (const e of table.listEntities<RotationRecord>()) if (!e.partitionKey?.startsWith(JOB_PREFIX)) rows.push(plain(e));
    return rows;
  }
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
