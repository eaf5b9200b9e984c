import { buildServices, type Services } from '../shared/app';
import { loadConfig, type Config } from '../shared/config';
import { startArmStandIn, type ArmStandIn, type ArmStandInOptions } from './armStandIn';
import { startAzurite, type RunningAzurite } from './azurite';
import { localCredential } from './credential';
import { startDevHost, type DevHost } from './devHost';
import type { LogEntry } from './invocations';
import { startKeyVaultStandIn, type KeyVaultStandIn, type KeyVaultStandInOptions } from './keyVaultStandIn';
import { localCa } from './tls';

export const LOCAL_SUBSCRIPTION = '5a6e7c1d-0000-4000-8000-00000000c0de';

export interface LocalStackOptions {
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
  services: Services;
  azurite: RunningAzurite;
  arm: ArmStandIn;
  host: DevHost;
  vaults: KeyVaultStandIn[];
  /** A stand-in vault whose events go to the dev host's Event Grid webhook, as a system topic would. */
  addVault(options: Omit<KeyVaultStandInOptions, 'eventWebhook'>): Promise<KeyVaultStandIn>;
  /** Waits until every event is delivered and every queued job has run. */
  settle(): Promise<void>;
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
    const arm = await startArmStandIn({ throttle: { timeScale: 100 }, ...o.arm });
    stops.push(arm.close);
    const appSettings = {
      AzureWebJobsStorage: azurite.connectionString,
      SUBSCRIPTION_IDS: LOCAL_SUBSCRIPTION,
      ARM_ENDPOINT: arm.url,
      // The stand-in vaults listen on loopback ports chosen at start-up.
      KEY_VAULT_HOST_SUFFIXES: '127.0.0.1:*',
      SWEEP_SCHEDULE: '0 0 */6 * * *',
      // The dev host stands in for App Service authentication: callers may name themselves.
      WEBSITE_AUTH_ENABLED: 'true',
      ...o.settings,
    };
    const config = loadConfig(appSettings);
    const services = buildServices(config, {
      credential: localCredential,
      trustedCa: await localCa(),
      relaxVaultChallenge: true,
      lroPollMs: 20,
      retryDelayMs: 10,
      jobRetry: { baseMs: 50, maxMs: 1_000, maxAttempts: 12 },
      leaseTtlMs: 3_000,
      settle: { reads: 4, delayMs: 25 },
    });
    const host = await startDevHost({
      services,
      connectionString: azurite.connectionString,
      port: o.port ?? 0,
      retryAfterSeconds: 1,
      pollMs: 50,
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
          armId: `/subscriptions/${LOCAL_SUBSCRIPTION}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/${options.name}`,
          ...options,
          eventWebhook: host.eventGridWebhook('keyVaultEvents'),
        });
        stops.push(vault.close);
        vaults.push(vault);
        return vault;
      },
      async settle() {
        for (const v of vaults) await v.deliveriesSettled();
        await host.whenIdle();
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
