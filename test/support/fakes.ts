// Hand-written in-memory fakes of the ports, for domain and use-case tests.
import type { GrantsView } from '../../shared/domain/access';
import type { VaultInfo } from '../../shared/domain/findings';
import type { RotationJob } from '../../shared/domain/jobs';
import { vaultHost } from '../../shared/domain/keys';
import type { AccountState, EncryptionScopeState, KeyVersionInfo, RotationRecord } from '../../shared/domain/model';
import { bindingKey, bindingsTo, cmkBindings } from '../../shared/domain/scopes';
import type { Pin } from '../../shared/domain/rebind';
import type {
  AccountDiscovery, AccountJournal, AccountStore, Clock, EncryptionChange, GrantTarget, JobQueue, JournalState, KeyStore, Lease, Ledger, Logger,
  PinStore, RoleGrantReader, UpdateVerdict, VaultDirectory,
} from '../../shared/ports';
import type { RebindDeps } from '../../shared/usecases/rebind';
import { levelOf, type EventName, type Level } from '../../shared/telemetry/catalogue';

export const SUB = '11111111-2222-3333-4444-555555555555';
export const VAULT = 'https://kv-one.vault.azure.net/';

export function accountId(name: string, rg = 'rg-ai'): string {
  return `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.CognitiveServices/accounts/${name}`;
}

export function hex(n: number): string {
  return n.toString(16).padStart(32, '0');
}

export function keyVersion(version: string, over: Partial<KeyVersionInfo> = {}): KeyVersionInfo {
  return {
    vaultUri: VAULT,
    keyName: 'cmk',
    version,
    enabled: true,
    kty: 'RSA',
    keySize: 2048,
    keyOps: ['wrapKey', 'unwrapKey'],
    createdOn: new Date('2026-01-01T00:00:00Z'),
    recoveryLevel: 'Recoverable',
    ...over,
  };
}

export function boundAccount(name: string, version: string, over: Partial<AccountState> = {}): AccountState {
  const id = accountId(name);
  return {
    id,
    subscriptionId: SUB,
    resourceGroup: 'rg-ai',
    name,
    kind: 'OpenAI',
    location: 'eastus',
    tags: {},
    provisioningState: 'Succeeded',
    keySource: 'Microsoft.KeyVault',
    binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: version },
    identity: { type: 'SystemAssigned', principalId: 'p', tenantId: 't' },
    ...over,
  };
}

export class FakeKeyStore implements KeyStore {
  readonly versions: KeyVersionInfo[] = [];
  reads = 0;
  add(...v: KeyVersionInfo[]): this {
    this.versions.push(...v);
    return this;
  }
  /** Without a version: the key's current version, the one added last (Key Vault's latest, whatever its created). */
  async getKeyVersion(vaultUri: string, keyName: string, version?: string): Promise<KeyVersionInfo | undefined> {
    this.reads += 1;
    const same = this.versions.filter((v) => v.vaultUri === vaultUri && v.keyName === keyName);
    if (!version) return same.at(-1);
    return same.find((v) => v.version === version);
  }
  async versionCreatedOn(vaultUri: string, keyName: string, version: string): Promise<Date | undefined> {
    return (await this.getKeyVersion(vaultUri, keyName, version))?.createdOn;
  }
  async rotateKey(vaultUri: string, keyName: string): Promise<KeyVersionInfo> {
    const latest = await this.getKeyVersion(vaultUri, keyName);
    const next = keyVersion(hex(this.versions.length + 100), { vaultUri, keyName, createdOn: new Date((latest?.createdOn?.getTime() ?? 0) + 1000) });
    this.versions.push(next);
    return next;
  }
  async listVersions(vaultUri: string, keyName: string): Promise<KeyVersionInfo[]> {
    return this.versions
      .filter((v) => v.vaultUri === vaultUri && v.keyName === keyName)
      .map(({ kty: _k, keySize: _s, ...attributes }) => ({ ...attributes, keyOps: [] }));
  }
}

/** A scope of an account made by boundAccount, bound to `version` of VAULT's key cmk. */
export function boundScope(account: string, name: string, version: string, over: Partial<EncryptionScopeState> = {}): EncryptionScopeState {
  return {
    id: `${accountId(account)}/encryptionScopes/${name}`, accountId: accountId(account), name, keySource: 'Microsoft.KeyVault',
    binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: version }, provisioningState: 'Succeeded', state: 'Enabled', ...over,
  };
}

export class FakeAccountStore implements AccountStore {
  readonly accounts = new Map<string, AccountState>();
  readonly scopes = new Map<string, EncryptionScopeState>();
  /** Every write, the account's (no scope) or a scope's. */
  readonly patches: Array<{ accountId: string; scope?: string; change: EncryptionChange }> = [];
  /** What the account reports after a PATCH; default: the change applied and Succeeded. */
  afterPatch: (account: AccountState, change: EncryptionChange) => AccountState = (account, change) => ({
    ...account,
    provisioningState: 'Succeeded',
    keySource: change.keySource,
    ...(change.binding ? { binding: change.binding } : {}),
  });
  put(...accounts: AccountState[]): this {
    for (const a of accounts) this.accounts.set(a.id.toLowerCase(), structuredClone(a));
    return this;
  }
  putScope(...scopes: EncryptionScopeState[]): this {
    for (const s of scopes) this.scopes.set(s.id.toLowerCase(), structuredClone(s));
    return this;
  }
  async listEncryptionScopes(id: string): Promise<EncryptionScopeState[]> {
    return [...this.scopes.values()].filter((s) => s.accountId.toLowerCase() === id.toLowerCase()).map((s) => structuredClone(s));
  }
  async getEncryptionScope(id: string, name: string): Promise<EncryptionScopeState | undefined> {
    const s = this.scopes.get(`${id}/encryptionScopes/${name}`.toLowerCase());
    return s && structuredClone(s);
  }
  async updateEncryptionScope(id: string, name: string, change: EncryptionChange): Promise<UpdateVerdict> {
    this.patches.push({ accountId: id, scope: name, change: structuredClone(change) });
    const verdict = this.verdict(change);
    const key = `${id}/encryptionScopes/${name}`.toLowerCase();
    const s = this.scopes.get(key);
    if (s && verdict.status === 'succeeded') {
      this.scopes.set(key, { ...s, provisioningState: 'Succeeded', keySource: change.keySource, ...(change.binding ? { binding: change.binding } : {}) });
    }
    return verdict;
  }
  async *listAccounts(subscriptionId: string): AsyncIterable<AccountState> {
    for (const a of this.accounts.values()) if (a.subscriptionId === subscriptionId) yield structuredClone(a);
  }
  async getAccount(id: string): Promise<AccountState | undefined> {
    const a = this.accounts.get(id.toLowerCase());
    return a && structuredClone(a);
  }
  /** The operation's verdict; default: succeeded (and the change applied by afterPatch). */
  verdict: (change: EncryptionChange) => UpdateVerdict = () => ({ status: 'succeeded' });
  async updateEncryption(id: string, change: EncryptionChange): Promise<UpdateVerdict> {
    this.patches.push({ accountId: id, change: structuredClone(change) });
    const verdict = this.verdict(change);
    const a = this.accounts.get(id.toLowerCase());
    if (a && verdict.status === 'succeeded') this.accounts.set(id.toLowerCase(), this.afterPatch(a, change));
    return verdict;
  }
}

/** The ledger and each account's journal in memory, with ETags as Table Storage keeps them. */
export class MemoryLedger implements Ledger, AccountJournal {
  readonly rows = new Map<string, RotationRecord>();
  /** Every write in order, to check that intent came before the change. */
  readonly writes: RotationRecord[] = [];
  readonly leases = new Map<string, { holder: string; expiresAt: string; etag: string }>();
  failOn?: (row: RotationRecord) => boolean;
  private etags = 0;
  constructor(
    private readonly clock: Clock = { now: () => new Date() },
    /** Where open() finds the binding's pin, as the journal partition holds it. */
    private readonly pins?: MemoryPins,
  ) {}

  private write(row: RotationRecord, merge = true): void {
    if (this.failOn?.(row)) throw new Error('ledger unavailable');
    const key = `${row.accountId.toLowerCase()}|${row.jobId}`;
    const defined = Object.fromEntries(Object.entries(row).filter(([, v]) => v !== undefined)) as RotationRecord;
    const next = merge ? { ...(this.rows.get(key) ?? {}), ...defined } : defined;
    this.writes.push(structuredClone(next));
    this.rows.set(key, structuredClone(next));
  }
  private lease(accountId: string, holder: string, ttlMs: number): Lease {
    const lease = { holder, expiresAt: new Date(this.clock.now().getTime() + ttlMs).toISOString(), etag: `e${++this.etags}` };
    this.leases.set(accountId.toLowerCase(), lease);
    return { accountId, ...lease };
  }
  async recordQueued(rows: RotationRecord[]): Promise<void> {
    for (const row of rows) if (!this.rows.has(`${row.accountId.toLowerCase()}|${row.jobId}`)) this.write(row, false);
  }
  async open(accountId: string, ref: Pick<RotationRecord, 'queuedAt' | 'jobId'>, encryptionScope?: string): Promise<JournalState> {
    const lease = this.leases.get(accountId.toLowerCase());
    const row = this.rows.get(`${accountId.toLowerCase()}|${ref.jobId}`);
    const pin = await this.pins?.get(accountId, encryptionScope);
    return { accountId, ...(lease ? { lease: { ...lease } } : {}), ...(row ? { row: structuredClone(row) } : {}), ...(pin ? { pin: { ...pin } } : {}) };
  }
  async begin(state: JournalState, holder: string, ttlMs: number, row: RotationRecord): Promise<Lease | undefined> {
    if (this.leases.get(state.accountId.toLowerCase())?.etag !== state.lease?.etag) return undefined;
    this.write(row);
    return this.lease(state.accountId, holder, ttlMs);
  }
  async renew(lease: Lease, ttlMs: number): Promise<Lease | undefined> {
    if (this.leases.get(lease.accountId.toLowerCase())?.etag !== lease.etag) return undefined;
    return this.lease(lease.accountId, lease.holder, ttlMs);
  }
  async finish(lease: Lease, row: RotationRecord): Promise<void> {
    this.write(row);
    if (this.leases.get(lease.accountId.toLowerCase())?.etag === lease.etag) this.lease(lease.accountId, '', -this.clock.now().getTime());
  }
  async record(row: RotationRecord): Promise<void> {
    this.write(row);
  }
  async history(accountId: string, limit: number): Promise<RotationRecord[]> {
    return [...this.rows.values()].filter((r) => r.accountId.toLowerCase() === accountId.toLowerCase()).reverse().slice(0, limit);
  }
  async historyPage(accountId: string, limit: number, token?: string): Promise<{ rows: RotationRecord[]; continuationToken?: string }> {
    const all = await this.history(accountId, Number.MAX_SAFE_INTEGER);
    const start = Number(token ?? 0);
    const rows = all.slice(start, start + limit);
    return start + limit < all.length ? { rows, continuationToken: String(start + limit) } : { rows };
  }
  async job(jobId: string): Promise<RotationRecord[]> {
    return [...this.rows.values()].filter((r) => r.jobId === jobId);
  }
}

export class MemoryPins implements PinStore {
  readonly pins = new Map<string, Pin>();
  async get(accountId: string, scope?: string): Promise<Pin | undefined> {
    return this.pins.get(bindingKey(accountId, scope));
  }
  async set(pin: Pin): Promise<void> {
    this.pins.set(bindingKey(pin.accountId, pin.encryptionScope), { ...pin });
  }
  async release(accountId: string, jobId?: string, scope?: string): Promise<Pin | undefined> {
    const pin = this.pins.get(bindingKey(accountId, scope));
    if (!pin || (jobId && pin.jobId !== jobId)) return undefined;
    this.pins.delete(bindingKey(accountId, scope));
    return pin;
  }
  async list(): Promise<Pin[]> {
    return [...this.pins.values()];
  }
}

export class MemoryQueue implements JobQueue {
  readonly jobs: Array<{ job: RotationJob; delaySeconds?: number }> = [];
  async enqueue(job: RotationJob, options: { delaySeconds?: number } = {}): Promise<void> {
    this.jobs.push({ job: structuredClone(job), ...options });
  }
}

/** Discovery over the fake account store: every CMK-bound account (or scope), with its scopes, as discovery finds them. */
export class FakeDiscovery implements AccountDiscovery {
  constructor(private readonly accounts: FakeAccountStore) {}
  private async all(): Promise<AccountState[]> {
    return Promise.all([...this.accounts.accounts.values()].map(async (a) => ({ ...structuredClone(a), encryptionScopes: await this.accounts.listEncryptionScopes(a.id) })));
  }
  async *boundTo(key: { vaultUri: string; keyName: string }): AsyncIterable<AccountState[]> {
    yield (await this.all()).filter((a) => bindingsTo(a, key).length > 0);
  }
  async *cmkAccounts(): AsyncIterable<AccountState[]> {
    yield (await this.all()).filter((a) => cmkBindings(a).length > 0);
  }
}

/** An access-policy vault at VAULT (unless `over` says otherwise) granting get, wrapKey, unwrapKey to these principals of tenant 't'. */
export function accessPolicyVault(over: Partial<VaultInfo> = {}, principals: string[] = ['p']): VaultInfo {
  return {
    id: `/subscriptions/${SUB}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-one`, name: 'kv-one', location: 'eastus', tenantId: 't',
    vaultUri: VAULT, enableSoftDelete: true, enablePurgeProtection: true, enableRbacAuthorization: false,
    accessPolicies: principals.map((objectId) => ({ tenantId: 't', objectId, keys: ['get', 'wrapKey', 'unwrapKey'] })),
    ...over,
  };
}

/** Vaults by host; VAULT grants principal 'p' (boundAccount's identity) by default. Counts fresh reads. */
export class FakeVaultDirectory implements VaultDirectory {
  readonly vaults = new Map<string, VaultInfo>();
  reads = 0;
  constructor(...vaults: VaultInfo[]) {
    for (const v of vaults.length ? vaults : [accessPolicyVault()]) this.put(v);
  }
  put(vault: VaultInfo): this {
    this.vaults.set(vaultHost(vault.vaultUri), structuredClone(vault));
    return this;
  }
  async findVault(vaultUri: string): Promise<VaultInfo | undefined> {
    const v = this.vaults.get(vaultHost(vaultUri));
    return v && structuredClone(v);
  }
  async readVault(vaultUri: string, _options?: { fresh?: boolean }): Promise<VaultInfo | undefined> {
    this.reads += 1;
    return this.findVault(vaultUri);
  }
}

/** Role grants by principal id; a principal not set has none. Records what was asked. */
export class FakeRoleGrants implements RoleGrantReader {
  readonly views = new Map<string, GrantsView>();
  readonly asked: Array<{ target: GrantTarget; principalId: string }> = [];
  async read(target: GrantTarget, principalId: string): Promise<GrantsView> {
    this.asked.push({ target, principalId });
    return structuredClone(this.views.get(principalId) ?? { status: 'read', assignments: [], definitions: [] });
  }
}

export function fixedClock(iso = '2026-06-01T00:00:00Z'): Clock & { set(iso: string): void } {
  let now = new Date(iso);
  return { now: () => new Date(now), set: (next: string) => (now = new Date(next)) };
}

/** A Logger that keeps each event with the level it would be logged at. */
export function silentLogger(): Logger & { lines: Array<{ level: Level; event: EventName; fields: Record<string, unknown> }> } {
  const lines: Array<{ level: Level; event: EventName; fields: Record<string, unknown> }> = [];
  return {
    lines,
    event: (event, fields) => void lines.push({ level: levelOf(event, fields), event, fields }),
  };
}

export function rebindDeps(over: Partial<RebindDeps> = {}): RebindDeps & {
  keys: FakeKeyStore; accounts: FakeAccountStore; journal: MemoryLedger; ledger: MemoryLedger; pins: MemoryPins; queue: MemoryQueue;
  vaults: FakeVaultDirectory; grants: FakeRoleGrants;
} {
  const clock = over.clock ?? fixedClock();
  const pins = over.pins instanceof MemoryPins ? over.pins : new MemoryPins();
  const ledger = new MemoryLedger(clock, pins);
  const grants = new FakeRoleGrants();
  return {
    vaults: new FakeVaultDirectory(),
    grants,
    roleGrants: () => grants,
    keys: new FakeKeyStore(),
    accounts: new FakeAccountStore(),
    journal: ledger,
    ledger,
    pins,
    queue: new MemoryQueue(),
    clock,
    policy: { allowedKeySizes: [2048], expiryMarginMs: 24 * 3_600_000 },
    leaseTtlMs: 60_000,
    newId: (() => {
      let n = 0;
      return () => `id-${++n}`;
    })(),
    retry: { baseMs: 1_000, maxMs: 60_000, maxAttempts: 5 },
    settle: { reads: 2, delayMs: 1 },
    sleep: async () => undefined,
    ...over,
  } as never;
}
