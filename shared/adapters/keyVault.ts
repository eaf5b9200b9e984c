import type { TokenCredential } from '@azure/identity';
import { KeyClient, type KeyClientOptions, type KeyProperties, type KeyVaultKey } from '@azure/keyvault-keys';
import type { KeyVersionInfo } from '../domain/model';
import { toDependencyError, VaultNotAllowedError } from '../errors';
import type { KeyStore } from '../ports';

export interface KeyVaultOptions {
  credential: TokenCredential;
  /** Only vault hosts ending with one of these are ever called (KEY_VAULT_HOST_SUFFIXES). */
  allowedHostSuffixes: readonly string[];
  clientOptions?: KeyClientOptions;
}

/** KeyStore over @azure/keyvault-keys: one KeyClient per vault, reused. */
export class KeyVaultKeyStore implements KeyStore {
  private readonly clients = new Map<string, KeyClient>();

  constructor(private readonly options: KeyVaultOptions) {}

  isAllowedVault(vaultUri: string): boolean {
    let url: URL;
    try {
      url = new URL(vaultUri);
    } catch {
      return false;
    }
    const host = url.hostname.toLowerCase();
    return url.protocol === 'https:' && this.options.allowedHostSuffixes.some((s) => host === s.replace(/^\./, '') || host.endsWith(s.startsWith('.') ? s : `.${s}`));
  }

  async getKeyVersion(vaultUri: string, keyName: string, version?: string): Promise<KeyVersionInfo | undefined> {
    const client = this.client(vaultUri);
    try {
      const key = await client.getKey(keyName, version ? { version } : {});
      return toKeyVersionInfo(vaultUri, key);
    } catch (error) {
      const e = toDependencyError(error, `reading key ${keyName}${version ? `/${version}` : ''}`);
      if (e.statusCode === 404) return undefined;
      throw e;
    }
  }

  async listVersions(vaultUri: string, keyName: string): Promise<KeyVersionInfo[]> {
    const client = this.client(vaultUri);
    const versions: KeyVersionInfo[] = [];
    try {
      for await (const properties of client.listPropertiesOfKeyVersions(keyName)) {
        versions.push(fromProperties(vaultUri, properties, {}));
      }
    } catch (error) {
      const e = toDependencyError(error, `listing versions of key ${keyName}`);
      if (e.statusCode === 404) return [];
      throw e;
    }
    return versions;
  }

  async rotateKey(vaultUri: string, keyName: string): Promise<KeyVersionInfo> {
    try {
      return toKeyVersionInfo(vaultUri, await this.client(vaultUri).rotateKey(keyName));
    } catch (error) {
      throw toDependencyError(error, `rotating key ${keyName}`);
    }
  }

  private client(vaultUri: string): KeyClient {
    if (!this.isAllowedVault(vaultUri)) throw new VaultNotAllowedError(vaultUri);
    const base = new URL(vaultUri).origin + '/';
    let client = this.clients.get(base);
    if (!client) {
      client = new KeyClient(base, this.options.credential, this.options.clientOptions);
      this.clients.set(base, client);
    }
    return client;
  }
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
