import { buildServices, type Composition, type Environment } from '../shared/app';
import { PUBLIC_ARM_LIMITS, type ArmLimits } from '../shared/adapters/pacing';
import { loadConfig, type Config } from '../shared/config';
import { startArmStandIn, type ArmStandIn, type ArmStandInOptions, type BucketLimits } from './armStandIn';
import { startAzurite, type RunningAzurite } from './azurite';
import { localCredential } from './credential';
import { startDevHost, type DevHost } from './devHost';
import type { LogEntry } from './invocations';
import { startKeyVaultStandIn, type KeyVaultStandIn, type KeyVaultStandInOptions } from './keyVaultStandIn';
import { localCa, loopbackAgent } from './tls';
import { spawnWorkerProcess, type WorkerProcess } from './workerProcess';

export const LOCAL_SUBSCRIPTION = '5a6e7c1d-0000-4000-8000-00000000c0de';

/** What differs on the local stack: its credential and CA, and fast polls, retries and leases. */
export function localEnvironment(trustedCa: string, armLimits: ArmLimits, userAgentPrefix?: string): Environment {
  return {
    armLimits,
    credential: localCredential,
    trustedCa,
    keyVaultAgent: loopbackAgent(trustedCa),
    relaxVaultChallenge: true,
    lroPollMs: 20,
    retryDelayMs: 10,
    jobRetry: { baseMs: 50, maxMs: 1_000, maxAttempts: 12 },
    leaseTtlMs: 3_000,
    settle: { reads: 4, delayMs: 25 },
    ...(userAgentPrefix ? { userAgentPrefix } : {}),
  };
}

/** The buckets a throttled stand-in enforces, as the pacer needs them (no throttling: effectively unpaced). */
export function pacedLimits(throttle: ArmStandInOptions['throttle']): ArmLimits {
  if (throttle === false || throttle === undefined) return { reads: { burst: 1e9, perSecond: 1e9 }, writes: { burst: 1e9, perSecond: 1e9 } };
  const scale = throttle.timeScale ?? 1;
  const bucket = (given: BucketLimits | undefined, fallback: BucketLimits): BucketLimits => ({ burst: (given ?? fallback).burst, perSecond: (given ?? fallback).perSecond * scale });
  return { reads: bucket(throttle.reads, PUBLIC_ARM_LIMITS.reads), writes: bucket(throttle.writes, PUBLIC_ARM_LIMITS.writes) };
}

/** The dev host's queue timings on the local stack: a failed message back after 1 s, a dead worker's after 3 s. */
export const LOCAL_HOST_TIMINGS = { retryAfterSeconds: 1, inFlightSeconds: 3, pollMs: 50 } as const;

interface LocalStackOptions {
  /** Dev host port; 0 (default) picks a free one. */
  port?: number;
  /** App settings on top of the local ones (e.g. SWEEP_MODE). */
  settings?: Record<string, string>;
  arm?: ArmStandInOptions;
  /** Key for the HTTP API; generated when absent. */
  functionKey?: string;
  onLog?: (entry: LogEntry) => void;
}

export interface LocalStack {
  config: Config;
  services: Composition;
  azurite: RunningAzurite;
  arm: ArmStandIn;
  host: DevHost;
  vaults: KeyVaultStandIn[];
  /** A stand-in vault whose events go to the dev host's Event Grid webhook, as a system topic would. */
  addVault(options: Omit<KeyVaultStandInOptions, 'eventWebhook'>): Promise<KeyVaultStandIn>;
  /** Starts another worker instance in its own process (for tests that stop one mid-job). */
  spawnWorker(tag: string): Promise<WorkerProcess>;
  /** Waits until every event is delivered and every queued job has run. */
  settle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Azurite, the ARM and Key Vault stand-ins over HTTPS, and the dev host, wired like Azure would be. */
export async function startLocalStack(o: LocalStackOptions = {}): Promise<LocalStack> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const azurite = await startAzurite();
    stops.push(azurite.stop);
    const throttle = o.arm?.throttle ?? { timeScale: 100 };
    const arm = await startArmStandIn({ ...o.arm, throttle });
    // The service paces its ARM calls to the buckets the stand-in enforces (ARM's, on a faster clock).
    const armLimits = pacedLimits(throttle);
    stops.push(arm.close);
    const appSettings = {
      AzureWebJobsStorage: azurite.connectionString,
      SUBSCRIPTION_IDS: LOCAL_SUBSCRIPTION,
      ARM_ENDPOINT: arm.url,
      // The stand-in vaults listen on loopback ports chosen at start-up; a Managed HSM stand-in under its own host name.
      KEY_VAULT_HOST_SUFFIXES: '127.0.0.1:*,.managedhsm.localhost:*',
      SWEEP_SCHEDULE: '0 0 */6 * * *',
      // The dev host stands in for App Service authentication: callers may name themselves.
      WEBSITE_AUTH_ENABLED: 'true',
      ...o.settings,
    };
    const config = loadConfig(appSettings);
    const ca = await localCa();
    const services = buildServices(config, localEnvironment(ca, armLimits));
    const host = await startDevHost({
      services,
      connectionString: azurite.connectionString,
      port: o.port ?? 0,
      ...LOCAL_HOST_TIMINGS,
      appSettings,
      ...(o.functionKey ? { functionKey: o.functionKey } : {}),
      ...(o.onLog ? { onLog: o.onLog } : {}),
    });
    stops.push(host.stop);

    const vaults: KeyVaultStandIn[] = [];
    return {
      config, services, azurite, arm, host, vaults,
      async addVault(options) {
        const vault = await startKeyVaultStandIn({
          armId: `/subscriptions/${LOCAL_SUBSCRIPTION}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/${options.managedHsm ? 'managedHSMs' : 'vaults'}/${options.name}`,
          ...options,
          eventWebhook: host.eventGridWebhook('keyVaultEvents'),
        });
        stops.push(vault.close);
        vaults.push(vault);
        return vault;
      },
      async spawnWorker(tag) {
        const worker = await spawnWorkerProcess({ tag, settings: appSettings, ca, armLimits });
        stops.push(async () => {
          worker.kill();
          await worker.exited;
        });
        return worker;
      },
      async settle(timeoutMs) {
        for (const v of vaults) await v.deliveriesSettled();
        await host.whenIdle(timeoutMs);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
