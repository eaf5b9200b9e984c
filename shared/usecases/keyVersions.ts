import { newestFirst, unusableReasons, type KeyPolicy } from '../domain/keys';
import type { KeyVersionInfo } from '../domain/model';
import type { KeyStore } from '../ports';

/** The newest version that passes rule 2, listing the key's versions first. */
export async function newestUsableVersion(
  keys: KeyStore,
  vaultUri: string,
  keyName: string,
  policy: KeyPolicy,
  now: Date,
): Promise<KeyVersionInfo | undefined> {
  return newestUsableAmong(keys, await keys.listVersions(vaultUri, keyName), policy, now);
}

/**
 * The newest listed version that passes rule 2. Listing gives attributes only, so candidates are
 * read one by one, newest first (through `read`, which a caller may cache), skipping those the
 * listing already shows as disabled or expired.
 */
export async function newestUsableAmong(
  keys: KeyStore,
  listed: readonly KeyVersionInfo[],
  policy: KeyPolicy,
  now: Date,
  read: (v: KeyVersionInfo) => Promise<KeyVersionInfo | undefined> = (v) => keys.getKeyVersion(v.vaultUri, v.keyName, v.version),
): Promise<KeyVersionInfo | undefined> {
  for (const candidate of newestFirst(listed)) {
    if (!candidate.enabled || (candidate.expiresOn && candidate.expiresOn.getTime() <= now.getTime())) continue;
    const full = await read(candidate);
    if (full && unusableReasons(full, policy, now).length === 0) return full;
  }
  return undefined;
}

/**
 * Rotating only helps a version that has lived longer than the near-expiry window: a younger one
 * near expiry means the key's versions live shorter than the window, and each new one would be
 * near expiry at birth (rotating on every sweep or event).
 */
export function rotationHelps(expiring: KeyVersionInfo, nearExpiryDays: number, now: Date): boolean {
  return expiring.createdOn !== undefined && expiring.createdOn.getTime() + nearExpiryDays * 86_400_000 <= now.getTime();
}
