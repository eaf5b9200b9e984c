import assert from 'node:assert/strict';
import type { RebindJob } from '../../shared/domain/jobs';
import { DependencyError } from '../../shared/errors';
import { runRebind } from '../../shared/usecases/rebind';
import { boundAccount, hex, keyVersion, rebindDeps, silentLogger, VAULT } from './fakes';

// The account job's tests share two key versions, one account and one job, changed one part at a time.
export const now = new Date('2026-06-01T00:00:00Z');
export const v1 = keyVersion(hex(1), { createdOn: new Date('2026-01-01T00:00:00Z') });
export const v2 = keyVersion(hex(2), { createdOn: new Date('2026-03-01T00:00:00Z') });

/** Fakes with key versions v1 and v2 (v2 current) and account a1 bound to `version`. */
export function boundTo(version: string, over: Partial<Parameters<typeof boundAccount>[2]> = {}) {
  const deps = rebindDeps();
  deps.keys.add(v1, v2);
  deps.accounts.put(boundAccount('a1', version, over));
  return deps;
}

export function job(over: Partial<RebindJob> = {}): RebindJob {
  return {
    kind: 'rebind', jobId: 'job-00000001', trigger: 'event', createdAt: now.toISOString(), vaultUri: VAULT, keyName: 'cmk',
    accountId: boundAccount('a1', v1.version).id, targetVersion: v2.version, force: false, priorAttempts: 0, ...over,
  };
}

/** A person's job: manual, with an actor. */
export const manual = (over: Partial<RebindJob>): RebindJob => job({ trigger: 'manual', actor: 'alice@contoso.com', jobId: 'job-manual-01', ...over });

export const rowOf = (deps: ReturnType<typeof boundTo>, jobId = job().jobId) => deps.journal.rows.get(`${job().accountId.toLowerCase()}|${jobId}`);

export const unavailable = (message: string, facts: Partial<ConstructorParameters<typeof DependencyError>[2]> = {}) =>
  new DependencyError('ServiceUnavailable', message, { retryable: true, statusCode: 503, ...facts });

/** ARM answers the job's first read of the account, and none after it until the returned function is called. */
export function armDownAfterFirstRead(deps: ReturnType<typeof boundTo>): () => void {
  const get = deps.accounts.getAccount.bind(deps.accounts);
  let reads = 0;
  deps.accounts.getAccount = async (id) => {
    reads += 1;
    if (reads > 1) throw unavailable('ARM is down');
    return get(id);
  };
  return () => {
    deps.accounts.getAccount = get;
  };
}

/** Once, right after the next journal read (before that job reads the account), `meanwhile` runs: another delivery, say. */
export function afterNextJournalRead(deps: ReturnType<typeof boundTo>, meanwhile: () => Promise<unknown>): void {
  const open = deps.journal.open.bind(deps.journal);
  let first = true;
  deps.journal.open = async (...args) => {
    const state = await open(...args);
    if (first) {
      first = false;
      await meanwhile();
    }
    return state;
  };
}

/** Attempt 1 of `first` writes its intent and ARM refuses its PATCH (429, not applied): the row stays running. */
export async function intentThen429(deps: ReturnType<typeof boundTo>, first = job()): Promise<void> {
  const patch = deps.accounts.updateEncryption.bind(deps.accounts);
  deps.accounts.updateEncryption = async () => {
    throw unavailable('429 on the PATCH', { notApplied: true, statusCode: 429 });
  };
  await runRebind(first, 1, deps, silentLogger());
  assert.equal(rowOf(deps, first.jobId)?.status, 'running');
  deps.accounts.updateEncryption = patch;
}

/** Another delivery of the job holds the account's lease, `ms` more from now. */
export function otherDeliveryHolds(deps: ReturnType<typeof boundTo>, jobId = job().jobId, ms = 20_000): void {
  deps.journal.leases.set(job().accountId.toLowerCase(), { holder: `${jobId}:other-delivery`, expiresAt: new Date(now.getTime() + ms).toISOString(), etag: 'x' });
}

/** Attempt 1 sends the PATCH, which takes effect, but the account cannot be read back: the row stays running. */
export async function sentButUnconfirmed(deps: ReturnType<typeof boundTo>, first = job()): Promise<void> {
  const armBack = armDownAfterFirstRead(deps);
  const result = await runRebind(first, 1, deps, silentLogger());
  assert.equal(result.outcome, 'deferred');
  assert.equal(rowOf(deps, first.jobId)?.status, 'running');
  armBack();
}
