import type { RotationRequest } from '../http/schemas';
import type { KeyPolicy } from '../domain/keys';
import type { Clock, KeyStore, PinStore } from '../ports';
import type { PreflightDeps } from './keyAccess';
import { planRebind } from './rebind';
import { refuse, type Result } from './refusals';
import { rotationTargets, type TargetDeps } from './rotationTargets';

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

/** POST /api/rotations with dryRun: what each account's job would decide now, by the worker's own planner; nothing is written or queued. */
export async function planRotation(req: RotationRequest, deps: PlanDeps): Promise<Result<PlanLine[]>> {
  const targets = await rotationTargets(req, deps);
  if (!targets.ok) return targets;
  const { vaultUri, keyName, targets: bindings } = targets.value;
  if (req.keyVersion && !(await deps.keys.getKeyVersion(vaultUri, keyName, req.keyVersion))) {
    return refuse('key-version-not-found', `Key ${keyName} has no version ${req.keyVersion}`, 'keyVersion');
  }
  const lines: PlanLine[] = [];
  for (const { account, scope, holder } of bindings) {
    const from = holder.binding.keyVersion;
    const which = { accountId: account.id, ...(scope ? { encryptionScope: scope.name } : {}) };
    if (req.rotateKey) {
      lines.push({ ...which, ...(from ? { fromVersion: from } : {}), decision: 'patch', reason: 'rotateKey: a new version would be created and bound' });
      continue;
    }
    const ask = { vaultUri, keyName, targetVersion: req.keyVersion, force: req.force ?? false, trigger: 'manual' as const, versionNamed: !!req.keyVersion };
    const { decision, target } = await planRebind(ask, { account, scope }, await deps.pins.get(account.id, scope?.name), deps);
    lines.push({
      ...which,
      ...(from ? { fromVersion: from } : {}),
      ...(target ? { toVersion: target.version } : {}),
      decision: decision.action === 'patch' ? 'patch' : decision.status,
      ...(decision.action === 'none' ? { reason: decision.reason } : decision.downgrade ? { reason: 'forced downgrade; the account would be pinned' } : {}),
    });
  }
  return { ok: true, value: lines };
}
