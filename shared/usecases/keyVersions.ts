import { newestFirst, unusableReasons, type KeyPolicy } from '../domain/keys';
import type { KeyVersionInfo } from '../domain/model';
import type { KeyStore } from '../ports';

/**
 * The newest version that passes rule 2. Listing gives attributes only, so candidates are read
 * one by one, newest first, skipping those the listing already shows as disabled or expired.
 */
export async function newestUsableVersion(
  keys: KeyStore,
  vaultUri: string,
  keyName: string,
  policy: KeyPolicy,
  now: Date,
): Promise<KeyVersionInfo | undefined> {
  for (const listed of newestFirst(await keys.listVersions(vaultUri, keyName))) {
    if (!listed.enabled || (listed.expiresOn && listed.expiresOn.getTime() <= now.getTime())) continue;
    const full = await keys.getKeyVersion(vaultUri, keyName, listed.version);
    if (full && unusableReasons(full, policy, now).length === 0) return full;
  }
  return undefined;
}
