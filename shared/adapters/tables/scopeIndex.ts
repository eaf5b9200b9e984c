import { createHash } from 'node:crypto';
import { accountKey } from '../../domain/accounts';
import type { AccountState, EncryptionScopeState } from '../../domain/model';
import { cmkBindings } from '../../domain/scopes';
import type { IndexedScope, ScopeIndex, StoredScopes } from '../../ports';
import { expect, keyPartition, odata, storage, TABLES, type TableStorage } from './storage';

interface ScopeEntity {
  accountId: string;
  /** JSON objects. */
  tags: string;
  scope: string;
  digest: string;
}

/** Scope names hold no '~' (ARM allows letters, digits, '-', '_' and '.'), so the account key is what precedes the last one. */
const scopeRow = (accountId: string, scope: string): string => `${accountKey(accountId)}~${scope.toLowerCase()}`;
const accountOfRow = (rowKey: string): string => rowKey.slice(0, rowKey.lastIndexOf('~'));
/** How stored rows are told apart: partition and row. */
const rowId = (partitionKey: string, rowKey: string): string => `${partitionKey}|${rowKey}`;

/** The EncryptionScopes table: per key, the CMK encryption scopes the sweeps saw bound to it. */
export class TableScopeIndex implements ScopeIndex {
  constructor(private readonly tables: TableStorage) {}

  boundTo(key: { vaultUri: string; keyName: string }): Promise<IndexedScope[]> {
    return storage('reading the encryption scope index', async () => {
      const table = await this.tables.table(TABLES.scopes);
      const found: IndexedScope[] = [];
      for await (const e of table.listEntities<ScopeEntity>({ queryOptions: { filter: await odata`PartitionKey eq ${keyPartition(key)}` } })) {
        found.push({ accountId: e.accountId, tags: JSON.parse(e.tags) as Record<string, string>, scope: JSON.parse(e.scope) as EncryptionScopeState });
      }
      return found;
    });
  }

  stored(): Promise<StoredScopes> {
    return storage('reading the encryption scope index', async () => {
      const table = await this.tables.table(TABLES.scopes);
      const stored: StoredScopes = new Map();
      for await (const e of table.listEntities<{ digest?: string }>({ queryOptions: { select: ['PartitionKey', 'RowKey', 'digest'] } })) {
        if (!e.partitionKey || !e.rowKey) continue;
        const rows = stored.get(accountOfRow(e.rowKey)) ?? new Map<string, string>();
        rows.set(rowId(e.partitionKey, e.rowKey), e.digest ?? '');
        stored.set(accountOfRow(e.rowKey), rows);
      }
      return stored;
    });
  }

  record(account: AccountState, stored: ReadonlyMap<string, string>): Promise<boolean> {
    return storage('recording an account\'s encryption scopes', async () => {
      const table = await this.tables.table(TABLES.scopes);
      const tags = JSON.stringify(account.tags);
      let wrote = false;
      const wanted = new Set<string>();
      for (const { scope, holder } of cmkBindings(account)) {
        if (!scope) continue;
        const partitionKey = keyPartition(holder.binding);
        const rowKey = scopeRow(account.id, scope.name);
        const entity: ScopeEntity = { accountId: account.id, tags, scope: JSON.stringify(scope), digest: '' };
        entity.digest = createHash('sha256').update(`${entity.tags}\n${entity.scope}`).digest('hex').slice(0, 16);
        wanted.add(rowId(partitionKey, rowKey));
        if (stored.get(rowId(partitionKey, rowKey)) === entity.digest) continue;
        await table.upsertEntity({ partitionKey, rowKey, ...entity }, 'Replace');
        wrote = true;
      }
      for (const id of stored.keys()) {
        if (wanted.has(id)) continue;
        const [partitionKey = '', rowKey = ''] = id.split('|');
        await expect(table.deleteEntity(partitionKey, rowKey), 404, undefined);
        wrote = true;
      }
      return wrote;
    });
  }

  removeAccountsNotIn(seen: ReadonlySet<string>, stored: StoredScopes): Promise<void> {
    return storage('removing encryption scopes of accounts no longer seen', async () => {
      const table = await this.tables.table(TABLES.scopes);
      for (const [account, rows] of stored) {
        if (seen.has(account)) continue;
        for (const id of rows.keys()) {
          const [partitionKey = '', rowKey = ''] = id.split('|');
          await expect(table.deleteEntity(partitionKey, rowKey), 404, undefined);
        }
      }
    });
  }
}
