// What identifies a stored verdict, so that a sweep rewrites only the findings that changed.
import { createHash } from 'node:crypto';
import type { Finding } from './findings';

/** A stored finding's identity within its account: the code, and the scope when it is a scope's. */
export function findingKey(f: Pick<Finding, 'code' | 'encryptionScope'>): string {
  return f.encryptionScope ? `${f.code}~${f.encryptionScope}` : f.code;
}

const DIGESTS = new WeakMap<Finding, string>();

/** What identifies a verdict, so that a sweep rewrites only findings that changed (evidence holds no clock). */
export function findingDigest(f: Finding): string {
  let digest = DIGESTS.get(f);
  if (digest === undefined) {
    digest = createHash('sha256').update(JSON.stringify([f.code, f.severity, f.evidence, f.remedy])).digest('hex').slice(0, 16);
    // A finding is not changed once made (a scope's is a new one), so one that many accounts share is hashed once.
    DIGESTS.set(f, digest);
  }
  return digest;
}

/** True when the stored verdict (digest by finding key, as verdicts() read it) is exactly these findings. */
export function verdictUnchanged(stored: ReadonlyMap<string, string> | undefined, findings: readonly Finding[]): boolean {
  if ((stored?.size ?? 0) !== findings.length) return false;
  return findings.every((f) => stored?.get(findingKey(f)) === findingDigest(f));
}
