// The read-only audit's stores: the sweep's judging runs unchanged on these, so nothing is written anywhere. Reads
// pass through to the real adapters; every write refuses (a bug if reached: report mode never asks for one).
import type { Finding, FindingRecord, SweepSummary } from '../domain/findings';
import type { AccountStore, FindingStore, JobQueue, KeyStore, Ledger, PinStore, RotationClaims, StoredVerdicts, SweepStore } from '../ports';

class ReadOnlyViolation extends Error {
  constructor(what: string) {
    super(`the read-only audit tried to ${what}`);
    this.name = 'ReadOnlyViolation';
  }
}

const refuse = (what: string) => (): never => {
  throw new ReadOnlyViolation(what);
};

/** Key Vault reads only: no rotation. `onRead` counts the calls (the CLI's progress). */
export function readOnlyKeys(keys: KeyStore, onRead: () => void = () => undefined): KeyStore {
  return {
    getKeyVersion: (vaultUri, keyName, version) => (onRead(), keys.getKeyVersion(vaultUri, keyName, version)),
    versionCreatedOn: (vaultUri, keyName, version) => keys.versionCreatedOn(vaultUri, keyName, version),
    listVersions: (vaultUri, keyName) => (onRead(), keys.listVersions(vaultUri, keyName)),
    rotateKey: refuse('rotate a key'),
  };
}

/** ARM reads only: no PATCH or PUT. */
export function readOnlyAccounts(accounts: AccountStore): AccountStore {
  return {
    listAccounts: (subscriptionId) => accounts.listAccounts(subscriptionId),
    getAccount: (accountId) => accounts.getAccount(accountId),
    listEncryptionScopes: (accountId) => accounts.listEncryptionScopes(accountId),
    getEncryptionScope: (accountId, name) => accounts.getEncryptionScope(accountId, name),
    updateEncryption: refuse('update an account'),
    updateEncryptionScope: refuse('update an encryption scope'),
  };
}

/** Findings kept in memory: the audit's report. Nothing is stored before, so every verdict is new. */
class MemoryFindingStore implements FindingStore {
  private readonly records: FindingRecord[] = [];

  async *verdicts(): AsyncIterable<StoredVerdicts> {
    yield* [];
  }

  async replaceForAccount(accountId: string, findings: Finding[], sweepId: string, observedAt: string): Promise<boolean> {
    this.records.push(...findings.map((f) => ({ ...f, accountId, sweepId, observedAt })));
    return findings.length > 0;
  }

  upsert = refuse('store an event\'s findings');

  async list(): Promise<FindingRecord[]> {
    return [...this.records];
  }

  async removeVerdicts(): Promise<number> {
    return 0;
  }
}

/** The run's summary in memory; there is no lock to take (nothing else runs in the CLI's process). */
class MemorySweepStore implements SweepStore {
  private summary: SweepSummary | undefined;

  async record(summary: SweepSummary): Promise<void> {
    this.summary = { ...summary };
  }
  async latest(): Promise<SweepSummary | undefined> {
    return this.summary;
  }
  async lock(): Promise<{ held: false }> {
    return { held: false };
  }
  async renew(): Promise<boolean> {
    return true;
  }
  async unlock(): Promise<void> {}
}

/** Pins live in the deployed app's storage, which the audit does not read: no binding is pinned here. */
export const NO_PINS: PinStore = { get: async () => undefined, list: async () => [], set: refuse('pin a binding'), restore: refuse('pin a binding'), release: refuse('release a pin') };
const NO_QUEUE: JobQueue = { enqueue: refuse('queue a job') };
const NO_LEDGER: Ledger = {
  recordQueued: refuse('write the ledger'), historyPage: refuse('read the ledger'), job: refuse('read the ledger'),
};

const NO_ROTATION_CLAIMS: RotationClaims = { claim: refuse('claim a key rotation') };

/** The audit's stores: verdicts and the run's summary in memory, no pins, and no ledger, queue or rotation claims to write. */
export function auditStores(): { findings: FindingStore; sweeps: SweepStore; pins: PinStore; ledger: Ledger; queue: JobQueue; rotationClaims: RotationClaims } {
  return { findings: new MemoryFindingStore(), sweeps: new MemorySweepStore(), pins: NO_PINS, ledger: NO_LEDGER, queue: NO_QUEUE, rotationClaims: NO_ROTATION_CLAIMS };
}
