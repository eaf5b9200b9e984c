import type { FanOutJob } from '../domain/jobs';
import type { KeyPolicy } from '../domain/keys';
import type { Clock, KeyStore, Logger } from '../ports';
import { newestUsableVersion, rotationHelps } from './keyVersions';

export interface ExpiryRotationDeps {
  keys: KeyStore;
  policy: KeyPolicy;
  nearExpiryDays: number;
  clock: Clock;
}

/**
 * NEAR_EXPIRY_ACTION=rotate: a version created after the expiring one and usable is bound as it
 * is; otherwise Key Vault rotates the key once. A retried fan-out finds that version and does not
 * rotate again.
 */
export async function versionAfterExpiry(job: FanOutJob, deps: ExpiryRotationDeps, log: Logger): Promise<string | undefined> {
  const now = deps.clock.now();
  const { version: newest, order } = await newestUsableVersion(deps.keys, job.vaultUri, job.keyName, deps.policy, now);
  const expiring = job.eventVersion ? await deps.keys.getKeyVersion(job.vaultUri, job.keyName, job.eventVersion) : undefined;
  if (newest && (!expiring || (order.compare(newest, expiring) ?? 0) > 0)) return newest.version;
  if (!expiring || !rotationHelps(expiring, deps.nearExpiryDays, now)) {
    log.event('key.not-rotated', { jobId: job.jobId, keyName: job.keyName, version: job.eventVersion });
    return undefined;
  }
  const rotated = await deps.keys.rotateKey(job.vaultUri, job.keyName);
  log.event('key.rotated', { jobId: job.jobId, keyName: job.keyName, expiring: job.eventVersion, version: rotated.version });
  return rotated.version;
}
