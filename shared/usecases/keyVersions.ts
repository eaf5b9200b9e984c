import { unusableReasons, versionOrder, type KeyPolicy, type VersionOrder, type VersionStamp } from '../domain/keys';
import type { KeyVersionInfo } from '../domain/model';
import type { KeyStore } from '../ports';

/** What rules 2-3 read of Key Vault for one key: the target version, the bound version's age, and the order. */
export interface RebindKeys {
  target: KeyVersionInfo | undefined;
  bound: VersionStamp | undefined;
  order: VersionOrder;
}

const same = (a: string | undefined, b: string | undefined): boolean => !!a && !!b && a.toLowerCase() === b.toLowerCase();

/** What rules 2-3 read of the key before the account is known: the target version and the order. */
export type RebindTarget = Omit<RebindKeys, 'bound'>;

/**
 * Reads the key's current version first (it orders same-second versions and is usually the target), then
 * the target when it is another version or, without one, the newest usable version. It needs nothing of
 * the account, so a job reads it while it reads the account.
 */
export async function readRebindTarget(
  keys: KeyStore,
  key: { vaultUri: string; keyName: string; targetVersion?: string | undefined },
  policy: KeyPolicy,
  now: Date,
): Promise<RebindTarget> {
  const { vaultUri, keyName, targetVersion } = key;
  if (!targetVersion) {
    const { version: target, order } = await newestUsableVersion(keys, vaultUri, keyName, policy, now);
    return { target, order };
  }
  const current = await keys.getKeyVersion(vaultUri, keyName);
  const target = same(current?.version, targetVersion) ? current : await keys.getKeyVersion(vaultUri, keyName, targetVersion);
  return { target, order: versionOrder(current?.version) };
}

/** Adds the bound version's creation time: from the target when it is the same version, else the store's cache or one read. */
export async function readRebindKeys(
  keys: KeyStore,
  key: { vaultUri: string; keyName: string },
  read: RebindTarget,
  boundVersion: string | undefined,
): Promise<RebindKeys> {
  let bound: VersionStamp | undefined;
  if (boundVersion && same(boundVersion, read.target?.version)) bound = read.target;
  else if (boundVersion) {
    const createdOn = await keys.versionCreatedOn(key.vaultUri, key.keyName, boundVersion);
    if (createdOn) bound = { version: boundVersion, createdOn };
    // A version Key Vault has without a creation time is not one that is gone: its age is unknown, and the order
    // then decides by the key's current version alone (undefined, never "newer", when neither is current).
    else if (same(boundVersion, read.order.current) || (await keys.getKeyVersion(key.vaultUri, key.keyName, boundVersion))) bound = { version: boundVersion };
  }
  return { ...read, bound };
}

/** The newest version that passes rule 2, in the one version order (DESIGN §2 rule 3), and the key's current version. */
export async function newestUsableVersion(
  keys: KeyStore,
  vaultUri: string,
  keyName: string,
  policy: KeyPolicy,
  now: Date,
): Promise<{ version: KeyVersionInfo | undefined; order: VersionOrder; current: KeyVersionInfo | undefined }> {
  const [listed, current] = await Promise.all([keys.listVersions(vaultUri, keyName), keys.getKeyVersion(vaultUri, keyName)]);
  const order = versionOrder(current?.version);
  const read = (v: KeyVersionInfo) => (same(v.version, current?.version) ? Promise.resolve(current) : keys.getKeyVersion(vaultUri, keyName, v.version));
  return { version: await newestUsableAmong(listed, order, policy, now, read), order, current };
}

/**
 * The version a switch to `keyName` binds: its newest usable version; for a versionless binding, which stays
 * versionless (the owner's choice, §2a), the key's current version, the one the account will then use. Without one
 * that passes rule 2, what is wrong, as a sentence's end (`key <keyName> ...`).
 */
export async function switchTarget(
  keys: KeyStore,
  key: { vaultUri: string; keyName: string; versionless: boolean },
  policy: KeyPolicy,
  now: Date,
): Promise<{ version: KeyVersionInfo } | { problem: string }> {
  const { vaultUri, keyName } = key;
  if (!key.versionless) {
    const { version } = await newestUsableVersion(keys, vaultUri, keyName, policy, now);
    return version ? { version } : { problem: `key ${keyName} has no version that passes preflight` };
  }
  const current = await keys.getKeyVersion(vaultUri, keyName);
  if (!current) return { problem: `key ${keyName} has no current version for the versionless binding to use` };
  const unusable = unusableReasons(current, policy, now);
  if (unusable.length) return { problem: `key ${keyName}'s current version ${current.version}, which the versionless binding would use, does not pass preflight (${unusable.join(', ')})` };
  return { version: current };
}

/**
 * The newest listed version that passes rule 2. Listing gives attributes only, so candidates are read one
 * by one, newest first (through `read`, which a caller may cache), skipping those the listing already shows
 * as disabled or expired.
 */
export async function newestUsableAmong(
  listed: readonly KeyVersionInfo[],
  order: VersionOrder,
  policy: KeyPolicy,
  now: Date,
  read: (v: KeyVersionInfo) => Promise<KeyVersionInfo | undefined>,
): Promise<KeyVersionInfo | undefined> {
  for (const candidate of order.newestFirst(listed)) {
    if (!candidate.enabled || (candidate.expiresOn && candidate.expiresOn.getTime() <= now.getTime())) continue;
    const full = await read(candidate);
    if (full && unusableReasons(full, policy, now).length === 0) return full;
  }
  return undefined;
}

/**
 * What a rotation copies from the key's current version and so would not fix: its type, size and operations, and
 * its rotation policy's lifetime when that is too short for the margin (a young version already too near expiry).
 * A disabled or expired current version is not copied: the new one is enabled, with a fresh expiry.
 */
export function inheritedProblems(current: KeyVersionInfo, policy: KeyPolicy, nearExpiryDays: number, now: Date): string[] {
  return unusableReasons(current, policy, now).filter((r) => COPIED.has(r) || (r === 'key-expires-too-soon' && !rotationHelps(current, nearExpiryDays, now)));
}

/** What Key Vault's rotate copies from the key's current version: its type, size and operations. */
const COPIED = new Set(['unsupported-key-type', 'unsupported-key-size', 'missing-key-operations']);

/** Rule 2's reasons a new version would copy from the key's current version, whatever its expiry. */
export function copiedProblems(current: KeyVersionInfo, policy: KeyPolicy, now: Date): string[] {
  return unusableReasons(current, policy, now).filter((r) => COPIED.has(r));
}

/** Why a version rotationHelps() refuses is not rotated. */
export const YOUNG = 'the version is younger than NEAR_EXPIRY_DAYS: a new one would be near expiry too';

/**
 * Rotating only helps a version that has lived longer than the near-expiry window: a younger one
 * near expiry means the key's versions live shorter than the window, and each new one would be
 * near expiry at birth (rotating on every sweep or event).
 */
export function rotationHelps(expiring: KeyVersionInfo, nearExpiryDays: number, now: Date): boolean {
  return expiring.createdOn !== undefined && expiring.createdOn.getTime() + nearExpiryDays * 86_400_000 <= now.getTime();
}
