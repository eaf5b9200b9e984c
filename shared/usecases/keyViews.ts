import type { KeyView } from '../domain/findings';
import { versionOrder, type KeyPolicy } from '../domain/keys';
import type { KeyVersionInfo } from '../domain/model';
import { DependencyError } from '../errors';
import type { KeyStore } from '../ports';
import { newestUsableAmong } from './keyVersions';

export type KeyRead = { ok: true; view: (boundVersion: string) => KeyView; newestUsable?: KeyVersionInfo } | { ok: false; error: string };

/**
 * Reads one key for every account bound to it: one listing, the current version (it orders versions made
 * in the same second), one read per distinct bound version, and the reads the newest-usable search needs
 * (shared with the bound ones). Calls grow with keys and versions, not with accounts.
 */
export async function readKey(
  keys: KeyStore,
  vaultUri: string,
  keyName: string,
  boundVersions: Iterable<string>,
  policy: KeyPolicy,
  now: Date,
): Promise<KeyRead> {
  const cache = new Map<string, Promise<KeyVersionInfo | undefined>>();
  const read = (version: string) => {
    const k = version.toLowerCase();
    let p = cache.get(k);
    if (!p) {
      p = keys.getKeyVersion(vaultUri, keyName, version);
      cache.set(k, p);
    }
    return p;
  };
  try {
    const [listed, current] = await Promise.all([keys.listVersions(vaultUri, keyName), keys.getKeyVersion(vaultUri, keyName)]);
    if (!current) return { ok: true, view: () => ({ status: 'missing' }) };
    cache.set(current.version.toLowerCase(), Promise.resolve(current));
    const order = versionOrder(current.version);
    const bound = new Map<string, KeyVersionInfo | undefined>();
    for (const version of new Set([...boundVersions].map((v) => v.toLowerCase()))) bound.set(version, await read(version));
    const newestUsable = await newestUsableAmong(listed, order, policy, now, (v) => read(v.version));
    return {
      ok: true,
      view: (boundVersion) => ({ status: 'ok', bound: bound.get(boundVersion.toLowerCase()), newestUsable, order }),
      ...(newestUsable ? { newestUsable } : {}),
    };
  } catch (error) {
    if (error instanceof DependencyError && error.statusCode === 403) return { ok: true, view: () => ({ status: 'access-denied' }) };
    if (error instanceof DependencyError) return { ok: false, error: `key ${keyName} in ${vaultUri}: ${error.message}` };
    throw error;
  }
}
