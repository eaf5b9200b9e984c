import type { KeyVersionInfo } from '../../../shared/domain/model';
import type { KeyStore } from '../../../shared/ports';
import { hex, keyVersion } from './estate';

export class FakeKeyStore implements KeyStore {
  readonly versions: KeyVersionInfo[] = [];
  reads = 0;
  /** The key of each rotateKey call, in order. */
  readonly rotations: string[] = [];
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
    this.rotations.push(keyName);
    const latest = await this.getKeyVersion(vaultUri, keyName);
    // Key Vault makes the new version like the current one: its type, size and operations.
    const shape = latest ? { kty: latest.kty, keySize: latest.keySize, keyOps: [...latest.keyOps] } : {};
    const next = keyVersion(hex(this.versions.length + 100), { vaultUri, keyName, ...shape, createdOn: new Date((latest?.createdOn?.getTime() ?? 0) + 1000) });
    this.versions.push(next);
    return next;
  }
  async listVersions(vaultUri: string, keyName: string): Promise<KeyVersionInfo[]> {
    return this.versions
      .filter((v) => v.vaultUri === vaultUri && v.keyName === keyName)
      .map(({ kty: _k, keySize: _s, ...attributes }) => ({ ...attributes, keyOps: [] }));
  }
}
