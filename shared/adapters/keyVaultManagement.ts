import type { KeyVaultManagementClientOptionalParams, ManagedHsm, Vault } from '@azure/arm-keyvault';
import type { TokenCredential } from '@azure/identity';
import type { VaultInfo } from '../domain/model';
import { isManagedHsmUri, managedHsmHost, vaultHost } from '../domain/keys';
import { DependencyError } from '../errors';
import { notFoundAs, toDependencyError } from './azureErrors';
import { Recent } from '../recent';
import type { VaultDirectory } from '../ports';
import { confined } from './sameOrigin';
import { armClientOptions, perKey, sdk } from './sdk';

interface KeyVaultManagementOptions {
  credential: TokenCredential;
  /** ARM_ENDPOINT: the public cloud, a sovereign cloud, or a local stand-in. */
  endpoint: string;
  subscriptionIds: readonly string[];
  clientOptions?: KeyVaultManagementClientOptionalParams;
  /** readVault answers from a read at most this old (default 0: always read); one key fanned out to many accounts reads its vault once. */
  freshForMs?: number;
}

type Kind = NonNullable<VaultInfo['kind']>;

/**
 * VaultDirectory over @azure/arm-keyvault: lists each subscription's vaults (or, for a Managed HSM host, its
 * managedHSMs) once and finds one by its URI host. The listing lives as long as this instance: build one per
 * sweep, or clear(); readVault reads the resource itself again by the id the listing gave.
 */
export class KeyVaultManagementDirectory implements VaultDirectory {
  private readonly listings = new Recent<Map<string, VaultInfo>>();
  private readonly reads: Recent<VaultInfo | undefined>;

  constructor(
    private readonly options: KeyVaultManagementOptions,
    private readonly client = perKey((subscriptionId) => sdk.keyVaultManagement().then(({ KeyVaultManagementClient }) =>
      confined(new KeyVaultManagementClient(options.credential, subscriptionId, { ...options.clientOptions, ...armClientOptions(options.endpoint) }), options.endpoint, 'arm'))),
  ) {
    this.reads = new Recent(options.freshForMs ?? 0);
  }

  /** A directory with no listings yet that shares this one's clients (a sweep takes one, and lists each subscription once). */
  fresh(): KeyVaultManagementDirectory {
    return new KeyVaultManagementDirectory(this.options, this.client);
  }

  /** Starts listing the vaults of every subscription, so that the first lookup finds them read or on the way. */
  prepare(): void {
    for (const id of this.options.subscriptionIds) this.listing(id, 'vault').catch(() => undefined);
  }

  async findVault(vaultUri: string): Promise<VaultInfo | undefined> {
    const kind: Kind = isManagedHsmUri(vaultUri) ? 'managedHsm' : 'vault';
    const host = lookupHost(vaultUri, kind);
    const settled = await Promise.allSettled(this.options.subscriptionIds.map((id) => this.listing(id, kind)));
    for (const result of settled) {
      const vault = result.status === 'fulfilled' ? result.value.get(host) : undefined;
      if (vault) return vault;
    }
    // "Not found" is only true when every subscription could be read. A passing fault goes first: the vault may be
    // in the subscription it kept from being read, whatever another subscription refused.
    const failed = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    if (failed.length) throw failed.find((e) => e instanceof DependencyError && e.retryable) ?? failed[0];
    return undefined;
  }

  /** Where the listing says the vault is, then the resource as ARM has it now (or freshForMs ago); a vault moved or gone is listed once more. */
  readVault(vaultUri: string, options: { fresh?: boolean } = {}): Promise<VaultInfo | undefined> {
    return this.reads.get(vaultHost(vaultUri), () => this.readNow(vaultUri), options.fresh);
  }

  private async readNow(vaultUri: string): Promise<VaultInfo | undefined> {
    for (const relist of [false, true]) {
      if (relist) this.clear();
      const listed = await this.findVault(vaultUri);
      const fresh = listed && (await this.get(listed));
      if (fresh) return fresh;
    }
    return undefined;
  }

  /** Forgets the listings, so that the next lookup reads ARM again. */
  clear(): void {
    this.listings.clear();
  }

  private async get(listed: VaultInfo): Promise<VaultInfo | undefined> {
    const [, subscriptionId = '', , resourceGroup = ''] = listed.id.split('/').filter(Boolean);
    const client = await this.client(subscriptionId);
    try {
      return listed.kind === 'managedHsm'
        ? toManagedHsmInfo(await client.managedHsms.get(resourceGroup, listed.name))
        : toVaultInfo(await client.vaults.get(resourceGroup, listed.name));
    } catch (error) {
      return notFoundAs(undefined, error, `reading ${listed.kind === 'managedHsm' ? 'managed HSM' : 'key vault'} ${listed.name}`, 'arm');
    }
  }

  /** A failed listing is not kept: the next lookup tries that subscription again. */
  private listing(subscriptionId: string, kind: Kind): Promise<Map<string, VaultInfo>> {
    return this.listings.get(`${kind}|${subscriptionId}`, () => this.list(subscriptionId, kind));
  }

  private async list(subscriptionId: string, kind: Kind): Promise<Map<string, VaultInfo>> {
    const byHost = new Map<string, VaultInfo>();
    const add = (info: VaultInfo | undefined): void => void (info && byHost.set(lookupHost(info.vaultUri, kind), info));
    try {
      const client = await this.client(subscriptionId);
      if (kind === 'managedHsm') for await (const hsm of client.managedHsms.listBySubscription()) add(toManagedHsmInfo(hsm));
      else for await (const vault of client.vaults.listBySubscription()) add(toVaultInfo(vault));
    } catch (error) {
      throw toDependencyError(error, `listing ${kind === 'managedHsm' ? 'managed HSMs' : 'key vaults'} in subscription ${subscriptionId}`, 'arm');
    }
    return byHost;
  }

}

/** Maps the ARM resource; a vault without an id or vaultUri cannot be matched and is left out. */
function toVaultInfo(vault: Vault): VaultInfo | undefined {
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

/** A Microsoft.KeyVault/managedHSMs resource: local RBAC only (no access policies); an empty answer (204) is no HSM. */
/** The host a vault or HSM is found by: an HSM's from its own name on, however ARM or a key id writes it. */
const lookupHost = (uri: string, kind: Kind): string => (kind === 'managedHsm' ? managedHsmHost(uri) : vaultHost(uri));

function toManagedHsmInfo(hsm: ManagedHsm | undefined): VaultInfo | undefined {
  const p = hsm?.properties;
  if (!hsm?.id || !p?.hsmUri) return undefined;
  const info: VaultInfo = {
    id: hsm.id,
    kind: 'managedHsm',
    name: hsm.name ?? hsm.id.split('/').pop() ?? '',
    location: hsm.location ?? '',
    tenantId: p.tenantId ?? '',
    vaultUri: p.hsmUri,
    enableRbacAuthorization: true,
    accessPolicies: [],
  };
  if (typeof p.enableSoftDelete === 'boolean') info.enableSoftDelete = p.enableSoftDelete;
  if (typeof p.enablePurgeProtection === 'boolean') info.enablePurgeProtection = p.enablePurgeProtection;
  return info;
}
