import type { FanOutJob } from '../domain/jobs';
import type { KeyPolicy } from '../domain/keys';
import type { Clock, KeyStore, Logger, RotationClaims } from '../ports';
import { newestUsableVersion, rotationHelps } from './keyVersions';

export interface ExpiryRotationDeps {
  keys: KeyStore;
  rotationClaims: RotationClaims;
  policy: KeyPolicy;
  nearExpiryDays: number;
  clock: Clock;
}

/**
 * How long a claimed rotation is left to its holder: far longer than one rotation takes, and short enough that a
 * holder that died before rotating holds up another fan-out or sweep by minutes.
 */
export const ROTATION_CLAIM_MS = 10 * 60_000;

/**
 * NEAR_EXPIRY_ACTION=rotate: a version created after the expiring one and usable is bound as it
 * is; otherwise Key Vault rotates the key once. A retried fan-out finds that version and does not
 * rotate again; a copy of it running alongside (`holder`: each delivery's own) finds the rotation claimed.
 */
export async function versionAfterExpiry(job: FanOutJob, deps: ExpiryRotationDeps, log: Logger, holder: string): Promise<string | undefined> {
  const now = deps.clock.now();
  const { version: newest, order } = await newestUsableVersion(deps.keys, job.vaultUri, job.keyName, deps.policy, now);
  const expiring = job.eventVersion ? await deps.keys.getKeyVersion(job.vaultUri, job.keyName, job.eventVersion) : undefined;
  if (newest && (!expiring || (order.compare(newest, expiring) ?? 0) > 0)) return newest.version;
  if (!expiring || !rotationHelps(expiring, deps.nearExpiryDays, now)) {
    log.event('key.not-rotated', { jobId: job.jobId, keyName: job.keyName, version: job.eventVersion });
    return undefined;
  }
  const claim = await deps.rotationClaims.claim(job.vaultUri, job.keyName, expiring.version, holder, ROTATION_CLAIM_MS);
  if (!claim.claimed) {
    log.event('key.rotation-claimed', { jobId: job.jobId, keyName: job.keyName, version: expiring.version, holder: claim.holder });
    return undefined;
  }
  const rotated = await deps.keys.rotateKey(job.vaultUri, job.keyName);
  log.event('key.rotated', { jobId: job.jobId, keyName: job.keyName, expiring: job.eventVersion, version: rotated.version });
  return rotated.version;
}
