import type { DisableCmkJob, SwitchKeyJob } from '../domain/jobs';
import { vaultHost } from '../domain/keys';
import { cmkDisableRefusal } from '../domain/kinds';
import type { Logger } from '../ports';
import { runAccountJob, type AccountJobDeps, type JobOutcome } from './accountJob';
import { releasesPin } from './jobPin';
import { preflightKey, type PreflightDeps } from './keyAccess';
import { newestUsableVersion } from './keyVersions';

/** Moves an account to another key in the SAME vault, at that key's newest usable version (a person's act: it releases a pin). */
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
      const { version: target } = await newestUsableVersion(deps.keys, binding.vaultUri, job.keyName, deps.policy, deps.clock.now());
      if (!target) return { action: 'none', status: 'refused', reason: `no-usable-version: key ${job.keyName} has no version that passes preflight` };
      if (binding.keyName.toLowerCase() === job.keyName.toLowerCase() && binding.keyVersion.toLowerCase() === target.version.toLowerCase()) {
        return { action: 'none', status: 'already-current', reason: `already bound to ${job.keyName}/${target.version}` };
      }
      // RBAC may grant one key and not another: the identity must be able to use the new key.
      const check = await preflightKey(account, { vaultUri: binding.vaultUri, keyName: job.keyName }, deps);
      if (!check.ok) return { action: 'none', status: 'refused', reason: check.reason };
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
    missing(account, plan) {
      const b = account.binding;
      if (b?.keyName.toLowerCase() === plan.keyName.toLowerCase() && b.keyVersion.toLowerCase() === plan.to?.toLowerCase()) return undefined;
      return `the account reports ${b ? `${b.keyName}/${b.keyVersion}` : 'no key'}, not ${plan.keyName}/${plan.to}`;
    },
  });
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
