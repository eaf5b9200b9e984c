import { accountKey } from '../../domain/accounts';
import { vaultHost } from '../../domain/keys';
import type { BindingIndex, BoundAccount } from '../../ports';
import { TABLES, type TableStorage, odata } from './storage';

/** The Bindings index: key (vault host~key name) -> accounts bound to it, refreshed by discovery. */
export class TableBindingIndex implements BindingIndex {
  constructor(private readonly storage: TableStorage) {}

  async replace(vaultUri: string, keyName: string, accounts: BoundAccount[]): Promise<void> {
    const table = await this.storage.table(TABLES.bindings);
    const partitionKey = bindingPartition(vaultUri, keyName);
    const keep = new Set<string>();
    for (const account of accounts) {
      const rowKey = accountKey(account.accountId);
      keep.add(rowKey);
      await table.upsertEntity({ partitionKey, rowKey, ...account }, 'Replace');
    }
    for await (const e of table.listEntities({ queryOptions: { filter: await odata`PartitionKey eq ${partitionKey}`, select: ['RowKey'] } })) {
      if (e.rowKey && !keep.has(e.rowKey)) await table.deleteEntity(partitionKey, e.rowKey);
    }
  }

  async list(vaultUri: string, keyName: string): Promise<BoundAccount[]> {
    const table = await this.storage.table(TABLES.bindings);
    const filter = await odata`PartitionKey eq ${bindingPartition(vaultUri, keyName)}`;
    const accounts: BoundAccount[] = [];
    for await (const e of table.listEntities<BoundAccount>({ queryOptions: { filter } })) {
      accounts.push({ accountId: e.accountId, keyVersion: e.keyVersion });
    }
    return accounts;
  }
}

export function bindingPartition(vaultUri: string, keyName: string): string {
  // Table keys may not contain / \ # ?; a host with a port keeps its colon.
  return `${vaultHost(vaultUri)}~${keyName.toLowerCase()}`;
}
