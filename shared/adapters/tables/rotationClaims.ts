import type { Clock, RotationClaims } from '../../ports';
import { claimRow, keyPartition, storage, TABLES, type TableStorage } from './storage';

interface ClaimEntity {
  holder: string;
  claimedAt: string;
  expiresAt: string;
}

/** The KeyRotations table: a row per key (partition) and expiring version (row), naming who rotates it away. */
export class TableRotationClaims implements RotationClaims {
  constructor(
    private readonly tables: TableStorage,
    private readonly clock: Clock = { now: () => new Date() },
  ) {}

  claim(vaultUri: string, keyName: string, version: string, holder: string, ttlMs: number): Promise<{ claimed: true } | { claimed: false; holder: string; expiresAt: Date }> {
    return storage('claiming a key rotation', async () => {
      const table = await this.tables.table(TABLES.keyRotations);
      const now = this.clock.now();
      const entity = {
        partitionKey: keyPartition({ vaultUri, keyName }), rowKey: version.toLowerCase(),
        holder, claimedAt: now.toISOString(), expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
      };
      // An expired claim is anyone's. The same holder (its message delivered again, or a create sent again after its
      // answer was lost) keeps the claim as it was: its expiry does not move, so whoever waits for it is not outwaited.
      const claim = await claimRow<ClaimEntity>(table, entity, (current) => {
        if (Date.parse(current.expiresAt) < now.getTime()) return 'take';
        return current.holder === holder ? 'keep' : 'held';
      });
      return claim.held ? { claimed: false, holder: claim.current.holder, expiresAt: new Date(claim.current.expiresAt) } : { claimed: true };
    });
  }
}
