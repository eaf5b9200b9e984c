import { accountKey } from '../../domain/accounts';
import type { Pin } from '../../domain/rebind';
import type { PinStore } from '../../ports';
import { expect, plain, storage, TABLES, type TableStorage } from './storage';

/** The account's own pin is row "pin"; a scope's is "pin~<scope>", in the account's partition. */
export const pinRow = (encryptionScope?: string): string => (encryptionScope ? `pin~${encryptionScope.toLowerCase()}` : 'pin');

/**
 * Pins (§2a). The pin a job obeys is a row in the account's partition of Rotations, so the job reads it with its
 * lease and its row in one query; the Pins table lists them for sweeps and people. A pin is written there first
 * and removed from there last, so a failure in between leaves the binding pinned, never unpinned by surprise.
 */
export class TablePinStore implements PinStore {
  constructor(private readonly tables: TableStorage) {}

  get(accountId: string, encryptionScope?: string): Promise<Pin | undefined> {
    return storage('reading the account pin', async () => {
      const row = await expect((await this.tables.table(TABLES.rotations)).getEntity<Pin>(accountKey(accountId), pinRow(encryptionScope)), 404, undefined);
      return row && plain(row);
    });
  }

  set(pin: Pin): Promise<void> {
    return this.write('pinning the account', pin, [TABLES.rotations, TABLES.pins]);
  }

  restore(pin: Pin): Promise<void> {
    return this.write('restoring the pin a job replaced', pin, [TABLES.pins, TABLES.rotations]);
  }

  /** The pin's row in both tables, in this order. */
  private write(what: string, pin: Pin, tables: readonly string[]): Promise<void> {
    return storage(what, async () => {
      const entity = { partitionKey: accountKey(pin.accountId), rowKey: pinRow(pin.encryptionScope), ...pin };
      for (const name of tables) await (await this.tables.table(name)).upsertEntity(entity, 'Replace');
    });
  }

  release(accountId: string, jobId?: string, encryptionScope?: string): Promise<Pin | undefined> {
    return storage('releasing the account pin', async () => {
      const journal = await this.tables.table(TABLES.rotations);
      const [partitionKey, rowKey] = [accountKey(accountId), pinRow(encryptionScope)];
      const current = await expect(journal.getEntity<Pin>(partitionKey, rowKey), 404, undefined);
      if (!current || (jobId && current.jobId !== jobId)) return undefined;
      await expect((await this.tables.table(TABLES.pins)).deleteEntity(partitionKey, rowKey), 404, undefined);
      // Only the pin just read goes: one set meanwhile by another person stays (and is listed again). A delete sent
      // again after its answer was lost finds nothing (404): gone, as asked.
      const removed = await expect(expect(journal.deleteEntity(partitionKey, rowKey, { etag: current.etag }).then(() => true), 412, false), 404, true);
      if (!removed) {
        const now = await expect(journal.getEntity<Pin>(partitionKey, rowKey), 404, undefined);
        if (now) await (await this.tables.table(TABLES.pins)).upsertEntity({ ...plain(now), partitionKey, rowKey }, 'Replace');
      }
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
