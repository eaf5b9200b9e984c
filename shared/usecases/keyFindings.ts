import { evaluateAccount, type Finding, type FindingCode } from '../domain/findings';
import type { FanOutJob } from '../domain/jobs';
import type { KeyPolicy } from '../domain/keys';
import type { AccountState } from '../domain/model';
import { bindingChanged } from '../domain/rebind';
import { bindingsTo, evaluateScope, type BoundTarget } from '../domain/scopes';
import type { AccountStore, Clock, FindingStore, KeyStore, Logger } from '../ports';
import { KeyReader } from './keyViews';

export interface KeyFindingDeps {
  keys: KeyStore;
  findings: FindingStore;
  policy: KeyPolicy;
  nearExpiryDays: number;
  clock: Clock;
  /** A scope found through the scope index is as the last sweep saw it: it is read again before it is judged. */
  accounts: AccountStore;
}

/** The codes an event's verdict on the key may change; the sweep owns the others. */
const KEY_CODES: ReadonlySet<FindingCode> = new Set(['key-near-expiry', 'key-expired', 'key-disabled', 'key-missing', 'key-access-denied']);

/** notify / expired: re-read the key (never trust the event) and record what it says about each bound account. */
export async function recordKeyFindings(job: FanOutJob, accounts: AccountState[], deps: KeyFindingDeps, log: Logger): Promise<void> {
  if (!accounts.length) return;
  const now = deps.clock.now();
  const key = new KeyReader(deps.keys, job.vaultUri, job.keyName, deps.policy, now);
  for (const account of accounts) {
    const findings: Finding[] = [];
    for (const { holder, scope } of await asArmHasThem(bindingsTo(account, job), job, deps.accounts)) {
      const input = {
        account, key: await key.view(holder.binding.keyVersion), vault: { status: 'error', reason: 'not read for an event' } as const,
        policy: deps.policy, nearExpiryDays: deps.nearExpiryDays, now,
      };
      findings.push(...(scope ? evaluateScope(input, scope) : evaluateAccount(input)).filter((f) => KEY_CODES.has(f.code)));
    }
    await deps.findings.upsert(account.id, findings, job.eventId ?? job.jobId, now.toISOString());
    for (const f of findings.filter((f) => f.severity === 'critical')) {
      log.event('finding.critical', { jobId: job.jobId, accountId: account.id, accountName: account.name, encryptionScope: f.encryptionScope, code: f.code, remedy: f.remedy });
    }
  }
  log.event('key-findings.recorded', { jobId: job.jobId, action: job.action, keyName: job.keyName, accounts: accounts.length });
}

/** The bindings with each scope as ARM has it now: one deleted, or no longer bound to the key, is left out. */
async function asArmHasThem(targets: BoundTarget[], key: { vaultUri: string; keyName: string }, accounts: KeyFindingDeps['accounts']): Promise<BoundTarget[]> {
  const now: BoundTarget[] = [];
  for (const target of targets) {
    if (!target.scope) {
      now.push(target);
      continue;
    }
    const scope = await accounts.getEncryptionScope(target.scope.accountId, target.scope.name);
    if (scope?.binding && !bindingChanged(scope, key)) now.push({ holder: { ...scope, binding: scope.binding }, scope });
  }
  return now;
}
