import type { FanOutJob } from '../domain/jobs';
import type { KeyPolicy } from '../domain/keys';
import type { KeyVersionInfo } from '../domain/model';
import type { Clock, KeyStore, Logger, RotationClaims } from '../ports';
import { inheritedProblems, newestUsableVersion, rotationHelps, YOUNG } from './keyVersions';

export interface ExpiryRotationDeps {
  keys: KeyStore;
  rotationClaims: RotationClaims;
  policy: KeyPolicy;
  nearExpiryDays: number;
  clock: Clock;
}

/**
 * How long a claimed rotation is left to its holder: far longer than one rotation takes, and short enough that a
 * holder that died before rotating holds up another fan-out or sweep by minutes. Longer than the 10 minutes after
 * which the queue delivers again the message of a worker that died, so that redelivery still has minutes to rotate
 * in before a copy waiting for the claim's expiry takes it.
 */
export const ROTATION_CLAIM_MS = 15 * 60_000;

/**
 * The version to bind after a rotation; the holder whose claim leaves the rotation (and the binding) to it; or why
 * the key was not rotated.
 */
export type RotationOutcome = { version: string; rotated: boolean } | { claimedBy: string; until: Date } | { notRotated: string };

/**
 * Rotates the key away from `expiring` once. The rotation is claimed first: another holder's claim leaves it to that
 * one. Once claimed the key is read again, so that a version another holder made since this one read the key (its
 * claim expired meanwhile) is bound, not made twice. A key whose current version is newer than `expiring` and not
 * usable for a reason a rotation copies (inheritedProblems) is not rotated: each sweep or event would add another
 * unusable version until the bound one expires.
 */
export async function rotateOnce(
  deps: ExpiryRotationDeps,
  key: { vaultUri: string; keyName: string },
  expiring: KeyVersionInfo,
  holder: string,
): Promise<RotationOutcome> {
  const claim = await deps.rotationClaims.claim(key.vaultUri, key.keyName, expiring.version, holder, ROTATION_CLAIM_MS);
  if (!claim.claimed) return { claimedBy: claim.holder, until: claim.expiresAt };
  const { usable, current } = await pastExpiring(deps, key, expiring);
  if (usable) return { version: usable, rotated: false };
  const copied = current ? inheritedProblems(current, deps.policy, deps.nearExpiryDays, deps.clock.now()) : [];
  if (current && copied.length) {
    return { notRotated: `its current version ${current.version}, newer than ${expiring.version}, is not usable (${copied.join(', ')}), and a rotation would make another like it` };
  }
  return { version: (await deps.keys.rotateKey(key.vaultUri, key.keyName)).version, rotated: true };
}

/** What the key holds past `expiring` (DESIGN §2 rule 3's order), read now: its newest usable version, and its current version, each when newer. */
async function pastExpiring(
  deps: ExpiryRotationDeps,
  key: { vaultUri: string; keyName: string },
  expiring: KeyVersionInfo | undefined,
): Promise<{ usable?: string; current?: KeyVersionInfo }> {
  const { version: newest, order, current } = await newestUsableVersion(deps.keys, key.vaultUri, key.keyName, deps.policy, deps.clock.now());
  const newer = (v: KeyVersionInfo | undefined): v is KeyVersionInfo => !!v && (!expiring || (order.compare(v, expiring) ?? 0) > 0);
  return { ...(newer(newest) ? { usable: newest.version } : {}), ...(newer(current) ? { current } : {}) };
}

/**
 * NEAR_EXPIRY_ACTION=rotate: a version created after the expiring one and usable is bound as it
 * is; otherwise Key Vault rotates the key once (rotateOnce). A retried fan-out finds that version and does not
 * rotate again; a copy of it running alongside (`holder`: each delivery's own) finds the rotation claimed.
 */
export async function versionAfterExpiry(job: FanOutJob, deps: ExpiryRotationDeps, log: Logger, holder: string): Promise<{ version: string | undefined } | { claimedBy: string; until: Date }> {
  const expiring = job.eventVersion ? await deps.keys.getKeyVersion(job.vaultUri, job.keyName, job.eventVersion) : undefined;
  const { usable } = await pastExpiring(deps, job, expiring);
  if (usable) return { version: usable };
  const now = deps.clock.now();
  const notNear = expiring ? noLongerExpiring(expiring, job.eventExpiresOn, deps.nearExpiryDays, now) : undefined;
  if (!expiring || notNear || !rotationHelps(expiring, deps.nearExpiryDays, now)) {
    log.event('key.not-rotated', { jobId: job.jobId, keyName: job.keyName, version: job.eventVersion, reason: !expiring ? "the event's version could not be read" : notNear ?? YOUNG });
    return { version: undefined };
  }
  const outcome = await rotateOnce(deps, job, expiring, holder);
  if ('claimedBy' in outcome) return outcome;
  if ('notRotated' in outcome) {
    log.event('key.not-rotated', { jobId: job.jobId, keyName: job.keyName, version: job.eventVersion, reason: outcome.notRotated });
    return { version: undefined };
  }
  if (outcome.rotated) log.event('key.rotated', { jobId: job.jobId, keyName: job.keyName, expiring: job.eventVersion, version: outcome.version });
  return { version: outcome.version };
}

/**
 * Why the event's version, as Key Vault has it now, no longer calls for a rotation (undefined: it still does): it has
 * no expiry any more, or its expiry was moved past the one the event stated and past NEAR_EXPIRY_DAYS from now.
 */
function noLongerExpiring(expiring: KeyVersionInfo, eventExpiresOn: string | undefined, nearExpiryDays: number, now: Date): string | undefined {
  const exp = expiring.expiresOn?.getTime();
  if (exp === undefined) return 'the version no longer has an expiry';
  const stated = eventExpiresOn === undefined ? undefined : Date.parse(eventExpiresOn);
  if (stated === undefined || Number.isNaN(stated) || exp <= stated || exp <= now.getTime() + nearExpiryDays * 86_400_000) return undefined;
  return `the version's expiry was moved to ${new Date(exp).toISOString()} since the event (which said ${new Date(stated).toISOString()}), beyond NEAR_EXPIRY_DAYS`;
}
