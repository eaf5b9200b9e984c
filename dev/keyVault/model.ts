import { randomBytes } from 'node:crypto';

/** The key types a standard or premium vault accepts (oct keys exist only in Managed HSM). */
export const KEY_TYPES = ['RSA', 'RSA-HSM', 'EC', 'EC-HSM'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export const KEY_OPERATIONS = [
  'encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import', 'export',
] as const;

export const RSA_SIZES = [2048, 3072, 4096];
/** Curve name -> coordinate length in bytes. */
export const EC_CURVES: Record<string, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66, 'P-256K': 32 };

/** What Key Vault gives a new key when the request names no key_ops. */
export function defaultKeyOps(kty: KeyType): string[] {
  return kty.startsWith('RSA')
    ? ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey']
    : ['sign', 'verify'];
}

interface PublicKeyMaterial {
  n?: string;
  e?: string;
  crv?: string;
  x?: string;
  y?: string;
}

export interface KeyVersion {
  version: string;
  /** Insertion order within the key: the highest is the current version. */
  seq: number;
  kty: KeyType;
  size?: number;
  crv?: string;
  keyOps: string[];
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  tags?: Record<string, string>;
  material: PublicKeyMaterial;
}

export interface LifetimeAction {
  trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string };
  action: { type: string };
}

export interface RotationPolicy {
  lifetimeActions: LifetimeAction[];
  expiryTime?: string;
  created: number;
  updated: number;
}

export interface KeyEntry {
  /** The name as first created: Key Vault matches names case-insensitively but keeps their casing. */
  name: string;
  versions: Map<string, KeyVersion>;
  nextSeq: number;
  deleted: boolean;
  policy?: RotationPolicy;
}

/** Key Vault version ids: 32 lowercase hex characters. */
export function newVersionId(): string {
  return randomBytes(16).toString('hex');
}

/** Random public material of the right length; no real key pair is needed by anything that reads it. */
export function publicMaterial(kty: KeyType, size: number | undefined, crv: string | undefined): PublicKeyMaterial {
  if (kty.startsWith('RSA')) {
    const modulus = randomBytes((size ?? 2048) / 8);
    modulus[0] = (modulus[0] ?? 0) | 0x80;
    modulus[modulus.length - 1] = (modulus[modulus.length - 1] ?? 0) | 0x01;
    return { n: modulus.toString('base64url'), e: 'AQAB' };
  }
  const curve = crv ?? 'P-256';
  const length = EC_CURVES[curve] ?? 32;
  return { crv: curve, x: randomBytes(length).toString('base64url'), y: randomBytes(length).toString('base64url') };
}

export function epochSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

const DURATION = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

/** Parses the ISO 8601 durations rotation policies use (P90D, P2Y, P1M...); undefined when invalid. */
export function parseDuration(text: string): ((from: Date) => Date) | undefined {
  const m = DURATION.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) return undefined;
  const n = (i: number): number => Number(m[i] ?? 0);
  return (from) => {
    const d = new Date(from.getTime());
    d.setUTCFullYear(d.getUTCFullYear() + n(1), d.getUTCMonth() + n(2), d.getUTCDate() + 7 * n(3) + n(4));
    d.setUTCHours(d.getUTCHours() + n(5), d.getUTCMinutes() + n(6), d.getUTCSeconds() + n(7));
    return d;
  };
}
