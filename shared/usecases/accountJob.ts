import { ledgerRow, scopeOf, type AccountJob } from '../domain/jobs';
import { finalStatuses, OUTCOME_UNKNOWN, type BindingHolder, type RotationRecord, type RotationStatus } from '../domain/model';
import { ACCOUNT_MISSING, isSettled, readBack, readBackReason, scopeMissing, verifiedNote, type ReadBack } from '../domain/rebind';
import { pick } from '../domain/records';
import { asDependencyError, DependencyError, dependencyErrorOrUndefined, failureReason } from '../errors';
import type { JournalState, Lease, Logger, UpdateVerdict } from '../ports';
import { JobPin } from './jobPin';
import { JobJournal } from './jobJournal';
import { LeaseKeeper } from './leaseKeeper';
import type { AccountJobDeps, AccountJobSteps, JobOutcome, PatchPlan, Plan } from './accountJobTypes';
import { backoff } from './retry';

export type { AccountJobDeps, AccountJobSteps, JobOutcome, PatchPlan, Plan } from './accountJobTypes';

/**
 * DESIGN §2 rules 6-7 for any change to one account: read the journal, the account and its pin together,
 * plan, take the lease and record the intent in one write, PATCH, follow the operation, read the account
 * back, record the outcome and release the lease in one write. Retryable trouble re-queues the job with
 * back-off and its attempt count; a row says `failed` only when the account is known not to have moved.
 */
export async function runAccountJob(job: AccountJob, dequeueCount: number, deps: AccountJobDeps, log: Logger, steps: AccountJobSteps): Promise<JobOutcome> {
  const run = new AccountJobRun(job, (job.priorAttempts ?? 0) + dequeueCount, deps, log, steps);
  try {
    return await run.run();
  } catch (error) {
    // Up to the host, which delivers the job again: as a new attempt, not one that waits out this one's lease.
    await run.letGo().catch(() => undefined);
    throw error;
  }
}

type Prepared =
  | { step: 'plan'; plan: Plan }
  | { step: 'finished'; record: RotationRecord }
  | { step: 'skip'; reason: string }
  | { step: 'wait'; reason: string };

class AccountJobRun {
  private readonly startedAt: Date;
  private readonly row: RotationRecord;
  /** The encryption scope the job changes, under the account's lease; undefined: the account's own binding. */
  private readonly scope: string | undefined;
  /** The journal as this attempt read it, and the job's row it writes. */
  private readonly journal: JobJournal;
  /** When the target key version was made (the plan read it): the binding lag a verified change reports. */
  private targetCreatedOn: Date | undefined;
  /** The account (or its scope) as this attempt read it, settled, to plan from. */
  private planned: BindingHolder | undefined;
  /** This attempt sent a PATCH: only its own read-back can judge it. */
  private patched = false;
  /** Another holder's live lease: its update, in flight, is judged by nobody else. */
  private heldByOther = false;
  /** Renews the lease while the update runs. */
  private keeper: LeaseKeeper | undefined;
  /** The binding's pin (§2a), settled with the outcome. */
  private readonly pin: JobPin;

  constructor(
    private readonly job: AccountJob,
    private readonly attempt: number,
    private readonly deps: AccountJobDeps,
    private readonly log: Logger,
    private readonly steps: AccountJobSteps,
  ) {
    this.startedAt = deps.clock.now();
    this.row = { ...ledgerRow(job, 'running', attempt), startedAt: this.startedAt.toISOString() };
    this.scope = scopeOf(job);
    this.journal = new JobJournal(deps.journal, job, this.scope, deps.clock);
    this.pin = new JobPin(deps.pins, { accountId: job.accountId, jobId: job.jobId, force: 'force' in job && job.force, scope: this.scope });
    this.pin.effect = steps.pin;
  }

  /**
   * An error goes up to the host: the lease this attempt holds (as last renewed) is released, ETag-guarded and writing
   * no row, so the next delivery is an attempt that counts. A release already made, or a lease taken over, is left.
   */
  async letGo(): Promise<void> {
    const held = this.keeper?.held ?? this.journal.held;
    if (held) await this.deps.journal.release(held);
  }

  async run(): Promise<JobOutcome> {
    let prepared: Prepared;
    try {
      prepared = await this.prepare();
    } catch (error) {
      return this.later(failureReason(error), dependencyErrorOrUndefined(error));
    }
    switch (prepared.step) {
      case 'finished':
        this.log.event('job.already-finished', { jobId: this.job.jobId, accountId: this.job.accountId, status: prepared.record.status });
        return { outcome: 'already-finished', record: prepared.record };
      case 'skip':
        return this.finish('skipped', { reason: prepared.reason });
      case 'wait':
        return this.later(prepared.reason);
      case 'plan':
        break;
    }
    const plan = prepared.plan;
    this.targetCreatedOn = plan.targetCreatedOn;
    this.pin.effect = plan.pin ?? this.steps.pin;
    // Nothing is decided while another job (or another delivery of this one) holds the lease: its update is in flight.
    const heldMs = this.journal.heldFor(this.deps.clock.now());
    if (heldMs !== undefined) return this.leaseHeld(heldMs);
    // Rule 6: a retry that finds the account where an earlier intent aimed records succeeded, whatever it would decide now.
    const seen = this.earlierIntent();
    if (seen?.back.verdict === 'applied') {
      // What this attempt planned is moot: a forced job's pin goes where the earlier update put the account.
      const effect = this.pin.effect;
      if (effect && 'set' in effect && seen.earlier.toVersion) this.pin.effect = { set: { ...effect.set, keyVersion: seen.earlier.toVersion } };
      if (plan.targetVersion?.toLowerCase() !== seen.earlier.toVersion?.toLowerCase()) this.targetCreatedOn = undefined;
      return this.finish('succeeded', {
        reason: `${verifiedNote(seen.earlier.toVersion)}, after ${seen.sent}`,
        ...pick(seen.earlier, ['fromVersion', 'toVersion', 'keyName']),
      });
    }
    // The account reports the earlier update without Succeeded: it moved, and nothing verifies it (the last attempt says so).
    if (seen?.back.verdict === 'unverified') return this.later(`after ${seen.sent}, ${seen.back.reason}`, undefined, undefined, undefined, seen.back);
    if (plan.action === 'none') return this.finish(plan.status, { reason: `${plan.reason}${seen ? `; after ${seen.sent}, ${seen.back.reason}` : ''}` });
    // Delivered again by the host past the last attempt: no further PATCH, only what is known.
    return this.attempt > this.deps.retry.maxAttempts ? this.later('no attempt left for another update') : this.change(plan);
  }

  /**
   * The journal (with the binding's pin), then the account (and the job's scope), then rules 1-5 on what was read.
   * The account is read after the journal, never alongside it: a job that finished and released the lease between
   * the two reads would otherwise leave this one planning from the account as it was before that job's update,
   * with a lease that is free and an etag that still matches (a downgrade under chaos). Read after, the account
   * shows every update whose lease was released before the journal read, and one still running holds the lease.
   */
  private async prepare(): Promise<Prepared> {
    // Kept before the account is read: a failure reading it still writes only over the row as read.
    const state = await this.journal.read();
    const [account, scope] = await Promise.all([
      this.deps.accounts.getAccount(this.job.accountId),
      this.scope ? this.deps.accounts.getEncryptionScope(this.job.accountId, this.scope) : undefined,
    ]);
    const pin = state.pin;
    this.pin.prior = pin;
    if (state.row && finalStatuses.has(state.row.status)) return { step: 'finished', record: state.row };
    if (!account) return { step: 'skip', reason: ACCOUNT_MISSING };
    if (this.scope && !scope) return { step: 'skip', reason: scopeMissing(this.scope) };
    const holder: BindingHolder = scope ?? account;
    // The version before the job's first update: after an intent, the account may already be on its target.
    if (state.row?.intentAt) {
      if (state.row.fromVersion) this.row.fromVersion = state.row.fromVersion;
    } else if (holder.binding?.keyVersion) {
      this.row.fromVersion = holder.binding.keyVersion;
    }
    // A busy account refuses writes to its scopes too (400 AccountProvisioningStateInvalid).
    if (!isSettled(account)) return { step: 'wait', reason: `the account is ${account.provisioningState}: an update is still running` };
    if (scope && !isSettled(scope)) return { step: 'wait', reason: `the encryption scope is ${scope.provisioningState}: an update is still running` };
    this.planned = holder;
    return { step: 'plan', plan: await this.steps.plan({ account, pin, ...(scope ? { scope } : {}) }) };
  }

  /** The binding the job changes: the account's own, or its scope's. */
  private read(): Promise<BindingHolder | undefined> {
    return this.scope ? this.deps.accounts.getEncryptionScope(this.job.accountId, this.scope) : this.deps.accounts.getAccount(this.job.accountId);
  }

  /** Rule 7: a lease held (by another job, or a delivery of this one, alive or not yet expired) is waited out, not an attempt. */
  private leaseHeld(waitMs?: number): Promise<JobOutcome> {
    this.heldByOther = true;
    return this.later('the account lease is held by another job', undefined, waitMs);
  }

  /** An earlier attempt's intent, and where its update stands in the account as this attempt read it. */
  private earlierIntent(): { earlier: RotationRecord; sent: string; back: ReadBack } | undefined {
    const earlier = this.journal.state?.row?.intentAt ? this.journal.state.row : undefined;
    if (!earlier || !this.planned) return undefined;
    const aimed = { keyName: earlier.keyName ?? this.job.keyName, ...(earlier.toVersion ? { to: earlier.toVersion } : {}) };
    return { earlier, sent: `the update sent on attempt ${earlier.intentAttempt ?? '?'}`, back: readBack(this.planned, (h) => this.steps.missing(h, aimed)) };
  }

  /** Rule 6: intent and lease in one write, then the PATCH, then the account read back. */
  private async change(plan: PatchPlan): Promise<JobOutcome> {
    const earlier = this.journal.state?.row?.intentAt ? this.journal.state.row : undefined;
    const intent: Partial<RotationRecord> = {
      keyName: plan.keyName,
      intentAt: earlier?.intentAt ?? this.deps.clock.now().toISOString(),
      intentAttempt: earlier?.intentAttempt ?? this.attempt,
      // After an earlier intent the account may be on its target already: the job's row keeps where it started.
      ...((earlier ? earlier.fromVersion : plan.from) ? { fromVersion: earlier ? earlier.fromVersion : plan.from } : {}),
      ...(plan.to !== undefined ? { toVersion: plan.to } : {}),
      ...(plan.reason ? { reason: plan.reason } : {}),
    };
    let lease: Lease | undefined;
    const holder = `${this.job.jobId}:${this.deps.newId()}`;
    try {
      lease = await this.deps.journal.begin(this.journal.state as JournalState, holder, this.deps.leaseTtlMs, { ...this.row, ...intent, status: 'running' });
      if (lease) {
        // Only a recorded intent is this job's claim that an update may have been sent.
        Object.assign(this.row, intent);
        this.journal.ownsRow = true;
        this.journal.held = lease;
        await this.pin.withIntent();
      }
    } catch (error) {
      lease ??= await this.journal.ifCommitted(holder);
      return this.later(failureReason(error), dependencyErrorOrUndefined(error), undefined, lease);
    }
    if (!lease) return this.leaseHeld();

    const keeper = (this.keeper = new LeaseKeeper(lease, this.deps, this.log, async () => (await this.journal.open()).lease));
    try {
      return await this.sendAndFollow(plan, keeper);
    } catch (error) {
      // A bug: the lease is not renewed for ever.
      await keeper.stop().catch(() => undefined);
      throw error;
    }
  }

  /** The PATCH, the operation and the read-back, under the lease the keeper renews. */
  private async sendAndFollow(plan: PatchPlan, keeper: LeaseKeeper): Promise<JobOutcome> {
    let verdict: UpdateVerdict | undefined;
    let trouble: DependencyError | undefined;
    this.patched = true;
    try {
      verdict = await (this.scope
        ? this.deps.accounts.updateEncryptionScope(this.job.accountId, this.scope, plan.change)
        : this.deps.accounts.updateEncryption(this.job.accountId, plan.change));
    } catch (error) {
      trouble = asDependencyError(error);
    }
    const failed = verdict?.status === 'failed' ? `the operation ended Failed: ${verdict.code}: ${verdict.message}` : undefined;
    const first = verdict?.status === 'succeeded' ? (this.scope ? verdict.scope : verdict.account) : undefined;
    const truth = await this.readBack(plan, first).catch((e: unknown) => (dependencyErrorOrUndefined(e) ? undefined : Promise.reject(e)));
    if (truth?.verdict === 'applied') {
      const note = failed ? `${failed}, yet the account reports the change and Succeeded` : trouble ? `applied, although following the update failed: ${trouble.message}` : verifiedNote(plan.to);
      return this.end(keeper, 'succeeded', plan.reason ? `${plan.reason}; ${note}` : note);
    }
    // The operation's own verdict (rule 6): Failed is final once the account, read back settled, does not report the
    // change; otherwise what the account did is not known, and an update ARM said Failed is not sent again.
    if (failed && truth?.verdict === 'not-applied') return this.end(keeper, 'failed', failed);
    if (failed) return this.outcomeUnknown(`${failed}; ${readBackReason(truth)}`, (this.journal.held = await keeper.stop()));
    if (truth?.verdict === 'not-applied' && trouble?.notApplied && !trouble.retryable) {
      return this.end(keeper, 'failed', `ARM refused the update: ${trouble.code}: ${trouble.message}`);
    }
    const reason = trouble ? failureReason(trouble) : readBackReason(truth);
    return this.later(reason, trouble, undefined, (this.journal.held = await keeper.stop()), truth);
  }

  /** Reads the account until it settles (bounded): the only source of the outcome (rule 6). */
  private async readBack(plan: PatchPlan, first?: BindingHolder): Promise<ReadBack> {
    const missing = (a: BindingHolder): string | undefined => this.steps.missing(a, plan);
    let result = readBack(first ?? (await this.read()), missing);
    for (let i = 0; result.verdict === 'unsettled' && i < this.deps.settle.reads; i++) {
      await this.deps.sleep(this.deps.settle.delayMs * 2 ** i);
      result = readBack(await this.read(), missing);
    }
    return result;
  }

  private async end(keeper: LeaseKeeper, status: RotationStatus, reason: string | undefined): Promise<JobOutcome> {
    const lease = (this.journal.held = await keeper.stop());
    return this.finish(status, reason ? { reason } : {}, lease);
  }

  /**
   * Not now: re-queue with back-off and the attempt count, or, after the last attempt, record what is known:
   * nothing sent means failed; a sent update is judged by the account; an unreadable one stays running, reported.
   */
  private async later(reason: string, trouble?: DependencyError, waitMs?: number, lease?: Lease, truth?: ReadBack): Promise<JobOutcome> {
    // A journal never read cannot say what was sent: its error goes up, and the host delivers the job again.
    const state = await this.journal.read();
    // An attempt that could not plan has not looked at the lease yet: one held means an update in flight, judged by its holder.
    const heldMs = this.journal.ownsRow ? undefined : this.journal.heldFor(this.deps.clock.now());
    if (heldMs !== undefined && !this.heldByOther) return this.leaseHeld(heldMs);
    // The journal as this attempt read it, before any intent of its own: an earlier attempt's intent may have sent one.
    const sent = this.patched || state.row?.intentAt !== undefined;
    // A last attempt that read nothing of an update an earlier one sent leaves it to the host's next delivery to judge.
    if (this.attempt >= this.deps.retry.maxAttempts && sent && !truth && !this.planned && trouble) throw trouble;
    if (this.attempt >= this.deps.retry.maxAttempts && !this.heldByOther) {
      // Without a PATCH of its own, the last attempt judges an earlier one by the account it read (unless one is in flight).
      return this.giveUp(reason, sent, lease, truth ?? (this.patched ? undefined : this.earlierIntent()?.back));
    }
    const delayMs = waitMs ?? backoff(this.attempt, this.deps.retry, trouble?.retryAfterMs);
    const status = sent || this.journal.ownsRow ? 'running' : (state.row?.status ?? 'queued');
    const row = { ...this.row, status, reason: `attempt ${this.attempt}: ${reason}; retrying in ${Math.ceil(delayMs / 1000)} s` };
    // The row before the retry: a retry that starts at once reads it (its own writes then go over it), and one that
    // cannot be queued goes up to the host, which delivers this message again.
    if (!(await this.journal.write(row, lease))) return this.superseded(status);
    await this.deps.queue.enqueue({ ...this.job, priorAttempts: this.heldByOther ? this.attempt - 1 : this.attempt }, { delaySeconds: Math.ceil(delayMs / 1000) });
    this.log.event('rotation.deferred', { ...this.fields(status), reason, delayMs });
    return { outcome: 'deferred', reason };
  }

  private async giveUp(reason: string, sent: boolean, lease: Lease | undefined, truth: ReadBack | undefined): Promise<JobOutcome> {
    const tried = `gave up after ${this.attempt} attempts: ${reason}`;
    if (!sent) return this.finish('failed', { reason: `${tried} (no update was sent)` }, lease);
    if (truth?.verdict === 'applied') return this.finish('succeeded', { reason: `the update took effect; ${tried}` }, lease);
    if (truth?.verdict === 'not-applied') return this.finish('failed', { reason: `${tried}; the account settled without the change (${truth.reason})` }, lease);
    const known = readBackReason(truth);
    return this.outcomeUnknown(reason.endsWith(known) ? tried : `${tried}; ${known}`, lease);
  }

  /** An update that may have been made and cannot be verified: the row stays running, its plan's reason and pin noted; an alert says so. */
  private async outcomeUnknown(reason: string, lease: Lease | undefined): Promise<JobOutcome> {
    const row = { ...this.row, status: 'running' as const, reason: [`${OUTCOME_UNKNOWN}: ${reason}`, this.row.reason, this.pin.note].filter(Boolean).join('; ') };
    if (!(await this.journal.write(row, lease))) return this.superseded(row.status);
    this.log.event('rotation.outcome-unknown', this.fields('running', row));
    return { outcome: 'recorded', record: row };
  }

  /** The one place a job's final row is written and logged; then the pin follows it. */
  private async finish(status: RotationStatus, extra: Partial<RotationRecord>, lease?: Lease): Promise<JobOutcome> {
    // The pin follows the outcome before it is recorded, so that a failure to update it is retried; a delivery that
    // another has superseded leaves it alone.
    if (this.pin.changesWith(status)) {
      // A pin changes only under the lease: a job that read the journal before cannot then take it and act on that read.
      if (!lease && !this.journal.ownsRow) {
        lease = await this.journal.take(`${this.job.jobId}:${this.deps.newId()}`, this.deps.leaseTtlMs, this.row, this.deps.clock.now());
        if (!lease) return (await this.journal.changedSinceRead()) === 'row' ? this.superseded(status) : this.leaseHeld();
      }
      try {
        await this.pin.settle(status);
      } catch (error) {
        // Retried, or on the last attempt up to the host: a pin must follow what is recorded.
        if (!(error instanceof DependencyError) || this.attempt >= this.deps.retry.maxAttempts) throw error;
        return this.later(`updating the pin: ${failureReason(error)}`, error, undefined, lease);
      }
    }
    const finishedAt = this.deps.clock.now();
    const reason = [extra.reason ?? this.row.reason, this.pin.note].filter(Boolean).join('; ');
    const record: RotationRecord = {
      ...this.row, ...extra, status, ...(reason ? { reason } : {}),
      finishedAt: finishedAt.toISOString(), durationMs: finishedAt.getTime() - this.startedAt.getTime(),
    };
    if (!(await this.journal.write(record, lease))) return this.superseded(status);
    // Binding lag: from the target version's creation to the account verified on it; only a verified change has one.
    const lag = status === 'succeeded' && this.targetCreatedOn ? Math.max(0, Math.round((finishedAt.getTime() - this.targetCreatedOn.getTime()) / 100) / 10) : undefined;
    this.log.event('rotation.finished', { ...this.fields(status, record), durationMs: record.durationMs, bindingLagSeconds: lag });
    return { outcome: 'recorded', record };
  }

  /** Another delivery of this job (a duplicate message) wrote its row after this one read it: that one carries it on. */
  private superseded(status: string): JobOutcome {
    this.log.event('job.superseded', { jobId: this.job.jobId, accountId: this.job.accountId, attempt: this.attempt, status });
    return { outcome: 'deferred', reason: 'another delivery of this job wrote its row after this one read it' };
  }

  private fields(status: string, record: RotationRecord = this.row) {
    return {
      jobId: this.job.jobId, parentJobId: 'parentJobId' in this.job ? this.job.parentJobId : undefined, kind: this.job.kind, trigger: this.job.trigger, accountId: this.job.accountId,
      encryptionScope: this.scope, vaultUri: this.job.vaultUri, keyName: record.keyName, attempt: this.attempt, status, from: record.fromVersion, to: record.toVersion, reason: record.reason,
    };
  }
}
