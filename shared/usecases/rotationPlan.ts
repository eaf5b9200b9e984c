import type { RotationRequest } from '../domain/requests';
import { describeKey, type KeyPolicy } from '../domain/keys';
import type { AccountStore, Clock, KeyStore, PinStore } from '../ports';
import { optedOut, optedOutReason, type KeyBindingTarget } from './bindingDiscovery';
import { preflightBinding, type PreflightDeps } from './keyAccess';
import { copiedProblems } from './keyVersions';
import { ACCOUNT_MISSING, BINDING_GONE, bindingChanged, scopeMissing, VERSIONLESS_SKIP, type Pin } from '../domain/rebind';
import { isVersionless } from '../domain/model';
import type { Plan } from './accountJob';
import { planRebindJob } from './rebind';
import { refuse, type Result } from './refusals';
import { requestedRebind, rotationTargets, type TargetDeps } from './rotationTargets';

/** What a plan reads, and nothing that writes: the API's dry run and the CLI's plan alike. */
export type PlanDeps = TargetDeps & PreflightDeps & { keys: KeyStore; pins: PinStore; policy: KeyPolicy; clock: Clock };

export interface PlanLine {
  accountId: string;
  encryptionScope?: string;
  fromVersion?: string;
  toVersion?: string;
  decision: 'patch' | 'skipped' | 'already-current' | 'refused';
  reason?: string;
}

/**
 * POST /api/rotations with dryRun (and the CLI's plan): each binding's line is the worker's own plan for the very
 * job the request would queue (planRebindJob); nothing is written or queued.
 */
export async function planRotation(req: RotationRequest, actor: string, deps: PlanDeps): Promise<Result<PlanLine[]>> {
  const targets = await rotationTargets(req, deps);
  if (!targets.ok) return targets;
  const { vaultUri, keyName, targets: bindings } = targets.value;
  if (req.keyVersion && !(await deps.keys.getKeyVersion(vaultUri, keyName, req.keyVersion))) {
    return refuse('key-version-not-found', `Key ${keyName} has no version ${req.keyVersion}`, 'keyVersion');
  }
  const origin = { jobId: DRY_RUN_JOB, createdAt: deps.clock.now().toISOString(), actor };
  const copied = req.rotateKey ? await rotationCopies(deps, { vaultUri, keyName }) : undefined;
  const lines: PlanLine[] = [];
  for (const found of bindings) {
    // A scope found through the index is as the last sweep saw it, with its account's id and tags only: the account
    // and the scope are read, as the worker reads them before it decides. A rotateKey line is judged on the account as
    // ARM has it too, as the request's check judges it (noBindingTakesRotation): discovery's copy may lag.
    const target = found.scope || req.rotateKey ? await asArmHasIt(found, deps.accounts) : found;
    const { scope, holder } = 'skipped' in target ? found : target;
    const which = { accountId: found.account.id, ...(scope ? { encryptionScope: scope.name } : {}), ...(holder.binding.keyVersion ? { fromVersion: holder.binding.keyVersion } : {}) };
    if ('skipped' in target) {
      lines.push({ ...which, decision: 'skipped', reason: target.skipped });
      continue;
    }
    const { account } = target;
    if (req.rotateKey) {
      lines.push({ ...which, ...(await rotateKeyLine(target, !!req.accountId, deps, copied)) });
      continue;
    }
    const job = requestedRebind(req, { vaultUri, keyName, targetVersion: req.keyVersion }, target, origin);
    const pin = await deps.pins.get(account.id, scope?.name);
    const { plan, target: version } = await planRebindJob(job, { account, scope }, pin, deps);
    lines.push({ ...which, ...planLine(plan, pin, version?.version) });
  }
  return { ok: true, value: lines };
}

/**
 * A rotateKey job's plan before its version exists: the worker leaves a versionless binding alone (rotateKey names no
 * version), and an opted-out account unless the request named it, and refuses where its preflight would, which does
 * not depend on the version; rule 2 waits for the version.
 */
export async function rotateKeyLine(
  target: KeyBindingTarget, accountNamed: boolean, deps: PreflightDeps & { optOutTag: string },
  /** Rule 2's reasons the new version would copy from the key's current version (rotationCopies). */
  copied?: string,
): Promise<Pick<PlanLine, 'decision' | 'reason'>> {
  const { binding } = target.holder;
  // In the worker's order: the tag first (an opted-out account's versionless binding follows nothing).
  if (!accountNamed && optedOut(target.account, deps.optOutTag)) return { decision: 'skipped', reason: optedOutReason(deps.optOutTag) };
  // Before the versionless skip: the request then refuses the rotation whatever its bindings, versionless ones too.
  if (copied) return { decision: 'refused', reason: copied };
  if (isVersionless(binding)) return { decision: 'skipped', reason: VERSIONLESS_SKIP };
  const check = await preflightBinding(target.account, binding, deps);
  if (!check.ok) return { decision: 'refused', reason: check.reason };
  return { decision: 'patch', reason: `rotateKey: a new version would be created and bound; the identity can use key ${binding.keyName}, and the new version is checked once it exists` };
}

/**
 * Why a rotateKey request is refused before Key Vault makes the version: no binding would take it (the preflight
 * refuses it, its account opted out or is gone). Undefined once one binding could take it, or follows it (versionless).
 */
export async function noBindingTakesRotation(
  targets: KeyBindingTarget[], accountNamed: boolean, deps: PreflightDeps & { accounts: AccountStore; optOutTag: string },
): Promise<string | undefined> {
  const refusals: string[] = [];
  for (const found of targets) {
    // Judged on the account as ARM has it, as the worker judges it: discovery's copy may lag (an identity just
    // enabled, a tag just set) or, for a scope found through the index, hold no identity at all.
    const target = await asArmHasIt(found, deps.accounts);
    const line = 'skipped' in target ? { decision: 'skipped', reason: target.skipped } : await rotateKeyLine(target, accountNamed, deps);
    if (line.decision === 'patch' || line.reason === VERSIONLESS_SKIP) return undefined;
    refusals.push(`${found.account.name}${found.scope ? ` scope ${found.scope.name}` : ''}: ${line.reason ?? ''}`);
  }
  if (!refusals.length) return undefined;
  const more = refusals.length > SHOWN_REFUSALS ? `; and ${refusals.length - SHOWN_REFUSALS} more (the dry run lists each)` : '';
  return `no binding could take a new version, so the key is not rotated: ${refusals.slice(0, SHOWN_REFUSALS).join('; ')}${more}`;
}

/**
 * What a new version of the key would copy from its current version (type, size, operations) that rule 2 refuses:
 * no binding could take it, and a rotation cannot be undone. Undefined when the copy would pass.
 */
export async function rotationCopies(
  deps: { keys: KeyStore; policy: KeyPolicy; clock: Clock }, key: { vaultUri: string; keyName: string },
): Promise<string | undefined> {
  const current = await deps.keys.getKeyVersion(key.vaultUri, key.keyName);
  const copied = current ? copiedProblems(current, deps.policy, deps.clock.now()) : [];
  return current && copied.length ? `${copied.join(', ')} (a new version copies them from the current version ${describeKey(current)})` : undefined;
}

/** The binding with its account, and its scope, as ARM has them now; when either is gone, why the worker skips it. */
async function asArmHasIt(target: KeyBindingTarget, accounts: AccountStore): Promise<KeyBindingTarget | { skipped: string }> {
  const [account, scope] = await Promise.all([
    accounts.getAccount(target.account.id),
    target.scope ? accounts.getEncryptionScope(target.account.id, target.scope.name) : undefined,
  ]);
  if (!account) return { skipped: ACCOUNT_MISSING };
  if (target.scope && !scope) return { skipped: scopeMissing(target.scope.name) };
  // Rule 1, as the worker applies it first: a binding moved to another key (or off Key Vault) since it was found is skipped.
  const now = scope ?? account;
  const changed = bindingChanged(now, target.holder.binding);
  if (changed || !now.binding) return { skipped: changed ?? BINDING_GONE };
  return { ...target, account, ...(scope ? { scope } : {}), holder: { ...now, binding: now.binding } };
}

/** A refusal's detail names this many bindings' reasons at most: a key may be bound to hundreds. */
const SHOWN_REFUSALS = 10;

/** The jobId of the job a dry run plans; never queued. */
const DRY_RUN_JOB = 'dry-run';

/** A worker's plan as a dry run's line: its decision, the version it binds (or would have aimed at), its reason and pin. */
export function planLine(plan: Plan, pin: Pin | undefined, aimedAt: string | undefined): Pick<PlanLine, 'toVersion' | 'decision' | 'reason'> {
  const to = plan.action === 'patch' ? plan.to : aimedAt;
  const reason = [plan.reason, pinNote(plan, pin)].filter(Boolean).join('; ');
  return { ...(to ? { toVersion: to } : {}), decision: plan.action === 'patch' ? 'patch' : plan.status, ...(reason ? { reason } : {}) };
}

/** What the job would do to the binding's pin, as the worker applies it (a refused or skipped job changes none). */
function pinNote(plan: Plan, pin: Pin | undefined): string | undefined {
  const effect = plan.pin;
  if (!effect || (plan.action === 'none' && (plan.status === 'refused' || plan.status === 'skipped'))) return undefined;
  if ('release' in effect) return pin ? `would release the pin to ${pin.keyVersion} set by ${pin.actor}` : undefined;
  return `would pin to ${effect.set.keyVersion}`;
}
