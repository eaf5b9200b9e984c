import type { KeyVersionInfo } from './model';

/** A Key Vault key version: 32 hex characters. */
export const KEY_VERSION = /^[0-9a-f]{32}$/i;
/** Key Vault's own rule for a key name: an input outside it cannot name a real key. */
export const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;

export interface KeyPolicy {
  allowedKeySizes: readonly number[];
  /** A version expiring sooner than now + this margin is not usable. */
  expiryMarginMs: number;
}

type Unusable =
  | 'key-disabled'
  | 'key-not-yet-valid'
  | 'key-expired'
  | 'key-expires-too-soon'
  | 'unsupported-key-type'
  | 'unsupported-key-size'
  | 'missing-key-operations';

const RSA_TYPES = new Set(['RSA', 'RSA-HSM']);
const REQUIRED_OPS = ['wrapKey', 'unwrapKey'];

/** DESIGN §2 rule 2: every reason a key version cannot be bound (empty = usable). */
export function unusableReasons(key: KeyVersionInfo, policy: KeyPolicy, now: Date): Unusable[] {
  const reasons: Unusable[] = [];
  if (!key.enabled) reasons.push('key-disabled');
  if (key.notBefore && key.notBefore.getTime() > now.getTime()) reasons.push('key-not-yet-valid');
  if (key.expiresOn) {
    if (key.expiresOn.getTime() <= now.getTime()) reasons.push('key-expired');
    else if (key.expiresOn.getTime() <= now.getTime() + policy.expiryMarginMs) reasons.push('key-expires-too-soon');
  }
  const shape = keyShapeProblem(key, policy);
  if (shape) reasons.push(shape);
  if (!REQUIRED_OPS.every((op) => key.keyOps.includes(op))) reasons.push('missing-key-operations');
  return reasons;
}

/** What the Azure OpenAI CMK doc supports: RSA or RSA-HSM, of an allowed size. */
export function keyShapeProblem(key: KeyVersionInfo, policy: KeyPolicy): 'unsupported-key-type' | 'unsupported-key-size' | undefined {
  if (!key.kty || !RSA_TYPES.has(key.kty)) return 'unsupported-key-type';
  if (key.keySize === undefined || !policy.allowedKeySizes.includes(key.keySize)) return 'unsupported-key-size';
  return undefined;
}

export function describeKey(key: KeyVersionInfo): string {
  const size = key.keySize ? ` ${key.keySize}` : '';
  const exp = key.expiresOn ? `, exp ${key.expiresOn.toISOString()}` : '';
  return `${key.keyName}/${key.version}: ${key.kty ?? 'unknown type'}${size}, ${key.enabled ? 'enabled' : 'disabled'}${exp}, ops [${key.keyOps.join(', ')}]`;
}

/** Same vault host (with port) and key name, ignoring case and trailing slashes. */
export function sameKey(a: { vaultUri: string; keyName: string }, b: { vaultUri: string; keyName: string }): boolean {
  return vaultHost(a.vaultUri) === vaultHost(b.vaultUri) && a.keyName.toLowerCase() === b.keyName.toLowerCase();
}

/**
 * A Managed HSM key host: `<name>.managedhsm.azure.net` and its sovereign-cloud twins, a `managedhsm` label after the
 * HSM's own name (and any label before it, as ARM's REST example writes `westus.hsm1.managedhsm.azure.net`); a Key
 * Vault named `managedhsm`, `managedhsm.vault.azure.net`, is a vault.
 */
export function isManagedHsmUri(vaultUri: string): boolean {
  return /\.managedhsm\./.test(vaultHost(vaultUri).split(':')[0] ?? '');
}

/** Hosts by URI as written: a sweep asks for the few vaults of thousands of accounts, and a URL parse is not free. */
const HOSTS = new Map<string, string>();

/** A vault URI's host (with a port other than 443), lower case; the text itself when it is no URL. */
export function vaultHost(vaultUri: string): string {
  let host = HOSTS.get(vaultUri);
  if (host === undefined) {
    try {
      host = new URL(vaultUri).host.toLowerCase();
    } catch {
      host = vaultUri.toLowerCase();
    }
    if (HOSTS.size >= 1_024) HOSTS.clear();
    HOSTS.set(vaultUri, host);
  }
  return host;
}

/** What the version order needs of a version: its id and when Key Vault created it. */
export type VersionStamp = Pick<KeyVersionInfo, 'version' | 'createdOn'>;

/**
 * DESIGN §2 rule 3: the one order of a key's versions, used by rule 3, the sweep's drift check, bind-newer
 * and the manual default. Newest by `created`; Key Vault keeps it in whole seconds, so versions made in
 * the same second are ordered by Key Vault's own current version (GET /keys/{name}/, the newest), never by
 * listing order. Two tied versions of which neither is current cannot be ordered: compare says undefined.
 */
export interface VersionOrder {
  /** The key's current version, as Key Vault names it. */
  readonly current: string | undefined;
  /** > 0 when a is newer, < 0 when b is, 0 for the same version, undefined when it cannot be known. */
  compare(a: VersionStamp, b: VersionStamp): number | undefined;
  /** Newest first: by created, the current version first among those of its second; ties that cannot be ordered keep a stable (id) order. */
  newestFirst<T extends VersionStamp>(versions: readonly T[]): T[];
}

export function versionOrder(currentVersion: string | undefined): VersionOrder {
  const current = currentVersion?.toLowerCase();
  const isCurrent = (v: VersionStamp): boolean => current !== undefined && v.version.toLowerCase() === current;
  // Created first: the current version may have been read before a newer one was made (a job's or a sweep's
  // read), and only breaks a tie.
  const compare = (a: VersionStamp, b: VersionStamp): number | undefined => {
    if (a.version.toLowerCase() === b.version.toLowerCase()) return 0;
    const at = a.createdOn?.getTime();
    const bt = b.createdOn?.getTime();
    if (at !== undefined && bt !== undefined && at !== bt) return at > bt ? 1 : -1;
    if (isCurrent(a)) return 1;
    if (isCurrent(b)) return -1;
    return undefined;
  };
  return {
    current: currentVersion,
    compare,
    newestFirst: (versions) =>
      [...versions].sort((a, b) =>
        (b.createdOn?.getTime() ?? -Infinity) - (a.createdOn?.getTime() ?? -Infinity)
        || Number(isCurrent(b)) - Number(isCurrent(a))
        || a.version.localeCompare(b.version)),
  };
}

/**
 * A Managed HSM's data-plane host from its own name on, `<name>.managedhsm.<suffix>[:port]`: the host its key ids
 * name. ARM's REST example writes an hsmUri with a region before the name (`westus.hsm1.managedhsm.azure.net`).
 */
export function managedHsmHost(uri: string): string {
  const host = vaultHost(uri);
  const labels = host.split('.');
  // The last such label is the suffix's: an HSM may itself be named managedhsm.
  const at = labels.lastIndexOf('managedhsm');
  return at > 0 ? labels.slice(at - 1).join('.') : host;
}
