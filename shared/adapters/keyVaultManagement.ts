import type { KeyVaultManagementClient, KeyVaultManagementClientOptionalParams, Vault } from '@azure/arm-keyvault';
import type { TokenCredential } from '@azure/identity';
import type { VaultInfo } from '../domain/findings';
import { vaultHost } from '../domain/keys';
import { toDependencyError } from '../errors';
import type { VaultDirectory } from '../ports';
import { sdk } from './sdk';

export interface KeyVaultManagementOptions {
  credential: TokenCredential;
  /** ARM_ENDPOINT: the public cloud, a sovereign cloud, or a local stand-in. */
  endpoint: string;
  subscriptionIds: readonly string[];
  clientOptions?: KeyVaultManagementClientOptionalParams;
}

/**
 * VaultDirectory over @azure/arm-keyvault: lists each subscription's vaults once and finds a vault
 * by its vaultUri host. The listing lives as long as this instance: build one per sweep, or clear().
 */
export class KeyVaultManagementDirectory implements VaultDirectory {
  private readonly clients = new Map<string, Promise<KeyVaultManagementClient>>();
  private readonly listings = new Map<string, Promise<Map<string, VaultInfo>>>();

  constructor(private readonly options: KeyVaultManagementOptions) {}

  async findVault(vaultUri: string): Promise<VaultInfo | undefined> {
    const host = vaultHost(vaultUri);
    const settled = await Promise.allSettled(this.options.subscriptionIds.map((id) => this.listing(id)));
    for (const result of settled) {
      const vault = result.status === 'fulfilled' ? result.value.get(host) : undefined;
      if (vault) return vault;
    }
    // "Not found" is only true when every subscription could be read.
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return undefined;
  }

  /** Forgets the listings, so that the next lookup reads ARM again. */
  clear(): void {
    this.listings.clear();
  }

  private listing(subscriptionId: string): Promise<Map<string, VaultInfo>> {
    let listing = this.listings.get(subscriptionId);
    if (!listing) {
      const started = this.list(subscriptionId);
      listing = started;
      this.listings.set(subscriptionId, started);
      // A failed listing is not kept: the next lookup tries that subscription again.
      started.catch(() => {
        if (this.listings.get(subscriptionId) === started) this.listings.delete(subscriptionId);
      });
    }
    return listing;
  }

  private async list(subscriptionId: string): Promise<Map<string, VaultInfo>> {
    const byHost = new Map<string, VaultInfo>();
    try {
      for await (const vault of (await this.client(subscriptionId)).vaults.listBySubscription()) {
        const info = toVaultInfo(vault);
        if (info) byHost.set(vaultHost(info.vaultUri), info);
      }
    } catch (error) {
      throw toDependencyError(error, `listing key vaults in subscription ${subscriptionId}`, 'arm');
    }
    return byHost;
  }

  private client(subscriptionId: string): Promise<KeyVaultManagementClient> {
    let client = this.clients.get(subscriptionId);
    if (!client) {
      const endpoint = this.options.endpoint.replace(/\/$/, '');
      client = sdk.keyVaultManagement().then(({ KeyVaultManagementClient }) =>
        new KeyVaultManagementClient(this.options.credential, subscriptionId, {
          ...this.options.clientOptions,
          endpoint,
          // This generation of the SDK takes its token scopes from `credentials`, not `credentialScopes`.
          credentials: { ...this.options.clientOptions?.credentials, scopes: [`${endpoint}/.default`] },
        }));
      this.clients.set(subscriptionId, client);
    }
    return client;
  }
}

/** Maps the ARM resource; a vault without an id or vaultUri cannot be matched and is left out. */
export function toVaultInfo(vault: Vault): VaultInfo | undefined {
  const p = vault.properties;
  if (!vault.id || !p?.vaultUri) return undefined;
  const info: VaultInfo = {
    id: vault.id,
    name: vault.name ?? vault.id.split('/').pop() ?? '',
    location: vault.location ?? '',
    tenantId: p.tenantId ?? '',
    vaultUri: p.vaultUri,
    accessPolicies: (p.accessPolicies ?? [])
      // A compound entry (with applicationId) grants only when that application acts for the object, never the object alone.
      .filter((entry) => !entry.applicationId)
      .map((entry) => ({ tenantId: entry.tenantId, objectId: entry.objectId, keys: [...(entry.permissions?.keys ?? [])] })),
  };
  // The deserializer passes JSON nulls through; only a real boolean says anything.
  if (typeof p.enableSoftDelete === 'boolean') info.enableSoftDelete = p.enableSoftDelete;
  if (typeof p.enablePurgeProtection === 'boolean') info.enablePurgeProtection = p.enablePurgeProtection;
  if (typeof p.enableRbacAuthorization === 'boolean') info.enableRbacAuthorization = p.enableRbacAuthorization;
  return info;
}
