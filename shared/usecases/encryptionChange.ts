import type { DisableCmkJob, SwitchKeyJob } from '../domain/jobs';
import { vaultHost } from '../domain/keys';
import { verifyProvisioned } from '../domain/rebind';
import type { Logger } from '../ports';
import { runAccountJob, type AccountJobDeps, type JobOutcome } from './accountJob';
import { newestUsableVersion } from './keyVersions';

/** Moves an account to another key in the SAME vault, at that key's newest usable version. */
export function runSwitchKey(job: SwitchKeyJob, attempt: number, deps: AccountJobDeps, log: Logger): Promise<JobOutcome> {
  return runAccountJob(job, attempt, deps, log, {
    async plan(account) {
      const binding = account.binding;
      if (account.keySource !== 'Microsoft.KeyVault' || !binding) {
        return { action: 'none', status: 'skipped', reason: 'binding-changed: account no longer uses a Key Vault key' };
      }
      if (vaultHost(binding.vaultUri) !== vaultHost(job.vaultUri)) {
        return { action: 'none', status: 'skipped', reason: `binding-changed: account is bound to vault ${binding.vaultUri}, not ${job.vaultUri}` };
      }
      const target = await newestUsableVersion(deps.keys, binding.vaultUri, job.keyName, deps.policy, deps.clock.now());
      if (!target) return { action: 'none', status: 'refused', reason: `no-usable-version: key ${job.keyName} has no version that passes preflight` };
      if (binding.keyName.toLowerCase() === job.keyName.toLowerCase() && binding.keyVersion.toLowerCase() === target.version.toLowerCase()) {
        return { action: 'none', status: 'already-current', reason: `already bound to ${job.keyName}/${target.version}` };
      }
      return {
        action: 'patch',
        // Only the key changes: the vault URI and identity go back as they were.
        change: { keySource: 'Microsoft.KeyVault', binding: { ...binding, keyName: job.keyName, keyVersion: target.version } },
        from: binding.keyVersion,
        to: target.version,
        keyName: job.keyName,
        reason: `switch-key from ${binding.keyName}`,
      };
    },
    verify(account, plan) {
      const b = account?.binding;
      if (b?.keyName.toLowerCase() !== plan.keyName.toLowerCase() || b.keyVersion.toLowerCase() !== plan.to?.toLowerCase()) {
        return { ok: false, reason: `account reports ${b ? `${b.keyName}/${b.keyVersion}` : 'no key'} after update, expected ${plan.keyName}/${plan.to}` };
      }
      return verifyProvisioned(account);
    },
  });
}

/** Moves an account back to Microsoft-managed keys (a person confirmed it by name). */
export function runDisableCmk(job: DisableCmkJob, attempt: number, deps: AccountJobDeps, log: Logger): Promise<JobOutcome> {
  return runAccountJob(job, attempt, deps, log, {
    async plan(account) {
      if (account.keySource !== 'Microsoft.KeyVault') {
        return { action: 'none', status: 'already-current', reason: 'account already uses Microsoft-managed keys' };
      }
      return {
        action: 'patch',
        change: { keySource: 'Microsoft.CognitiveServices' },
        ...(account.binding ? { from: account.binding.keyVersion } : {}),
        keyName: account.binding?.keyName ?? job.keyName,
        reason: 'disable-cmk: moved to Microsoft-managed keys',
      };
    },
    verify(account) {
      if (account?.keySource === 'Microsoft.KeyVault') return { ok: false, reason: 'account still reports keySource Microsoft.KeyVault' };
      return verifyProvisioned(account);
    },
  });
}
