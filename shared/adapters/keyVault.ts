import type { TokenCredential } from '@azure/identity';
import type { KeyClient, KeyClientOptions, KeyProperties, KeyVaultKey } from '@azure/keyvault-keys';
import { setTimeout as delay } from 'node:timers/promises';
import { sdk } from './sdk';
import type { KeyVersionInfo } from '../domain/model';
import { DependencyError, VaultNotAllowedError } from '../errors';
import { notFoundAs, toDependencyError } from './azureErrors';
import { sameOriginPolicy } from './sameOrigin';
import type { KeyStore } from '../ports';

interface KeyVaultOptions {
  credential: TokenCredential;
  /** Only vault hosts ending with one of these are ever called (KEY_VAULT_HOST_SUFFIXES). */
  allowedHostSuffixes: readonly string[];
  clientOptions?: KeyClientOptions;
}

/** Sends of one rotation at most: the first, and two more once the key is seen not to have rotated. */
const ROTATE_SENDS = 3;

/** KeyStore over @azure/keyvault-keys: one KeyClient per vault, reused. */
export class KeyVaultKeyStore implements KeyStore {
  private readonly clients = new Map<string, Promise<KeyClient>>();
  /** Creation times never change: read once per process, for rule 3 across every account bound to a version. */
  private readonly created = new Map<string, Date>();

  constructor(private readonly options: KeyVaultOptions) {}

  /** Scheme https, a host under an allowed suffix, and the default port unless the entry names one ("host:port" or "host:*"). */
  isAllowedVault(vaultUri: string): boolean {
    let url: URL;
    try {
      url = new URL(vaultUri);
    } catch {
      return false;
    }
    if (url.protocol !== 'https:' || url.username || url.password) return false;
    const host = url.hostname.toLowerCase();
    return this.options.allowedHostSuffixes.some((entry) => {
      const [suffix = '', port] = entry.toLowerCase().split(':');
      const hostMatches = suffix.startsWith('.') ? host.endsWith(suffix) : host === suffix || host.endsWith(`.${suffix}`);
      const portMatches = port === '*' || (port === undefined ? url.port === '' : url.port === port);
      return hostMatches && portMatches;
    });
  }

  async getKeyVersion(vaultUri: string, keyName: string, version?: string): Promise<KeyVersionInfo | undefined> {
    const client = await this.client(vaultUri);
    try {
      const key = await client.getKey(keyName, version ? { version } : {});
      const info = toKeyVersionInfo(vaultUri, key);
      if (info.createdOn) this.created.set(createdKey(vaultUri, keyName, info.version), info.createdOn);
      return info;
    } catch (error) {
      return notFoundAs(undefined, error, `reading key ${keyName}${version ? `/${version}` : ''}`, 'key-vault');
    }
  }

  async versionCreatedOn(vaultUri: string, keyName: string, version: string): Promise<Date | undefined> {
    return this.created.get(createdKey(vaultUri, keyName, version)) ?? (await this.getKeyVersion(vaultUri, keyName, version))?.createdOn;
  }

  async listVersions(vaultUri: string, keyName: string): Promise<KeyVersionInfo[]> {
    const client = await this.client(vaultUri);
    const versions: KeyVersionInfo[] = [];
    try {
      for await (const properties of client.listPropertiesOfKeyVersions(keyName)) {
        const info = fromProperties(vaultUri, properties, {});
        if (info.createdOn) this.created.set(createdKey(vaultUri, keyName, info.version), info.createdOn);
        versions.push(info);
      }
    } catch (error) {
      throw toDependencyError(error, `listing versions of key ${keyName}`, 'key-vault');
    }
    return versions;
  }

  /**
   * Key Vault's rotate is not idempotent: sent again after its answer was lost (a dropped connection, a 503 or a
   * timeout once the version was made), it makes another version. So the SDK does not retry it; after a failure
   * that may hide a rotation the key's current version says whether it happened, and only if it did not is the
   * rotation sent again.
   */
  async rotateKey(vaultUri: string, keyName: string): Promise<KeyVersionInfo> {
    const once = await this.client(vaultUri, 'unretried');
    const before = (await this.getKeyVersion(vaultUri, keyName))?.version;
    for (let send = 1; ; send++) {
      try {
        return toKeyVersionInfo(vaultUri, await once.rotateKey(keyName));
      } catch (error) {
        const failure = toDependencyError(error, `rotating key ${keyName}`, 'key-vault');
        if (!failure.retryable) throw failure;
        // Waited out first: after a timeout Key Vault may still be making the version.
        await delay(failure.retryAfterMs ?? this.retryDelayMs * 2 ** (send - 1));
        if (!failure.notApplied) {
          const made = await this.madeSince(vaultUri, keyName, before, failure);
          if (made) return made;
        }
        if (send >= ROTATE_SENDS) throw failure;
      }
    }
  }

  /** The key's current version if it is a new one a rotation could have made (enabled), after `failure` hid the answer. */
  private async madeSince(vaultUri: string, keyName: string, before: string | undefined, failure: DependencyError): Promise<KeyVersionInfo | undefined> {
    let current: KeyVersionInfo | undefined;
    try {
      current = await this.getKeyVersion(vaultUri, keyName);
    } catch (error) {
      if (!(error instanceof DependencyError)) throw error;
      throw new DependencyError(failure.code, `${failure.message}; whether Key Vault made the version could not be read (${error.message})`, {
        retryable: true, ...(failure.statusCode !== undefined ? { statusCode: failure.statusCode } : {}), dependency: 'key-vault',
      });
    }
    return current && current.version !== before && current.enabled ? current : undefined;
  }

  /** The SDK's first retry delay (800 ms unless the options set one); rotations sent again wait as its retries do. */
  private get retryDelayMs(): number {
    return this.options.clientOptions?.retryOptions?.retryDelayInMs ?? 800;
  }

  /**
   * One KeyClient per vault (and one without the SDK's retries, for rotations), which calls nothing but that vault.
   * Refuses a vault outside the allow-list before anything is sent (the check is synchronous, so it throws at once).
   */
  private client(vaultUri: string, retries: 'retried' | 'unretried' = 'retried'): Promise<KeyClient> {
    if (!this.isAllowedVault(vaultUri)) throw new VaultNotAllowedError(vaultUri);
    const base = new URL(vaultUri).origin + '/';
    const key = `${retries} ${base}`;
    let client = this.clients.get(key);
    if (!client) {
      const { clientOptions } = this.options;
      // KeyClient keeps its pipeline to itself; a perCall policy runs before the authentication policy it adds last.
      const additionalPolicies = [...(clientOptions?.additionalPolicies ?? []), { policy: sameOriginPolicy(base, 'key-vault'), position: 'perCall' as const }];
      const options = { ...clientOptions, ...(retries === 'unretried' ? { retryOptions: { ...clientOptions?.retryOptions, maxRetries: 0 } } : {}), additionalPolicies };
      client = sdk.keys().then(({ KeyClient }) => new KeyClient(base, this.options.credential, options));
      this.clients.set(key, client);
    }
    return client;
  }
}

function createdKey(vaultUri: string, keyName: string, version: string): string {
  return `${new URL(vaultUri).host}/${keyName}/${version}`.toLowerCase();
}

function fromProperties(vaultUri: string, p: KeyProperties, extra: Partial<KeyVersionInfo>): KeyVersionInfo {
  const info: KeyVersionInfo = {
    vaultUri,
    keyName: p.name,
    version: p.version ?? '',
    enabled: p.enabled ?? false,
    keyOps: [],
    ...extra,
  };
  if (p.createdOn) info.createdOn = p.createdOn;
  if (p.notBefore) info.notBefore = p.notBefore;
  if (p.expiresOn) info.expiresOn = p.expiresOn;
  if (p.recoveryLevel) info.recoveryLevel = p.recoveryLevel;
  return info;
}

function toKeyVersionInfo(vaultUri: string, key: KeyVaultKey): KeyVersionInfo {
  const extra: Partial<KeyVersionInfo> = { keyOps: [...(key.keyOperations ?? key.key?.keyOps ?? [])] };
  if (key.keyType) extra.kty = key.keyType;
  const size = rsaModulusBits(key.key?.n);
  if (size) extra.keySize = size;
  return fromProperties(vaultUri, key.properties, extra);
}

/** RSA key size from the JWK modulus, ignoring a leading zero byte. */
function rsaModulusBits(n: Uint8Array | undefined): number | undefined {
  if (!n || n.length === 0) return undefined;
  let bytes = n.length;
  if (n[0] === 0) bytes -= 1;
  return bytes * 8;
}
