import { randomUUID } from 'node:crypto';
import type { Agent } from 'node:https';
import { ArmRoleGrants } from './adapters/authorization';
import { CognitiveServicesAccountStore } from './adapters/cognitiveServices';
import { ManagedHsmRoleGrants } from './adapters/managedHsmRbac';
import { KeyVaultKeyStore } from './adapters/keyVault';
import { ROTATION_QUEUE, StorageJobQueue } from './adapters/queue';
import { ArmPacer, PUBLIC_ARM_LIMITS, type ArmLimits } from './adapters/pacing';
import { defaultCredential, type TokenCredential } from './adapters/credential';
import { ArmAccounts } from './adapters/armDiscovery';
import { ResourceGraphAccounts } from './adapters/resourceGraph';
import { ScopedDiscovery } from './adapters/scopeDiscovery';
import { TableScopeIndex } from './adapters/tables/scopeIndex';
import { TableLedger } from './adapters/tables/ledger';
import { TablePinStore } from './adapters/tables/pins';
import { TableRotationClaims } from './adapters/tables/rotationClaims';
import { TableStorage } from './adapters/tables/storage';
import { TableFindingStore } from './adapters/tables/findings';
import { TableSweepStore } from './adapters/tables/sweeps';
import { KeyVaultManagementDirectory } from './adapters/keyVaultManagement';
import { loadConfig, type Config, type ReaderConfig } from './config';
import { telemetry } from './telemetry/runtime';
import type { KeyPolicy } from './domain/keys';
import type { AccountDiscovery, AccountSource, Clock, RoleGrantReader, VaultDirectory } from './ports';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RetryPolicy } from './usecases/retry';
import type { FanOutDeps } from './usecases/fanOut';
import type { RebindDeps } from './usecases/rebind';
import type { SweepDeps } from './usecases/sweep';

/** What handlers and use cases see of the process: ports and settings, never an adapter. */
export interface Services extends FanOutDeps, RebindDeps, SweepDeps {
  config: Config;
}

/** The services as composed, with the adapters the local stack and its tests read directly (the pacer's waits, the whole ledger). */
export type Composition = Services & Readers & { ledger: TableLedger };

/** What differs off Azure: the local stack's credential, its self-signed CA, faster polling. */
export interface Environment {
  credential?: TokenCredential;
  /** PEM of a CA to trust for ARM and Key Vault (the local stand-ins' certificate). */
  trustedCa?: string;
  /** The HTTPS agent for Key Vault and Managed HSM calls (the local stack's: its CA, and *.localhost names on loopback). */
  keyVaultAgent?: Agent;
  /** The local Key Vault stand-in is not on a *.vault.azure.net host. */
  relaxVaultChallenge?: boolean;
  /** Prefixed to the SDKs' User-Agent (tells one local worker's calls from another's). */
  userAgentPrefix?: string;
  /** Wait between operation polls (ARM sends no Retry-After for these; 5 s in Azure). */
  lroPollMs?: number;
  /** The SDKs' own retry delay. */
  retryDelayMs?: number;
  /** How a job retries itself (Azure: 5 s doubling to 5 min, 12 attempts). */
  jobRetry?: RetryPolicy;
  /** The account lease's lifetime, renewed by a live job every third of it (Azure: 2 min). */
  leaseTtlMs?: number;
  /** Reads of a still-busy account after its operation ended, and the first wait (Azure: 4 reads from 2 s). */
  settle?: { reads: number; delayMs: number };
  /** ARM's token buckets the calls are paced to (Azure: the published limits). */
  armLimits?: ArmLimits;
  clock?: Clock;
}

/** What reads (and, for the service, changes) the estate: ARM accounts, Key Vault keys, discovery, vault listings. */
export interface Readers {
  credential: TokenCredential;
  clock: Clock;
  pacer: ArmPacer;
  accounts: CognitiveServicesAccountStore;
  keys: KeyVaultKeyStore;
  /** Where accounts come from (Resource Graph or the ARM list), before their scopes are known. */
  accountSource: AccountSource;
  /** Accounts and, with ENCRYPTION_SCOPES=on, their scopes listed through ARM (the service reads scopes from its index instead). */
  discovery: AccountDiscovery;
  /** A fresh directory per sweep: vault listings are read once per run. */
  vaultDirectory: () => VaultDirectory;
  /** Kept for the process: it remembers where each vault lives; the preflight's read of the vault is at most 10 s old. */
  vaults: VaultDirectory;
  /** A role-grant reader for each job or sweep (RBAC vaults and Managed HSMs). */
  roleGrants: () => RoleGrantReader;
  isAllowedVault: (vaultUri: string) => boolean;
  policy: KeyPolicy;
}

/** The Azure clients every composition shares, the CLI's read-only audit included: no storage, no queue. */
export function buildReaders(config: ReaderConfig, env: Environment = {}): Readers {
  const credential = env.credential ?? defaultCredential();
  const clock = env.clock ?? { now: () => new Date() };
  const pipeline = {
    ...(env.trustedCa ? { tlsOptions: { ca: env.trustedCa } } : {}),
    ...(env.userAgentPrefix ? { userAgentOptions: { userAgentPrefix: env.userAgentPrefix } } : {}),
    ...(env.retryDelayMs !== undefined ? { retryOptions: { retryDelayInMs: env.retryDelayMs, maxRetryDelayInMs: env.retryDelayMs * 20 } } : {}),
  };
  // One pacer for every ARM client of the process: all jobs share ARM's per-subscription buckets.
  const pacer = new ArmPacer(env.armLimits ?? PUBLIC_ARM_LIMITS);
  const armPipeline = { ...pipeline, additionalPolicies: [{ policy: pacer.policy(), position: 'perRetry' as const }] };
  const accounts = new CognitiveServicesAccountStore({
    credential,
    endpoint: config.armEndpoint,
    pollMs: env.lroPollMs ?? 5_000,
    // An attempt follows an operation for most of the function timeout (10 min), then hands over.
    operationTimeoutMs: 8 * 60_000,
    clientOptions: armPipeline,
  });
  const keyVaultPipeline = {
    ...pipeline, ...(env.keyVaultAgent ? { agent: env.keyVaultAgent } : {}), disableChallengeResourceVerification: env.relaxVaultChallenge ?? false,
  };
  const keys = new KeyVaultKeyStore({ credential, allowedHostSuffixes: config.keyVaultHostSuffixes, clientOptions: keyVaultPipeline });
  const directory = { credential, endpoint: config.armEndpoint, subscriptionIds: config.subscriptionIds, clientOptions: armPipeline };
  // Role assignments are read for every job and sweep (a revoked role is not remembered); role definitions, which
  // rarely change, are reused for a minute, and the preflight's read of a vault for 10 s: one key fanned out to
  // hundreds of accounts reads its vault once, not once per account, within ARM's read budget.
  const definitionsFreshForMs = 60_000;
  const armGrants = new ArmRoleGrants({ credential, endpoint: config.armEndpoint, clientOptions: armPipeline, definitionsFreshForMs });
  const hsmGrants = new ManagedHsmRoleGrants({ credential, isAllowedHost: (uri) => keys.isAllowedVault(uri), clientOptions: keyVaultPipeline, definitionsFreshForMs });
  const accountSource = config.discovery === 'arm'
    ? new ArmAccounts(accounts, config.subscriptionIds)
    : new ResourceGraphAccounts({ credential, endpoint: config.armEndpoint, subscriptionIds: config.subscriptionIds, managementGroupIds: config.managementGroupIds, clientOptions: pipeline });
  // Each sweep lists the vaults again, with the same clients.
  const sweepVaults = new KeyVaultManagementDirectory(directory);
  return {
    credential,
    clock,
    pacer,
    accounts,
    keys,
    isAllowedVault: (vaultUri) => keys.isAllowedVault(vaultUri),
    vaultDirectory: () => sweepVaults.fresh(),
    vaults: new KeyVaultManagementDirectory({ ...directory, freshForMs: 10_000 }),
    roleGrants: () => ({
      read: (target, principalId) => (target.plane === 'managed-hsm' ? hsmGrants.read(target.hsmUri, principalId) : armGrants.read(target.vaultId, principalId)),
    }),
    accountSource,
    discovery: new ScopedDiscovery(accountSource, config.encryptionScopes === 'on' ? { lister: accounts } : undefined),
    policy: { allowedKeySizes: config.allowedKeySizes, expiryMarginMs: config.expiryMarginHours * 3_600_000 },
  };
}

export function buildServices(config: Config, env: Environment = {}): Composition {
  const readers = buildReaders(config, env);
  const storageTarget = 'connectionString' in config.storage ? config.storage : { ...config.storage, credential: readers.credential };
  const storage = new TableStorage(storageTarget);
  const ledger = new TableLedger(storage, readers.clock);
  // The service finds scopes through the index its sweeps keep, not by listing every account's scopes per event.
  const scopeIndex = config.encryptionScopes === 'on' ? new TableScopeIndex(storage) : undefined;
  return {
    ...readers,
    ...(scopeIndex ? { scopeIndex, discovery: new ScopedDiscovery(readers.accountSource, { lister: readers.accounts, index: scopeIndex }) } : {}),
    config,
    findings: new TableFindingStore(storage),
    sweeps: new TableSweepStore(storage, readers.clock),
    ledger,
    journal: ledger,
    pins: new TablePinStore(storage),
    rotationClaims: new TableRotationClaims(storage, readers.clock),
    queue: new StorageJobQueue(storageTarget, ROTATION_QUEUE, () => telemetry().traceparent()),
    newId: randomUUID,
    optOutTag: config.optOutTag,
    nearExpiryDays: config.nearExpiryDays,
    sweepMode: config.sweepMode,
    nearExpiryAction: config.nearExpiryAction,
    leaseTtlMs: env.leaseTtlMs ?? 2 * 60_000,
    retry: env.jobRetry ?? { baseMs: 5_000, maxMs: 5 * 60_000, maxAttempts: 12 },
    settle: env.settle ?? { reads: 4, delayMs: 2_000 },
    sleep: (ms) => sleep(ms),
  };
}

let current: Services | undefined;

/** The process's services, built on first use from the app settings (a bad setting throws naming it). */
export function services(): Services {
  current ??= buildServices(loadConfig());
  return current;
}

/** Lets a host that is not the Functions runtime (the local dev host) supply its own services. */
export function useServices(next: Services | undefined): void {
  current = next;
}
