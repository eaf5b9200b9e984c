import { accountKey } from '../../domain/accounts';
import type { Pin } from '../../domain/rebind';
import type { PinStore } from '../../ports';
import { expect, plain, storage, TABLES, type TableStorage } from './storage';

/** The account's own pin is row "pin"; a scope's is "pin~<scope>", in the account's partition. */
const pinRow = (encryptionScope?: string): string => (encryptionScope ? `pin~${encryptionScope.toLowerCase()}` : 'pin');

/** The Pins table: one row per pinned binding (§2a), listed once by each sweep. */
export class TablePinStore implements PinStore {
  constructor(private readonly tables: TableStorage) {}

  get(accountId: string, encryptionScope?: string): Promise<Pin | undefined> {
    return storage('reading the account pin', async () => {
      const row = await expect((await this.tables.table(TABLES.pins)).getEntity<Pin>(accountKey(accountId), pinRow(encryptionScope)), 404, undefined);
      return row && plain(row);
    });
  }

  set(pin: Pin): Promise<void> {
    return storage('pinning the account', async () => {
      await (await this.tables.table(TABLES.pins)).upsertEntity({ partitionKey: accountKey(pin.accountId), rowKey: pinRow(pin.encryptionScope), ...pin }, 'Replace');
    });
  }

  release(accountId: string, jobId?: string, encryptionScope?: string): Promise<Pin | undefined> {
    return storage('releasing the account pin', async () => {
      const table = await this.tables.table(TABLES.pins);
      const current = await expect(table.getEntity<Pin>(accountKey(accountId), pinRow(encryptionScope)), 404, undefined);
      if (!current || (jobId && current.jobId !== jobId)) return undefined;
      // Only the pin just read goes: one set meanwhile by another person stays.
      const removed = await expect(table.deleteEntity(accountKey(accountId), pinRow(encryptionScope), { etag: current.etag }).then(() => true), 412, false);
      return removed ? plain(current) : undefined;
    });
  }

  list(): Promise<Pin[]> {
    return storage('listing pins', async () => {
      const pins: Pin[] = [];
      for await (const e of (await this.tables.table(TABLES.pins)).listEntities<Pin>()) pins.push(plain(e));
      return pins;
    });
  }
}
