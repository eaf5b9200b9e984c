import type { TableClient, TransactionAction } from '@azure/data-tables';
import { accountKey } from '../../domain/accounts';
import {
  FINDING_CODES, SEVERITIES, type Finding, type FindingCode, type FindingRecord, type Severity,
} from '../../domain/findings';
import { findingDigest, findingKey } from '../../domain/verdicts';
import type { FindingStore, StoredVerdicts } from '../../ports';
import { expect, odata, storage, TABLES, type TableStorage } from './storage';

interface FindingEntity {
  accountId: string;
  /** The account's encryption scope; absent for the account's own binding (row key code~scope, else code). */
  encryptionScope?: string;
  code: FindingCode;
  severity: Severity;
  /** JSON object. */
  evidence: string;
  remedy: string;
  sweepId: string;
  observedAt: string;
  /** findingDigest of the finding: a sweep compares it and rewrites only what changed. */
  digest: string;
}

/** Entities per page of a query: the most Table Storage returns. */
const PAGE_SIZE = 1_000;

/** Table Storage takes at most 100 actions in one transaction. */
const TRANSACTION_LIMIT = 100;

/** The Findings table: the latest verdict per (account, scope, code); a row keeps the sweep that first recorded it. */
export class TableFindingStore implements FindingStore {
  constructor(private readonly tables: TableStorage) {}

  async *verdicts(): AsyncIterable<StoredVerdicts> {
    const what = 'reading the stored findings';
    const table = await storage(what, () => this.tables.table(TABLES.findings));
    const pages = table.listEntities<{ digest?: string }>({ queryOptions: { select: ['PartitionKey', 'RowKey', 'digest'] } }).byPage({ maxPageSize: PAGE_SIZE });
    for (;;) {
      const page = await storage(what, () => pages.next());
      if (page.done) return;
      const verdicts: StoredVerdicts = new Map();
      for (const e of page.value) {
        if (!e.partitionKey || !e.rowKey) continue;
        const codes = verdicts.get(e.partitionKey) ?? new Map<string, string>();
        codes.set(e.rowKey, e.digest ?? '');
        verdicts.set(e.partitionKey, codes);
      }
      yield verdicts;
    }
  }

  replaceForAccount(accountId: string, findings: Finding[], sweepId: string, observedAt: string, stored?: ReadonlyMap<string, string>): Promise<boolean> {
    return storage('recording an account\'s findings', async () => {
      const table = await this.tables.table(TABLES.findings);
      const partitionKey = accountKey(accountId);
      const before = stored ?? new Map((await rowKeys(table, partitionKey)).map((key) => [key, '']));
      const byKey = new Map(findings.map((f) => [findingKey(f), f]));
      const actions = upserts(accountId, [...byKey].filter(([key, f]) => before.get(key) !== findingDigest(f)).map(([, f]) => f), sweepId, observedAt);
      for (const key of before.keys()) if (!byKey.has(key)) actions.push(['delete', { partitionKey, rowKey: key }]);
      // One partition, one row per code and binding: one transaction, so a reader never sees half a verdict (past 100
      // rows, a binding's encryption scopes, several).
      await submit(table, actions);
      return actions.length > 0;
    });
  }

  upsert(accountId: string, findings: Finding[], sourceId: string, observedAt: string): Promise<void> {
    return storage('recording findings', async () => {
      const actions = upserts(accountId, findings, sourceId, observedAt);
      if (actions.length > 0) await submit(await this.tables.table(TABLES.findings), actions);
    });
  }

  /** Critical first, then by account and code. */
  list(options: { severity?: Severity; accountId?: string } = {}): Promise<FindingRecord[]> {
    return storage('reading findings', async () => {
      const table = await this.tables.table(TABLES.findings);
      const clauses: string[] = [];
      if (options.accountId) clauses.push(await odata`PartitionKey eq ${accountKey(options.accountId)}`);
      if (options.severity) clauses.push(await odata`severity eq ${options.severity}`);
      const queryOptions = clauses.length > 0 ? { filter: clauses.join(' and ') } : {};
      const records: FindingRecord[] = [];
      for await (const e of table.listEntities<FindingEntity>({ queryOptions })) {
        records.push({
          accountId: e.accountId, ...(e.encryptionScope ? { encryptionScope: e.encryptionScope } : {}), code: e.code, severity: e.severity, evidence: JSON.parse(e.evidence) as FindingRecord['evidence'],
          remedy: e.remedy, sweepId: e.sweepId, observedAt: e.observedAt,
        });
      }
      const rank = (r: FindingRecord): number => SEVERITIES.indexOf(r.severity);
      return records.sort(
        (a, b) => rank(a) - rank(b) || a.accountId.localeCompare(b.accountId) || FINDING_CODES.indexOf(a.code) - FINDING_CODES.indexOf(b.code),
      );
    });
  }

  removeVerdicts(stale: StoredVerdicts): Promise<number> {
    return storage('removing findings of accounts no longer bound', async () => {
      const table = await this.tables.table(TABLES.findings);
      let removed = 0;
      for (const [partitionKey, codes] of stale) {
        if (codes.size === 0) continue;
        await submit(table, [...codes.keys()].map((rowKey): TransactionAction => ['delete', { partitionKey, rowKey }]));
        removed += 1;
      }
      return removed;
    });
  }
}

/**
 * One partition's writes as transactions of at most 100, or the one write a transaction would hold (the SDK builds a
 * client per transaction: a sweep's first run writes thousands). A transaction fails whole on a row it deletes that
 * is gone (an event or another sweep deleted it, or this very transaction did, sent again after its answer was
 * lost): then row by row, a row gone being no error.
 */
async function submit(table: TableClient, actions: TransactionAction[]): Promise<void> {
  for (let i = 0; i < actions.length; i += TRANSACTION_LIMIT) await transact(table, actions.slice(i, i + TRANSACTION_LIMIT));
}

async function transact(table: TableClient, actions: TransactionAction[]): Promise<void> {
  const [only, ...more] = actions;
  if (only && !more.length) return one(table, only);
  const whole = await expect(table.submitTransaction(actions).then(() => 'done' as const), 404, 'gone' as const);
  if (whole === 'gone') for (const action of actions) await one(table, action);
}

async function one(table: TableClient, action: TransactionAction): Promise<void> {
  if (action[0] === 'delete') await expect(table.deleteEntity(action[1].partitionKey, action[1].rowKey), 404, undefined);
  else if (action[0] === 'upsert') await table.upsertEntity(action[1], action[2]);
  else await table.submitTransaction([action]);
}

function upserts(accountId: string, findings: Finding[], sweepId: string, observedAt: string): TransactionAction[] {
  const partitionKey = accountKey(accountId);
  return findings.map((f) => {
    const entity: FindingEntity = {
      accountId, ...(f.encryptionScope ? { encryptionScope: f.encryptionScope } : {}), code: f.code, severity: f.severity, evidence: JSON.stringify(f.evidence), remedy: f.remedy, sweepId, observedAt, digest: findingDigest(f),
    };
    return ['upsert', { partitionKey, rowKey: findingKey(f), ...entity }, 'Replace'];
  });
}

async function rowKeys(table: TableClient, partitionKey: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const e of table.listEntities({ queryOptions: { filter: await odata`PartitionKey eq ${partitionKey}`, select: ['RowKey'] } })) {
    if (e.rowKey) keys.push(e.rowKey);
  }
  return keys;
}
