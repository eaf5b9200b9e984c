import type { DisableCmkJob, SwitchKeyJob } from '../domain/jobs';
import { vaultHost } from '../domain/keys';
import { cmkDisableRefusal } from '../domain/kinds';
import { isVersionless } from '../domain/model';
import type { Logger } from '../ports';
import { runAccountJob, type AccountJobDeps, type JobOutcome } from './accountJob';
import { releasesPin } from './jobPin';
import { preflightKey, type PreflightDeps } from './keyAccess';
import { switchTarget } from './keyVersions';

/**
 * Moves an account to another key in the SAME vault, at that key's newest usable version; a versionless binding
 * stays versionless, on the new key (§2a: the owner's choice). A person's act: it releases a pin.
 */
export function runSwitchKey(job: SwitchKeyJob, dequeueCount: number, deps: AccountJobDeps & PreflightDeps, log: Logger): Promise<JobOutcome> {
  return runAccountJob(job, dequeueCount, deps, log, {
    pin: releasesPin,
    async plan({ account }) {
      const binding = account.binding;
      if (account.keySource !== 'Microsoft.KeyVault' || !binding) {
        return { action: 'none', status: 'skipped', reason: 'binding-changed: account no longer uses a Key Vault key' };
      }
      if (vaultHost(binding.vaultUri) !== vaultHost(job.vaultUri)) {
        return { action: 'none', status: 'skipped', reason: `binding-changed: account is bound to vault ${binding.vaultUri}, not ${job.vaultUri}` };
      }
      const versionless = isVersionless(binding);
      const target = await switchTarget(deps.keys, { vaultUri: binding.vaultUri, keyName: job.keyName, versionless }, deps.policy, deps.clock.now());
      if ('problem' in target) return { action: 'none', status: 'refused', reason: `no-usable-version: ${target.problem}` };
      // A versionless binding names no version: the account then uses the key's current version.
      const keyVersion = versionless ? '' : target.version.version;
      if (binding.keyName.toLowerCase() === job.keyName.toLowerCase() && binding.keyVersion.toLowerCase() === keyVersion.toLowerCase()) {
        return { action: 'none', status: 'already-current', reason: `already bound to ${bindingText(job.keyName, keyVersion)}` };
      }
      // RBAC may grant one key and not another: the identity must be able to use the new key.
      const check = await preflightKey(account, { vaultUri: binding.vaultUri, keyName: job.keyName }, deps);
      if (!check.ok) return { action: 'none', status: 'refused', reason: check.reason };
      return {
        action: 'patch',
        // Only the key changes: the vault URI and identity go back as they were.
        change: { keySource: 'Microsoft.KeyVault', binding: { ...binding, keyName: job.keyName, keyVersion } },
        from: binding.keyVersion,
        // '' for a versionless binding: the row's toVersion says no version rather than keeping an earlier attempt's.
        to: keyVersion,
        keyName: job.keyName,
        reason: `switch-key from ${binding.keyName}${versionless ? `, versionless (the account uses ${job.keyName}'s current version, ${target.version.version})` : ''}`,
      };
    },
    // A plan (or an earlier intent) without a version is a versionless binding's.
    missing(account, plan) {
      const b = account.binding;
      const keyVersion = plan.to ?? '';
      if (b?.keyName.toLowerCase() === plan.keyName.toLowerCase() && b.keyVersion.toLowerCase() === keyVersion.toLowerCase()) return undefined;
      return `the account reports ${b ? bindingText(b.keyName, b.keyVersion) : 'no key'}, not ${bindingText(plan.keyName, keyVersion)}`;
    },
  });
}

/** A binding as the ledger's reasons name it. */
function bindingText(keyName: string, keyVersion: string): string {
  return keyVersion ? `${keyName}/${keyVersion}` : `${keyName} (versionless)`;
}

/** Moves an account back to Microsoft-managed keys (a person confirmed it by name; it releases a pin). */
export function runDisableCmk(job: DisableCmkJob, dequeueCount: number, deps: AccountJobDeps, log: Logger): Promise<JobOutcome> {
  return runAccountJob(job, dequeueCount, deps, log, {
    pin: releasesPin,
    async plan({ account }) {
      if (account.keySource !== 'Microsoft.KeyVault') {
        return { action: 'none', status: 'already-current', reason: 'account already uses Microsoft-managed keys' };
      }
      const refusal = cmkDisableRefusal(account.kind);
      if (refusal) return { action: 'none', status: 'refused', reason: `cmk-disable-unsupported: ${refusal}` };
      return {
        action: 'patch',
        change: { keySource: 'Microsoft.CognitiveServices' },
        ...(account.binding ? { from: account.binding.keyVersion } : {}),
        keyName: account.binding?.keyName ?? job.keyName,
        reason: 'disable-cmk: moved to Microsoft-managed keys',
      };
    },
    missing: (account) => (account.keySource === 'Microsoft.KeyVault' ? 'the account still reports keySource Microsoft.KeyVault' : undefined),
  });
}
