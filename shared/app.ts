import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { randomUUID } from 'node:crypto';
import { CognitiveServicesAccountStore } from './adapters/cognitiveServices';
import { KeyVaultKeyStore } from './adapters/keyVault';
import { queueClient, ROTATION_QUEUE, StorageJobQueue } from './adapters/queue';
import { TableBindingIndex } from './adapters/tables/bindings';
import { TableJobKeyStore, TableLeaseStore } from './adapters/tables/coordination';
import { TableLedger } from './adapters/tables/ledger';
import { TableStorage } from './adapters/tables/storage';
import { TableFindingStore, TableSweepStore } from './adapters/tables/findings';
import { KeyVaultManagementDirectory } from './adapters/keyVaultManagement';
import { loadConfig, type Config } from './config';
import type { KeyPolicy } from './domain/keys';
import type { Clock } from './ports';
import { QUEUE_SETTINGS } from './queueSettings';
import type { FanOutDeps } from './usecases/fanOut';
import type { RebindDeps } from './usecases/rebind';
import type { SweepDeps } from './usecases/sweep';

export interface Services extends FanOutDeps, RebindDeps, SweepDeps {
  config: Config;
  keys: KeyVaultKeyStore;
  ledger: TableLedger;
  storage: TableStorage;
}

/** What differs off Azure: the local stack's credential, its self-signed CA, faster polling. */
export interface Environment {
  credential?: TokenCredential;
  /** PEM of a CA to trust for ARM and Key Vault (the local stand-ins' certificate). */
  trustedCa?: string;
  /** The local Key Vault stand-in is not on a *.vault.azure.net host. */
  relaxVaultChallenge?: boolean;
  lroPollMs?: number;
  retryDelayMs?: number;
  leaseRetrySeconds?: number;
  clock?: Clock;
}

export function buildServices(config: Config, env: Environment = {}): Services {
  const credential = env.credential ?? new DefaultAzureCredential();
  const clock = env.clock ?? { now: () => new Date() };
  const pipeline = {
    ...(env.trustedCa ? { tlsOptions: { ca: env.trustedCa } } : {}),
    ...(env.retryDelayMs !== undefined ? { retryOptions: { retryDelayInMs: env.retryDelayMs, maxRetryDelayInMs: env.retryDelayMs * 20 } } : {}),
  };
  const storageTarget = 'connectionString' in config.storage ? config.storage : { ...config.storage, credential };
  const storage = new TableStorage(storageTarget);
  const keys = new KeyVaultKeyStore({
    credential,
    allowedHostSuffixes: config.keyVaultHostSuffixes,
    clientOptions: { ...pipeline, disableChallengeResourceVerification: env.relaxVaultChallenge ?? false },
  });
  const policy: KeyPolicy = { allowedKeySizes: config.allowedKeySizes, expiryMarginMs: config.expiryMarginHours * 3_600_000 };
  return {
    config,
    storage,
    keys,
    isAllowedVault: (vaultUri) => keys.isAllowedVault(vaultUri),
    vaultDirectory: () =>
      new KeyVaultManagementDirectory({ credential, endpoint: config.armEndpoint, subscriptionIds: config.subscriptionIds, clientOptions: pipeline }),
    findings: new TableFindingStore(storage),
    sweeps: new TableSweepStore(storage, clock),
    accounts: new CognitiveServicesAccountStore({
      credential,
      endpoint: config.armEndpoint,
      lroPollMs: env.lroPollMs ?? 5_000,
      clientOptions: pipeline,
    }),
    ledger: new TableLedger(storage),
    leases: new TableLeaseStore(storage, clock),
    jobKeys: new TableJobKeyStore(storage, clock),
    bindings: new TableBindingIndex(storage),
    queue: new StorageJobQueue(queueClient(storageTarget, ROTATION_QUEUE)),
    clock,
    newId: randomUUID,
    policy,
    subscriptionIds: config.subscriptionIds,
    optOutTag: config.optOutTag,
    nearExpiryDays: config.nearExpiryDays,
    sweepMode: config.sweepMode,
    nearExpiryAction: config.nearExpiryAction,
    leaseTtlMs: 15 * 60_000,
    leaseRetrySeconds: env.leaseRetrySeconds ?? 30,
    maxAttempts: QUEUE_SETTINGS.maxDequeueCount,
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
