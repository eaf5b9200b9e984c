import { accountKey } from '../domain/accounts';
import type { Finding, SweepSummary } from '../domain/findings';
import { derivedId } from '../domain/ids';
import type { RebindJob } from '../domain/jobs';
import type { AccountState, KeyVersionInfo } from '../domain/model';
import type { BoundTarget } from '../domain/scopes';
import type { NearExpiryAction } from '../config';
import { DependencyError } from '../errors';
import type { AccountStore, Logger } from '../ports';
import { forEachLimited } from '../concurrency';
import type { KeyReader } from './keyViews';
import { rotateOnce, type ExpiryRotationDeps } from './expiryRotation';
import { rotationHelps, YOUNG } from './keyVersions';
import { queueAccountJobs, type QueueDeps } from './queueJobs';

/** One key as a sweep reads it: once per run; `failed` when Key Vault could not be read (its bindings go unjudged). */
export interface SweepKey {
  reader: KeyReader;
  failed?: string;
}

/** One binding the sweep judges: an account's own, or one of its encryption scopes', with its key. */
export interface SweepTarget extends BoundTarget {
  account: AccountState;
  key: SweepKey;
}

export interface SweepRepairDeps extends QueueDeps, ExpiryRotationDeps {
  /** Discovery may lag behind ARM: a repair is queued only after ARM confirms the drift. */
  accounts: AccountStore;
  nearExpiryAction: NearExpiryAction;
}

/** Drift confirmed at once, as many as the sweep judges at once. */
const CONCURRENCY = 32;

/**
 * Enforce mode's repairs for one sweep: drift confirmed through ARM and repaired, versionless bindings left as they
 * are (and said so), near-expiry keys rotated once (NEAR_EXPIRY_ACTION=rotate) after the last page.
 */
export class SweepRepairs {
  /** This page's drifting bindings, confirmed and repaired when the page is judged. */
  private drifting: SweepTarget[] = [];
  /** Per key, the version that nears expiry with nothing newer to bind, and the bindings to it. */
  private readonly nearExpiring = new Map<SweepKey, { expiring: KeyVersionInfo; targets: SweepTarget[] }>();

  constructor(
    private readonly sweepId: string,
    private readonly deps: SweepRepairDeps,
    private readonly log: Logger,
    private readonly summary: SweepSummary,
    private readonly now: Date,
  ) {}

  /** What an unpinned binding's findings call for. */
  async consider(target: SweepTarget, findings: Finding[]): Promise<void> {
    if (findings.some((f) => f.code === 'version-drift')) this.drifting.push(target);
    else if (findings.some((f) => f.code === 'versionless-binding')) await this.leaveVersionless(target);
    else if (findings.some((f) => f.code === 'key-near-expiry')) await this.nearExpiry(target);
  }

  /** Drift seen in discovery is confirmed through ARM (Resource Graph lags) before a repair is queued. */
  async repairDrift(): Promise<void> {
    const drifting = this.drifting;
    this.drifting = [];
    const confirmed: Array<{ target: SweepTarget; version: string }> = [];
    await forEachLimited(drifting, CONCURRENCY, async (target) => {
      const { account, scope, key } = target;
      const read = scope ? this.deps.accounts.getEncryptionScope(account.id, scope.name) : this.deps.accounts.getAccount(account.id);
      const both = await Promise.all([read, key.reader.newestUsable()]).catch((error: unknown) => {
        // Like a key that could not be read: the run is partial, and the next sweep confirms it again.
        if (!(error instanceof DependencyError)) throw error;
        this.summary.errors.push(`confirming the drift of ${account.name}${scope ? ` scope ${scope.name}` : ''}: ${error.message}`);
        return undefined;
      });
      if (!both) return;
      const [now, newest] = both;
      if (newest && now?.binding?.keyVersion.toLowerCase() === target.holder.binding.keyVersion.toLowerCase()) confirmed.push({ target, version: newest.version });
    });
    for (const { target, version } of confirmed) await this.queue([target], target.key, version);
  }

  /** After the last page: NEAR_EXPIRY_ACTION=rotate rotates each key at most once and binds the new version. */
  async finishKeys(): Promise<void> {
    if (this.deps.nearExpiryAction !== 'rotate') return;
    for (const [key, { expiring, targets }] of this.nearExpiring) {
      const { vaultUri, keyName } = key.reader;
      try {
        const outcome = await rotateOnce(this.deps, key.reader, expiring, this.sweepId);
        if ('claimedBy' in outcome) {
          this.log.event('key.rotation-claimed', { sweepId: this.sweepId, keyName, version: expiring.version, holder: outcome.claimedBy });
          continue;
        }
        if ('notRotated' in outcome) {
          this.log.event('key.not-rotated', { sweepId: this.sweepId, keyName, version: expiring.version, reason: outcome.notRotated });
          continue;
        }
        if (outcome.rotated) this.log.event('key.rotated', { sweepId: this.sweepId, keyName, expiring: expiring.version, version: outcome.version });
        await this.queue(targets, key, outcome.version);
      } catch (error) {
        if (!(error instanceof DependencyError)) throw error;
        this.summary.errors.push(`rotating key ${keyName} in ${vaultUri}: ${error.message}`);
      }
    }
  }

  /** A versionless binding is left alone and says so: its job records skipped, versionless (§2a); not a repair. */
  private async leaveVersionless(target: SweepTarget): Promise<void> {
    const newest = await target.key.reader.newestUsable();
    if (newest) await this.queue([target], target.key, newest.version, false);
  }

  private async nearExpiry(target: SweepTarget): Promise<void> {
    const { key } = target;
    const view = await key.reader.view(target.holder.binding.keyVersion);
    if (view.status !== 'ok' || !view.bound) return;
    if (rotationHelps(view.bound, this.deps.nearExpiryDays, this.now)) {
      const near = this.nearExpiring.get(key);
      if (near) near.targets.push(target);
      else this.nearExpiring.set(key, { expiring: view.bound, targets: [target] });
    }
    else this.log.event('key.not-rotated', { sweepId: this.sweepId, accountId: target.account.id, keyName: key.reader.keyName, version: target.holder.binding.keyVersion, reason: YOUNG });
  }

  private async queue(targets: SweepTarget[], key: SweepKey, version: string, repair = true): Promise<void> {
    const createdAt = this.deps.clock.now().toISOString();
    await queueAccountJobs(targets.map(({ account, scope, holder }) => {
      // The ledger keys a job's row by its queued time and id: a run of the same sweep again (its message delivered
      // again) queues at another time, so its jobs are other jobs, each with the one row its status reads.
      const job: RebindJob = {
        kind: 'rebind', jobId: derivedId(this.sweepId, createdAt, accountKey(account.id), version, ...(scope ? [scope.name] : [])), parentJobId: this.sweepId, trigger: 'sweep', createdAt,
        vaultUri: key.reader.vaultUri, keyName: key.reader.keyName, accountId: account.id, ...(scope ? { encryptionScope: scope.name } : {}),
        targetVersion: version, force: false, priorAttempts: 0,
      };
      return { job, account: holder };
    }), this.deps);
    if (repair) this.summary.remediationsQueued += targets.length;
  }
}
