import type { TableClient, TransactionAction } from '@azure/data-tables';
import { accountKey } from '../../domain/accounts';
import {
  FINDING_CODES, SEVERITIES, type Finding, type FindingCode, type FindingRecord, type Severity, type SweepSummary,
} from '../../domain/findings';
import type { Clock, FindingStore, SweepStore } from '../../ports';
import { TABLES, type TableStorage, claimRow, expect, odata } from './storage';

interface FindingEntity {
  accountId: string;
  code: FindingCode;
  severity: Severity;
  /** JSON object. */
  evidence: string;
  remedy: string;
  sweepId: string;
  observedAt: string;
}

/** The Findings table: the latest sweep's findings, one row per (account, code). */
export class TableFindingStore implements FindingStore {
  constructor(private readonly storage: TableStorage) {}

  async replaceForAccount(accountId: string, findings: Finding[], sweepId: string, observedAt: string): Promise<void> {
    const table = await this.storage.table(TABLES.findings);
    const partitionKey = accountKey(accountId);
    const byCode = new Map(findings.map((f) => [f.code, f]));
    const actions = upserts(accountId, [...byCode.values()], sweepId, observedAt);
    for (const rowKey of await rowKeys(table, partitionKey)) {
      if (!byCode.has(rowKey as FindingCode)) actions.push(['delete', { partitionKey, rowKey }]);
    }
    // One partition, at most one row per code: a single transaction, so a reader never sees half a verdict.
    if (actions.length > 0) await table.submitTransaction(actions);
  }

  async upsert(accountId: string, findings: Finding[], sourceId: string, observedAt: string): Promise<void> {
    const actions = upserts(accountId, findings, sourceId, observedAt);
    if (actions.length > 0) await (await this.storage.table(TABLES.findings)).submitTransaction(actions);
  }

  /** Critical first, then by account and code. */
  async list(options: { severity?: Severity; accountId?: string } = {}): Promise<FindingRecord[]> {
    const table = await this.storage.table(TABLES.findings);
    const clauses: string[] = [];
    if (options.accountId) clauses.push(await odata`PartitionKey eq ${accountKey(options.accountId)}`);
    if (options.severity) clauses.push(await odata`severity eq ${options.severity}`);
    const queryOptions = clauses.length > 0 ? { filter: clauses.join(' and ') } : {};
    const records: FindingRecord[] = [];
    for await (const e of table.listEntities<FindingEntity>({ queryOptions })) {
      records.push({
        accountId: e.accountId, code: e.code, severity: e.severity, evidence: JSON.parse(e.evidence) as FindingRecord['evidence'],
        remedy: e.remedy, sweepId: e.sweepId, observedAt: e.observedAt,
      });
    }
    const rank = (r: FindingRecord): number => SEVERITIES.indexOf(r.severity);
    return records.sort(
      (a, b) => rank(a) - rank(b) || a.accountId.localeCompare(b.accountId) || FINDING_CODES.indexOf(a.code) - FINDING_CODES.indexOf(b.code),
    );
  }

  /** Returns how many accounts had their findings removed. */
  async removeAccountsNotIn(accountIds: Set<string>): Promise<number> {
    const table = await this.storage.table(TABLES.findings);
    const keep = new Set([...accountIds].map((id) => accountKey(id)));
    const stale = new Map<string, string[]>();
    for await (const e of table.listEntities({ queryOptions: { select: ['PartitionKey', 'RowKey'] } })) {
      if (!e.partitionKey || !e.rowKey || keep.has(e.partitionKey)) continue;
      stale.set(e.partitionKey, [...(stale.get(e.partitionKey) ?? []), e.rowKey]);
    }
    for (const [partitionKey, keys] of stale) {
      await table.submitTransaction(keys.map((rowKey): TransactionAction => ['delete', { partitionKey, rowKey }]));
    }
    return stale.size;
  }
}

function upserts(accountId: string, findings: Finding[], sweepId: string, observedAt: string): TransactionAction[] {
  const partitionKey = accountKey(accountId);
  return findings.map((f) => {
    const entity: FindingEntity = {
      accountId, code: f.code, severity: f.severity, evidence: JSON.stringify(f.evidence), remedy: f.remedy, sweepId, observedAt,
    };
    return ['upsert', { partitionKey, rowKey: f.code, ...entity }, 'Replace'];
  });
}

async function rowKeys(table: TableClient, partitionKey: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const e of table.listEntities({ queryOptions: { filter: await odata`PartitionKey eq ${partitionKey}`, select: ['RowKey'] } })) {
    if (e.rowKey) keys.push(e.rowKey);
  }
  return keys;
}

const SWEEP_PARTITION = 'sweep';
// Row keys sort newest first: inverted milliseconds of startedAt, zero-padded, then the sweep id.
const MAX_MS = 8_640_000_000_000_000;
// A string property holds at most 32K UTF-16 characters; keep the errors column well inside it.
const MAX_ERRORS_CHARS = 30_000;

const LOCK_PARTITION = 'lock';

interface SweepEntity extends Omit<SweepSummary, 'findingsByCode' | 'findingsBySeverity' | 'errors'> {
  findingsByCode: string;
  findingsBySeverity: string;
  errors: string;
}

export function sweepRowKey(summary: Pick<SweepSummary, 'startedAt' | 'sweepId'>): string {
  const started = Date.parse(summary.startedAt);
  if (Number.isNaN(started)) throw new Error(`sweep ${summary.sweepId}: startedAt is not a date: ${summary.startedAt}`);
  return `${String(MAX_MS - started).padStart(16, '0')}_${summary.sweepId}`;
}

/** The Sweeps table: one summary row per run, newest first. */
export class TableSweepStore implements SweepStore {
  constructor(
    private readonly storage: TableStorage,
    private readonly clock: Clock = { now: () => new Date() },
  ) {}

  async lock(sweepId: string, staleAfterMs: number): Promise<{ held: false } | { held: true; sweepId: string }> {
    const table = await this.storage.table(TABLES.sweeps);
    const entity = { partitionKey: LOCK_PARTITION, rowKey: 'sweep', sweepId, lockedAt: this.clock.now().toISOString() };
    const claim = await claimRow<{ sweepId: string; lockedAt: string }>(table, entity, (current) => {
      // The queued sweep starting now renews its lock: it counts from here, not from the request that queued it.
      if (current.sweepId === sweepId) return 'take';
      // A sweep that died without unlocking must not block every later one.
      return Date.parse(current.lockedAt) + staleAfterMs < this.clock.now().getTime() ? 'take' : 'held';
    });
    return claim.held ? { held: true, sweepId: claim.current.sweepId } : { held: false };
  }

  async unlock(sweepId: string): Promise<void> {
    const table = await this.storage.table(TABLES.sweeps);
    const current = await expect(table.getEntity<{ sweepId: string }>(LOCK_PARTITION, 'sweep'), 404, undefined);
    if (current?.sweepId === sweepId) await expect(table.deleteEntity(LOCK_PARTITION, 'sweep', { etag: current.etag }), 412, undefined);
  }

  async record(summary: SweepSummary): Promise<void> {
    const table = await this.storage.table(TABLES.sweeps);
    const entity: SweepEntity = {
      ...summary,
      findingsByCode: JSON.stringify(summary.findingsByCode),
      findingsBySeverity: JSON.stringify(summary.findingsBySeverity),
      errors: errorsColumn(summary.errors),
    };
    const defined = Object.fromEntries(Object.entries(entity).filter(([, v]) => v !== undefined));
    // Every call carries the whole summary, so Replace drops what the running row said.
    await table.upsertEntity({ partitionKey: SWEEP_PARTITION, rowKey: sweepRowKey(summary), ...defined }, 'Replace');
  }

  async latest(): Promise<SweepSummary | undefined> {
    return this.first(await odata`PartitionKey eq ${SWEEP_PARTITION}`);
  }

  async get(sweepId: string): Promise<SweepSummary | undefined> {
    return this.first(await odata`PartitionKey eq ${SWEEP_PARTITION} and sweepId eq ${sweepId}`);
  }

  private async first(filter: string): Promise<SweepSummary | undefined> {
    const table = await this.storage.table(TABLES.sweeps);
    for await (const page of table.listEntities<SweepEntity>({ queryOptions: { filter } }).byPage({ maxPageSize: 1 })) {
      const entity = page[0];
      if (entity) return toSummary(entity);
    }
    return undefined;
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
