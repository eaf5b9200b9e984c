// The interfaces the use cases need; adapters implement them over the Azure SDKs, tests with fakes.
import type { GrantsView } from './domain/access';
import type { Finding, FindingRecord, Severity, SweepSummary } from './domain/findings';
import type { RotationJob } from './domain/jobs';
import type { AccountState, EncryptionScopeState, KeyBinding, KeySource, KeyVersionInfo, RotationRecord, VaultInfo } from './domain/model';
import type { Pin } from './domain/rebind';
import type { EventFields, EventName } from './telemetry/catalogue';

export interface KeyStore {
  /** One version (or the key's current version when version is omitted); undefined when the key or version does not exist. */
  getKeyVersion(vaultUri: string, keyName: string, version?: string): Promise<KeyVersionInfo | undefined>;
  /** When a version was created: it never changes, so a store may read it once per process. */
  versionCreatedOn(vaultUri: string, keyName: string, version: string): Promise<Date | undefined>;
  /** Every version's attributes (no key type or size: read a version for those); empty when the key does not exist. */
  listVersions(vaultUri: string, keyName: string): Promise<KeyVersionInfo[]>;
  /** Creates a new version now (Key Vault rotate); its KeyNewVersionCreated event follows. */
  rotateKey(vaultUri: string, keyName: string): Promise<KeyVersionInfo>;
}

export interface EncryptionChange {
  keySource: KeySource;
  binding?: KeyBinding;
}

/**
 * How an update ended, as the operation (never the SDK poller) says: succeeded, with the account when ARM's
 * final answer already showed it, or failed with the operation's own error.
 */
export type UpdateVerdict =
  | { status: 'succeeded'; account?: AccountState; scope?: EncryptionScopeState }
  | { status: 'failed'; code: string; message: string };

export interface AccountStore {
  listAccounts(subscriptionId: string): AsyncIterable<AccountState>;
  getAccount(accountId: string): Promise<AccountState | undefined>;
  /**
   * PATCHes properties.encryption and follows its long-running operation to its end. Throws DependencyError
   * when it cannot say: `notApplied` then tells whether ARM refused the PATCH itself.
   */
  updateEncryption(accountId: string, change: EncryptionChange): Promise<UpdateVerdict>;
  /** The account's encryption scopes (Resource Graph does not index them); empty when the account is gone. */
  listEncryptionScopes(accountId: string): Promise<EncryptionScopeState[]>;
  getEncryptionScope(accountId: string, name: string): Promise<EncryptionScopeState | undefined>;
  /** PUTs the scope back with only its key settings changed, and follows an operation if ARM starts one. */
  updateEncryptionScope(accountId: string, name: string, change: EncryptionChange): Promise<UpdateVerdict>;
}

export interface Ledger {
  /**
   * Rows of jobs just queued (with their job index rows): created where absent, never written over a row
   * that a worker already moved on. Call after the job is on the queue, so a queued row always has a message.
   */
  recordQueued(rows: RotationRecord[]): Promise<void>;
  /** One page of an account's rows, newest first; pass the token back for the next page. */
  historyPage(accountId: string, limit: number, continuationToken?: string): Promise<{ rows: RotationRecord[]; continuationToken?: string }>;
  /** The rows of one job (one per account it touched); empty when the job is unknown. */
  job(jobId: string): Promise<RotationRecord[]>;
}

/** The account's lease as read: absent until the first job ever took it. */
export interface LeaseState {
  holder: string;
  expiresAt: string;
  etag: string;
}

export interface Lease {
  accountId: string;
  holder: string;
  expiresAt: string;
  etag: string;
}

export interface JournalState {
  accountId: string;
  lease?: LeaseState;
  /** This job's ledger row, when an earlier attempt or the queueing wrote one. */
  row?: RotationRecord;
  /** The row's ETag as read: a write without the lease goes only over the row as it was read. */
  rowEtag?: string;
  /** The binding's pin (§2a), read with the lease: a person's rollback holds until released. */
  pin?: Pin;
}

/**
 * One account's writer lease and its ledger rows, kept together (one partition) so that taking the lease and
 * recording the intent, or recording the outcome and releasing the lease, are each one atomic write (rules 6, 7).
 * Row writes merge: what an earlier attempt recorded (its intent) is never erased by a later one.
 */
export interface AccountJournal {
  /** The lease, the job's row and the pin of the account's binding (or of its scope `encryptionScope`), in one read. */
  open(accountId: string, row: Pick<RotationRecord, 'queuedAt' | 'jobId'>, encryptionScope?: string): Promise<JournalState>;
  /**
   * Takes the lease and writes the row, only if both are still as `state` read them; undefined when another writer
   * moved first. A commit of its own whose answer was lost (the SDK sent it again, and met it) is its own: the lease.
   */
  begin(state: JournalState, holder: string, ttlMs: number, row: RotationRecord): Promise<Lease | undefined>;
  /** Extends a held lease; undefined when it was taken over meanwhile. */
  renew(lease: Lease, ttlMs: number): Promise<Lease | undefined>;
  /**
   * Writes the row and releases the lease together; a lease taken over meanwhile is left to its new holder. A lease
   * whose ETag a renewal moved without the holder hearing of it is still the holder's, and released.
   */
  finish(lease: Lease, row: RotationRecord): Promise<void>;
  /** Releases the lease only while this holder holds it (as finish), writing no row. */
  release(lease: Lease): Promise<void>;
  /**
   * Writes a row without the lease. With `over`, only over the row as that state read it (or where there was
   * none): false, writing nothing, when another delivery of the same job wrote it first (a commit of its own whose
   * answer was lost is true). Without, as it is (the writer wrote the row itself since).
   */
  record(row: RotationRecord, over?: JournalState): Promise<boolean>;
}

/** Pins are per binding: the account's own (no scope) or one of its encryption scopes'. */
export interface PinStore {
  get(accountId: string, encryptionScope?: string): Promise<Pin | undefined>;
  set(pin: Pin): Promise<void>;
  /**
   * Writes the pin a job's own replaced back over it: the listing first and the pin the jobs read last, so that a
   * failure in between leaves the job's own pin where taking it back again finds it.
   */
  restore(pin: Pin): Promise<void>;
  /** Removes the binding's pin (only the one `jobId` set, when given); returns what was removed. */
  release(accountId: string, jobId?: string, encryptionScope?: string): Promise<Pin | undefined>;
  list(): Promise<Pin[]>;
}

/**
 * Finds the accounts that use a customer-managed key, page by page. Discovery may lag behind ARM (Resource
 * Graph does): whatever acts on an account reads it through ARM first.
 */
export interface AccountDiscovery {
  /** The accounts bound to this key. */
  boundTo(key: { vaultUri: string; keyName: string }): AsyncIterable<AccountState[]>;
  /** Every account bound to a Key Vault (or Managed HSM) key. */
  cmkAccounts(): AsyncIterable<AccountState[]>;
}

/** Where accounts come from before their encryption scopes are known: Resource Graph, or the ARM list. */
export interface AccountSource {
  /** Accounts whose own binding uses this key (filtered where the source can). */
  boundTo(key: { vaultUri: string; keyName: string }): AsyncIterable<AccountState[]>;
  /** Accounts whose own binding uses a Key Vault (or Managed HSM) key. */
  cmkAccounts(): AsyncIterable<AccountState[]>;
  /** Every account, whatever its key source (a scope may use a key while its account does not). */
  allAccounts(): AsyncIterable<AccountState[]>;
}

/** An encryption scope bound to a Key Vault key, as the last sweep that saw its account recorded it. */
export interface IndexedScope {
  accountId: string;
  /** The account's tags then (its opt-out). */
  tags: Record<string, string>;
  scope: EncryptionScopeState;
}

/** accountKey -> the account's index rows and their digests. */
export type StoredScopes = Map<string, Map<string, string>>;

/**
 * The CMK encryption scopes the sweeps saw, by key. Resource Graph does not index scopes and listing every
 * account's scopes per event would cost a read per account, so sweeps list them and events read this.
 */
export interface ScopeIndex {
  boundTo(key: { vaultUri: string; keyName: string }): Promise<IndexedScope[]>;
  stored(): Promise<StoredScopes>;
  /** Records the account's CMK scopes where they differ from `stored` (the account's rows as read); true when it wrote. */
  record(account: AccountState, stored: ReadonlyMap<string, string>): Promise<boolean>;
  /** Drops the rows of accounts a complete sweep did not see. */
  removeAccountsNotIn(seen: ReadonlySet<string>, stored: StoredScopes): Promise<void>;
}

export interface JobQueue {
  enqueue(job: RotationJob, options?: { delaySeconds?: number }): Promise<void>;
}

export interface Clock {
  now(): Date;
}

/** Writes one event of the catalogue (shared/telemetry/catalogue.ts): a JSON object with a stable `event` name. */
export interface Logger {
  event<N extends EventName>(name: N, fields: EventFields<N>): void;
}

export interface VaultDirectory {
  /** The vault (or Managed HSM) whose URI has this host, from a listing kept per instance; undefined when no listed subscription holds it. */
  findVault(vaultUri: string): Promise<VaultInfo | undefined>;
  /**
   * The same, read from ARM itself (its access policies as they are), for a check made right before a change; an
   * adapter may answer from a read a few seconds old unless `fresh` asks for a new one.
   */
  readVault(vaultUri: string, options?: { fresh?: boolean }): Promise<VaultInfo | undefined>;
  /** Starts listing what findVault will look in (a sweep asks before it knows which vaults its accounts name). */
  prepare?(): void;
}

/** Where role assignments live: Azure RBAC at an RBAC vault's ARM id, or a Managed HSM's local RBAC on its data plane. */
export type GrantTarget = { plane: 'vault-rbac'; vaultId: string } | { plane: 'managed-hsm'; hsmUri: string };

export interface RoleGrantReader {
  /**
   * The principal's role assignments that Azure lists for the target (at, above and below it) and the role
   * definitions they name; `denied` (with the permission) when the service may not read them. Other failures throw.
   */
  read(target: GrantTarget, principalId: string): Promise<GrantsView>;
}

/** Account key -> finding key (code, or code~scope) -> digest of each stored finding (one listing of the Findings table). */
export type StoredVerdicts = Map<string, Map<string, string>>;

export interface FindingStore {
  /**
   * Every stored digest in account key order, one page of the store at a time (an account's rows may go on in the
   * next page): a sweep reads it alongside discovery, which answers in the same order.
   */
  verdicts(): AsyncIterable<StoredVerdicts>;
  /**
   * Makes the account's stored findings exactly this set; `stored` (from verdicts()) spares a read, and
   * findings already stored as they are now are not rewritten. True when anything was written.
   */
  replaceForAccount(accountId: string, findings: Finding[], sweepId: string, observedAt: string, stored?: ReadonlyMap<string, string>): Promise<boolean>;
  /** Adds or replaces these codes only (an event's verdict on the key), leaving the others. */
  upsert(accountId: string, findings: Finding[], sourceId: string, observedAt: string): Promise<void>;
  list(options?: { severity?: Severity; accountId?: string }): Promise<FindingRecord[]>;
  /** Deletes these stored rows (of accounts a complete sweep no longer found), in transactions of at most 100 rows per account; how many accounts. */
  removeVerdicts(stale: StoredVerdicts): Promise<number>;
}

/**
 * NEAR_EXPIRY_ACTION=rotate: one rotation per expiring key version. Two fan-outs of one event side by side, or a
 * sweep beside a fan-out, each see no newer version; the first to claim the rotation makes it, and the others leave
 * it to that one (its new version's event binds the accounts).
 */
export interface RotationClaims {
  /**
   * Claims the rotation of the key away from `version` for `holder`: another holder finds it held (by whom, until
   * when) until `ttlMs` after it was claimed; the same holder (a message delivered again) still holds it, without
   * moving that expiry.
   */
  claim(vaultUri: string, keyName: string, version: string, holder: string, ttlMs: number): Promise<{ claimed: true } | { claimed: false; holder: string; expiresAt: Date }>;
}

export interface SweepStore {
  /** Upserts the run's row: the same sweep moves one row from running to its end. */
  record(summary: SweepSummary): Promise<void>;
  latest(): Promise<SweepSummary | undefined>;
  /**
   * One sweep at a time: 'held' names the running sweep; a lock taken expires `ttlMs` later unless renewed, and an
   * expired one is taken over. `runner` is the queue message a queued sweep runs from: its redelivery takes the lock
   * again, another message of the same sweep (a send the SDK repeated after its answer was lost) finds it held.
   */
  lock(sweepId: string, ttlMs: number, runner?: string): Promise<{ held: false } | { held: true; sweepId: string }>;
  /** Moves the expiry of a lock still held as `runner` took it to `ttlMs` from now; false when it is no longer so held. */
  renew(sweepId: string, ttlMs: number, runner?: string): Promise<boolean>;
  /**
   * Releases the lock as `runner` took it (without one: as the request that queued the sweep took it, not started
   * yet). A queued sweep that `ended` (a result, not an error) marks it done instead: its other messages find it so.
   */
  unlock(sweepId: string, runner?: string, ended?: boolean): Promise<void>;
}
