// The interfaces the use cases need; adapters implement them over the Azure SDKs, tests with fakes.
import type { Finding, FindingRecord, Severity, SweepSummary, VaultInfo } from './domain/findings';
import type { RotationJob } from './domain/jobs';
import type { AccountState, KeyBinding, KeySource, KeyVersionInfo, RotationRecord } from './domain/model';

export interface KeyStore {
  /** One version (or the latest when version is omitted); undefined when the key or version does not exist. */
  getKeyVersion(vaultUri: string, keyName: string, version?: string): Promise<KeyVersionInfo | undefined>;
  /** Every version's attributes (no key type or size: read a version for those). */
  listVersions(vaultUri: string, keyName: string): Promise<KeyVersionInfo[]>;
  /** Creates a new version now (Key Vault rotate); its KeyNewVersionCreated event follows. */
  rotateKey(vaultUri: string, keyName: string): Promise<KeyVersionInfo>;
}

export interface EncryptionChange {
  keySource: KeySource;
  binding?: KeyBinding;
}

export interface AccountStore {
  listAccounts(subscriptionId: string): AsyncIterable<AccountState>;
  getAccount(accountId: string): Promise<AccountState | undefined>;
  /** PATCHes properties.encryption and waits for the long-running operation to end. */
  updateEncryption(accountId: string, change: EncryptionChange): Promise<void>;
}

export interface Ledger {
  /** Upserts the row for (account, job): the same job moves one row through its states. */
  record(row: RotationRecord): Promise<void>;
  history(accountId: string, limit: number): Promise<RotationRecord[]>;
  /** One page of an account's rows, newest first; pass the token back for the next page. */
  historyPage(accountId: string, limit: number, continuationToken?: string): Promise<{ rows: RotationRecord[]; continuationToken?: string }>;
  /** One job's row for one account (its queuedAt and jobId make the row key). */
  get(accountId: string, queuedAt: string, jobId: string): Promise<RotationRecord | undefined>;
  /** The rows of one job (one per account it touched); empty when the job is unknown. */
  job(jobId: string): Promise<RotationRecord[]>;
}

export interface Lease {
  accountId: string;
  holder: string;
  etag: string;
}

export interface LeaseStore {
  /** undefined when another holder has a live lease. */
  acquire(accountId: string, holder: string, ttlMs: number): Promise<Lease | undefined>;
  release(lease: Lease): Promise<void>;
}

export interface JobKeyStore {
  /**
   * Claims (account, dedupe key) for a job. 'duplicate' when another job holds it (done or in
   * flight); a job's own retry gets 'claimed' again.
   */
  claim(accountId: string, dedupeKey: string, jobId: string, staleAfterMs: number): Promise<'claimed' | 'duplicate'>;
  /** Marks the job's claim done (from now on), or lets it go so that a later job may try again. */
  settle(accountId: string, dedupeKey: string, jobId: string, outcome: 'done' | 'release'): Promise<void>;
}

export interface BoundAccount {
  accountId: string;
  keyVersion: string;
}

export interface BindingIndex {
  /** Replaces the accounts recorded for one key with what discovery found. */
  replace(vaultUri: string, keyName: string, accounts: BoundAccount[]): Promise<void>;
  list(vaultUri: string, keyName: string): Promise<BoundAccount[]>;
}

export interface JobQueue {
  enqueue(job: RotationJob, options?: { delaySeconds?: number }): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface VaultDirectory {
  /** The vault whose vaultUri has this host; undefined when no listed subscription holds it. */
  findVault(vaultUri: string): Promise<VaultInfo | undefined>;
}

export interface FindingStore {
  /** Makes the account's stored findings exactly this set (the latest sweep's verdict). */
  replaceForAccount(accountId: string, findings: Finding[], sweepId: string, observedAt: string): Promise<void>;
  /** Adds or replaces these codes only (an event's verdict on the key), leaving the others. */
  upsert(accountId: string, findings: Finding[], sourceId: string, observedAt: string): Promise<void>;
  list(options?: { severity?: Severity; accountId?: string }): Promise<FindingRecord[]>;
  /** Drops the findings of accounts that are gone or no longer CMK-bound; returns how many accounts. */
  removeAccountsNotIn(accountIds: Set<string>): Promise<number>;
}

export interface SweepStore {
  /** Upserts the run's row: the same sweep moves one row from running to its end. */
  record(summary: SweepSummary): Promise<void>;
  latest(): Promise<SweepSummary | undefined>;
  get(sweepId: string): Promise<SweepSummary | undefined>;
  /** One sweep at a time: 'held' names the running sweep; a lock older than staleAfterMs is taken over. */
  lock(sweepId: string, staleAfterMs: number): Promise<{ held: false } | { held: true; sweepId: string }>;
  unlock(sweepId: string): Promise<void>;
}
