import type { KeyVersionInfo } from './model';

export interface KeyPolicy {
  allowedKeySizes: readonly number[];
  /** A version expiring sooner than now + this margin is not usable. */
  expiryMarginMs: number;
}

export type Unusable =
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

export function vaultHost(vaultUri: string): string {
  try {
    return new URL(vaultUri).host.toLowerCase();
  } catch {
    return vaultUri.toLowerCase();
  }
}

/** Newest first by creation time; versions without a creation time last. */
export function newestFirst(versions: readonly KeyVersionInfo[]): KeyVersionInfo[] {
  return [...versions].sort((a, b) => (b.createdOn?.getTime() ?? 0) - (a.createdOn?.getTime() ?? 0));
}
