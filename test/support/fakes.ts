// Hand-written in-memory fakes of the ports, for domain and use-case tests.
import type { RotationJob } from '../../shared/domain/jobs';
import type { AccountState, KeyVersionInfo, RotationRecord } from '../../shared/domain/model';
import type {
  AccountStore, BindingIndex, BoundAccount, Clock, EncryptionChange, JobKeyStore, JobQueue, KeyStore, Lease, LeaseStore, Ledger, Logger,
} from '../../shared/ports';
import type { RebindDeps } from '../../shared/usecases/rebind';

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
  async getKeyVersion(vaultUri: string, keyName: string, version?: string): Promise<KeyVersionInfo | undefined> {
    this.reads += 1;
    const same = this.versions.filter((v) => v.vaultUri === vaultUri && v.keyName === keyName);
    if (!version) return [...same].sort((a, b) => (b.createdOn?.getTime() ?? 0) - (a.createdOn?.getTime() ?? 0))[0];
    return same.find((v) => v.version === version);
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

export class FakeAccountStore implements AccountStore {
  readonly accounts = new Map<string, AccountState>();
  readonly patches: Array<{ accountId: string; change: EncryptionChange }> = [];
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
  async *listAccounts(subscriptionId: string): AsyncIterable<AccountState> {
    for (const a of this.accounts.values()) if (a.subscriptionId === subscriptionId) yield structuredClone(a);
  }
  async getAccount(id: string): Promise<AccountState | undefined> {
    const a = this.accounts.get(id.toLowerCase());
    return a && structuredClone(a);
  }
  async updateEncryption(id: string, change: EncryptionChange): Promise<void> {
    this.patches.push({ accountId: id, change: structuredClone(change) });
    const a = this.accounts.get(id.toLowerCase());
    if (a) this.accounts.set(id.toLowerCase(), this.afterPatch(a, change));
  }
}

export class MemoryLedger implements Ledger {
  readonly rows = new Map<string, RotationRecord>();
  /** Every write in order, to check that intent came before the change. */
  readonly writes: RotationRecord[] = [];
  failOn?: (row: RotationRecord) => boolean;
  async record(row: RotationRecord): Promise<void> {
    if (this.failOn?.(row)) throw new Error('ledger unavailable');
    this.writes.push(structuredClone(row));
    this.rows.set(`${row.accountId.toLowerCase()}|${row.jobId}`, structuredClone(row));
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
  async get(accountId: string, _queuedAt: string, jobId: string): Promise<RotationRecord | undefined> {
    const row = this.rows.get(`${accountId.toLowerCase()}|${jobId}`);
    return row && structuredClone(row);
  }
  async job(jobId: string): Promise<RotationRecord[]> {
    return [...this.rows.values()].filter((r) => r.jobId === jobId);
  }
}

export class MemoryLeases implements LeaseStore {
  readonly held = new Map<string, string>();
  async acquire(accountId: string, holder: string): Promise<Lease | undefined> {
    const current = this.held.get(accountId.toLowerCase());
    if (current && current !== holder) return undefined;
    this.held.set(accountId.toLowerCase(), holder);
    return { accountId, holder, etag: holder };
  }
  async release(lease: Lease): Promise<void> {
    if (this.held.get(lease.accountId.toLowerCase()) === lease.holder) this.held.delete(lease.accountId.toLowerCase());
  }
}

export class MemoryJobKeys implements JobKeyStore {
  readonly claims = new Map<string, { jobId: string; state: 'claimed' | 'done' }>();
  async claim(accountId: string, dedupeKey: string, jobId: string): Promise<'claimed' | 'duplicate'> {
    const k = `${accountId.toLowerCase()}|${dedupeKey}`;
    const current = this.claims.get(k);
    if (current && current.jobId !== jobId) return 'duplicate';
    this.claims.set(k, { jobId, state: 'claimed' });
    return 'claimed';
  }
  async settle(accountId: string, dedupeKey: string, jobId: string, outcome: 'done' | 'release'): Promise<void> {
    const k = `${accountId.toLowerCase()}|${dedupeKey}`;
    if (this.claims.get(k)?.jobId !== jobId) return;
    if (outcome === 'release') this.claims.delete(k);
    else {
      const c = this.claims.get(k);
      if (c) c.state = 'done';
    }
  }
}

export class MemoryQueue implements JobQueue {
  readonly jobs: Array<{ job: RotationJob; delaySeconds?: number }> = [];
  async enqueue(job: RotationJob, options: { delaySeconds?: number } = {}): Promise<void> {
    this.jobs.push({ job: structuredClone(job), ...options });
  }
}

export class MemoryBindings implements BindingIndex {
  readonly index = new Map<string, BoundAccount[]>();
  async replace(vaultUri: string, keyName: string, accounts: BoundAccount[]): Promise<void> {
    this.index.set(`${vaultUri}|${keyName}`, accounts);
  }
  async list(vaultUri: string, keyName: string): Promise<BoundAccount[]> {
    return this.index.get(`${vaultUri}|${keyName}`) ?? [];
  }
}

export function fixedClock(iso = '2026-06-01T00:00:00Z'): Clock & { set(iso: string): void } {
  let now = new Date(iso);
  return { now: () => new Date(now), set: (next: string) => (now = new Date(next)) };
}

export function silentLogger(): Logger & { lines: Array<{ level: string; message: string; fields?: object }> } {
  const lines: Array<{ level: string; message: string; fields?: object }> = [];
  return {
    lines,
    info: (message, fields) => lines.push({ level: 'info', message, ...(fields ? { fields } : {}) }),
    warn: (message, fields) => lines.push({ level: 'warn', message, ...(fields ? { fields } : {}) }),
    error: (message, fields) => lines.push({ level: 'error', message, ...(fields ? { fields } : {}) }),
  };
}

export function rebindDeps(over: Partial<RebindDeps> = {}): RebindDeps & {
  keys: FakeKeyStore; accounts: FakeAccountStore; ledger: MemoryLedger; leases: MemoryLeases; jobKeys: MemoryJobKeys; queue: MemoryQueue;
} {
  return {
    keys: new FakeKeyStore(),
    accounts: new FakeAccountStore(),
    ledger: new MemoryLedger(),
    leases: new MemoryLeases(),
    jobKeys: new MemoryJobKeys(),
    queue: new MemoryQueue(),
    clock: fixedClock(),
    policy: { allowedKeySizes: [2048], expiryMarginMs: 24 * 3_600_000 },
    leaseTtlMs: 60_000,
    newId: (() => {
      let n = 0;
      return () => `id-${++n}`;
    })(),
    leaseRetrySeconds: 30,
    maxAttempts: 5,
    ...over,
  } as never;
}
