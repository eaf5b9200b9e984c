// Compliance findings: what the sweep read of one account, its key and its vault, judged against DESIGN §2 and §4.
import { identityTypes, keyIdentity, proveKeyAccess, type GrantsView } from './access';
import { isManagedHsmUri, keyShapeProblem, unusableReasons, type KeyPolicy, type VersionOrder } from './keys';
import { MANAGED_HSM_KINDS, managedHsmSupported, userAssignedKeyIdentity } from './kinds';
import { isVersionless, type AccountState, type KeyBinding, type KeyVersionInfo, type VaultInfo } from './model';
import type { Pin } from './rebind';

export type Severity = 'critical' | 'warning' | 'info';

export type FindingCode =
  | 'version-drift' | 'key-near-expiry' | 'key-expired' | 'key-disabled' | 'key-missing' | 'key-access-denied'
  | 'unsupported-key' | 'vault-not-recoverable' | 'identity-missing' | 'identity-not-system-assigned' | 'region-mismatch'
  | 'tenant-mismatch' | 'access-missing' | 'access-unverifiable' | 'provisioning-failed' | 'vault-unreadable' | 'pinned'
  | 'versionless-binding' | 'managed-hsm-kind-unsupported';

type Evidence = Record<string, string | number | boolean | null>;

export interface Finding {
  code: FindingCode;
  /** The account's encryption scope the finding is about; absent for the account's own binding. */
  encryptionScope?: string;
  severity: Severity;
  /** The values read that led to the finding. */
  evidence: Evidence;
  /** One line: what a person should do. */
  remedy: string;
}

/** What the sweep read of the bound key, once per key. */
export type KeyView =
  | {
      status: 'ok';
      /** The bound version read in full; undefined if that version no longer exists. */
      bound: KeyVersionInfo | undefined;
      newestUsable: KeyVersionInfo | undefined;
      /** The key's current version, the one "latest" names (what a versionless binding is checked against). */
      current?: KeyVersionInfo | undefined;
      /** DESIGN §2 rule 3's order of this key's versions. */
      order: VersionOrder;
    }
  | { status: 'missing' }
  | { status: 'access-denied' };

export type VaultView = { status: 'ok'; vault: VaultInfo } | { status: 'not-found' } | { status: 'error'; reason: string };

/** Severity of every code and why; critical = data access at risk now, warning = will break or violates the Azure doc. */
export const FINDING_RULES: Readonly<Record<FindingCode, { severity: Severity; why: string }>> = {
  'key-missing': { severity: 'critical', why: "a key or version that does not exist cannot unwrap the account's data encryption key" },
  'key-disabled': { severity: 'critical', why: 'Key Vault refuses every operation on a disabled version, so the account loses its data' },
  'key-expired': { severity: 'critical', why: 'past exp the key must not be used for crypto; a service that re-checks it (SQL TDE does) loses access' },
  'access-missing': { severity: 'critical', why: 'without get, wrapKey and unwrapKey (access policy or role) the identity cannot unwrap; the Azure doc says data becomes inaccessible' },
  'identity-missing': { severity: 'critical', why: 'no identity means nothing can reach the vault; the doc says disabling it makes data inaccessible' },
  'tenant-mismatch': { severity: 'critical', why: 'a vault authorises only principals of its own tenant, so an identity from another tenant cannot unwrap' },
  'provisioning-failed': { severity: 'critical', why: 'a Failed account usually means its last encryption change could not use the key' },
  'key-access-denied': { severity: 'warning', why: "the 403 is the rotator's own identity: rotation will fail, but it says nothing of the account's access" },
  'key-near-expiry': { severity: 'warning', why: 'the binding works today and breaks at expiry unless a newer version is bound first' },
  'version-drift': { severity: 'warning', why: 'the old version still works, but the Azure OpenAI doc requires rebinding after rotation' },
  'unsupported-key': { severity: 'warning', why: 'the binding works, but the Azure OpenAI doc supports RSA 2048 only and rule 2 refuses it as a target' },
  'vault-not-recoverable': { severity: 'warning', why: 'works today, but a purge would lose the data for good; the doc requires soft delete and purge protection' },
  'identity-not-system-assigned': { severity: 'warning', why: "the key is read by a user-assigned identity (or none), which the kind's CMK doc does not support (AIServices does)" },
  'managed-hsm-kind-unsupported': { severity: 'warning', why: 'Microsoft supports CMK in Managed HSM only for AI Foundry, Azure OpenAI, Speech, Translator and Face' },
  'region-mismatch': { severity: 'warning', why: "the doc requires the vault in the account's region; a cross-region binding may stop being accepted" },
  'vault-unreadable': { severity: 'warning', why: 'four preconditions went unchecked and only a person can fix the subscription list or the discovery reader role' },
  'access-unverifiable': { severity: 'warning', why: "the rotator's own identity may not read role assignments, so the access check is not made rather than guessed" },
  pinned: { severity: 'info', why: "a person pinned the account to a version (a rollback); events and sweeps leave it there until a person releases it" },
  'versionless-binding': { severity: 'info', why: 'no key version is named ("latest"): the owner\'s choice, never pinned silently; Azure shows no version in use' },
};

export const FINDING_CODES = Object.keys(FINDING_RULES) as FindingCode[];

export const SEVERITIES: readonly Severity[] = ['critical', 'warning', 'info'];

const DAY_MS = 86_400_000;

export interface AccountEvaluation {
  account: AccountState;
  /** A person's pin (§2a): reported, and drift is then not a finding. */
  pin?: Pin | undefined;
  key: KeyView;
  vault: VaultView;
  /** RBAC vaults and Managed HSMs: the account identity's role grants, as read for the access proof. */
  grants?: GrantsView | undefined;
  policy: KeyPolicy;
  nearExpiryDays: number;
  now: Date;
}

/** What the findings of a binding's key need: the same for every account bound the same way. */
export type BindingEvaluation = Pick<AccountEvaluation, 'key' | 'vault' | 'policy' | 'nearExpiryDays' | 'now'> & {
  binding: KeyBinding | undefined;
  pinned: boolean;
};

/**
 * The findings of the bound key and its vault's recoverability: they follow from the binding as written (vault URI,
 * key name, version), the key and vault read, and whether a pin holds it, not from the account. A sweep judging
 * thousands of accounts on a few bindings makes them once per binding, and the accounts share them.
 */
export function bindingFindings(input: BindingEvaluation): Finding[] {
  return [
    ...keyFindings(input).filter((f) => !(input.pinned && f.code === 'version-drift')),
    ...recoverability(input.key, input.vault),
  ];
}

/** Every finding for one account, at most one per code, critical first; `bound` is what bindingFindings gave for its binding. */
export function evaluateAccount(input: AccountEvaluation, bound = bindingFindings({ ...input, binding: input.account.binding, pinned: !!input.pin })): Finding[] {
  const findings = [
    ...accountFindings(input.account),
    ...bound,
    ...vaultFindings(input.account, input.vault, input.grants),
    ...managedHsmFindings(input.account, input.vault),
    ...pinFindings(input),
  ];
  const rank = (f: Finding): number => SEVERITIES.indexOf(f.severity) * 100 + FINDING_CODES.indexOf(f.code);
  return findings.sort((a, b) => rank(a) - rank(b));
}

interface FindingCounts {
  findingsByCode: Record<string, number>;
  findingsBySeverity: Record<Severity, number>;
}

/** Counts for the Sweeps row; one finding per code per account, so a code's count is its number of accounts. */
export function summarise(perAccount: Iterable<readonly Finding[]>): FindingCounts {
  const byCode = new Map<FindingCode, number>();
  const findingsBySeverity: Record<Severity, number> = { critical: 0, warning: 0, info: 0 };
  for (const findings of perAccount) {
    for (const f of findings) {
      byCode.set(f.code, (byCode.get(f.code) ?? 0) + 1);
      findingsBySeverity[f.severity] += 1;
    }
  }
  const findingsByCode: Record<string, number> = {};
  for (const code of FINDING_CODES) {
    const count = byCode.get(code);
    if (count) findingsByCode[code] = count;
  }
  return { findingsByCode, findingsBySeverity };
}

function finding(code: FindingCode, evidence: Evidence, remedy: string): Finding {
  return { code, severity: FINDING_RULES[code].severity, evidence, remedy };
}

/** The findings of the account itself (its state and identity), whichever of its bindings is judged. */
export function accountFindings(account: AccountState): Finding[] {
  const out: Finding[] = [];
  if (account.provisioningState?.toLowerCase() === 'failed') {
    out.push(finding('provisioning-failed', { provisioningState: account.provisioningState },
      'Read the failed operation in the activity log, fix its cause (often key access), then apply the encryption settings again.'));
  }
  const types = identityTypes(account);
  if (types.size === 0) {
    out.push(finding('identity-missing', { identityType: account.identity?.type ?? null },
      'Turn on the system-assigned managed identity and grant it get, wrapKey and unwrapKey on the vault.'));
  } else {
    // The key is read by the user-assigned identity identityClientId names, else by the system-assigned one.
    const userAssigned = account.binding?.identityClientId !== undefined || !types.has('systemassigned');
    const support = userAssignedKeyIdentity(account.kind);
    if (userAssigned && !(support.supported && keyIdentity(account).status === 'found')) {
      out.push(finding('identity-not-system-assigned', {
        kind: account.kind ?? null, identityType: account.identity?.type ?? null, identityClientId: account.binding?.identityClientId ?? null, doc: support.statement,
      }, support.supported
        ? 'Set identityClientId to the client id of a user-assigned identity of the account, or turn on the system-assigned identity.'
        : `Turn on the system-assigned identity and bind the key without identityClientId (${support.statement}).`));
    }
  }
  return out;
}

/** Managed HSM keys only for the kinds Microsoft's support matrix lists. */
function managedHsmFindings(account: AccountState, view: VaultView): Finding[] {
  const onHsm = (account.binding && isManagedHsmUri(account.binding.vaultUri)) || (view.status === 'ok' && view.vault.kind === 'managedHsm');
  if (!onHsm || managedHsmSupported(account.kind)) return [];
  return [finding('managed-hsm-kind-unsupported', { kind: account.kind ?? null, vaultUri: account.binding?.vaultUri ?? null, supportedKinds: MANAGED_HSM_KINDS.join(',') },
    `Move the key of this ${account.kind ?? 'unknown'} account to a Key Vault vault: CMK in Managed HSM is not supported for its kind.`)];
}

function keyFindings({ binding, key, policy, nearExpiryDays, now }: BindingEvaluation): Finding[] {
  const where: Evidence = {
    vaultUri: binding?.vaultUri ?? null,
    keyName: binding?.keyName ?? null,
    boundVersion: binding?.keyVersion || null,
  };
  if (key.status === 'missing') {
    return [finding('key-missing', { ...where, reason: 'key-not-found' },
      'Recover the deleted key in its vault, or switch the account to an existing key in the same vault.')];
  }
  if (key.status === 'access-denied') {
    return [finding('key-access-denied', where,
      "Grant the rotator's identity get and list on the vault's keys so that the key can be checked and rotated.")];
  }
  if (binding && isVersionless(binding)) return versionlessFindings(key, where, policy, nearExpiryDays, now);
  const out: Finding[] = [];
  const { bound } = key;
  // Rule 2 is checked here too, so a stale or careless caller cannot make drift point at an unusable version.
  const usable = key.newestUsable && unusableReasons(key.newestUsable, policy, now).length === 0 ? key.newestUsable : undefined;
  if (!bound) {
    out.push(finding('key-missing', { ...where, reason: 'version-not-found' },
      usable ? `Rebind the account to version ${usable.version}.` : 'Create a usable version of the key and bind the account to it.'));
  } else {
    out.push(...boundVersionFindings(bound, where, policy, nearExpiryDays, now));
  }
  if (usable && isNewer(usable, bound, binding?.keyVersion, key.order)) {
    out.push(finding('version-drift', {
      ...where,
      boundCreatedOn: iso(bound?.createdOn),
      newestUsableVersion: usable.version,
      newestUsableCreatedOn: iso(usable.createdOn),
    }, `Rebind the account to version ${usable.version} (DESIGN §2; the rotator does it in enforce mode).`));
  }
  return out;
}

/**
 * §2a: a versionless binding is reported, never drifted or repaired. Azure shows no version in use, so the key's
 * current version (the one "latest" names) is checked, and the evidence says which version that was.
 */
function versionlessFindings(key: Extract<KeyView, { status: 'ok' }>, where: Evidence, policy: KeyPolicy, nearExpiryDays: number, now: Date): Finding[] {
  const current = key.current;
  const checked = current ? { ...where, checkedVersion: current.version } : where;
  return [
    finding('versionless-binding', {
      ...where, currentVersion: current?.version ?? null, newestUsableVersion: key.newestUsable?.version ?? null,
      versionInUse: 'unknown: Azure shows no version in use for a versionless binding',
    }, 'Nothing to do if following the latest version is intended (Azure shows no version in use, so this cannot be confirmed); to pin a version, POST /api/rotations with accountId and keyVersion.'),
    ...(current ? boundVersionFindings(current, checked, policy, nearExpiryDays, now) : []),
  ];
}

function boundVersionFindings(bound: KeyVersionInfo, where: Evidence, policy: KeyPolicy, nearExpiryDays: number, now: Date): Finding[] {
  const out: Finding[] = [];
  if (!bound.enabled) {
    out.push(finding('key-disabled', { ...where, enabled: false }, 'Enable the bound version again, or bind a newer enabled version.'));
  }
  const exp = bound.expiresOn?.getTime();
  if (exp !== undefined) {
    const evidence = { ...where, expiresOn: iso(bound.expiresOn), nearExpiryDays };
    // Near is (now, now + nearExpiryDays]: expiring exactly at the far edge already counts as near.
    if (exp <= now.getTime()) {
      out.push(finding('key-expired', evidence, 'Extend the expiry of the bound version, or bind a version that has not expired.'));
    } else if (exp <= now.getTime() + nearExpiryDays * DAY_MS) {
      out.push(finding('key-near-expiry', evidence, 'Rotate the key (or extend its expiry) and bind the new version before it expires.'));
    }
  }
  if (keyShapeProblem(bound, policy)) {
    out.push(finding('unsupported-key', {
      ...where, kty: bound.kty ?? null, keySize: bound.keySize ?? null, allowedKeySizes: policy.allowedKeySizes.join(','),
    }, `Create an RSA or RSA-HSM key version of ${policy.allowedKeySizes.join(' or ')} bits and bind the account to it.`));
  }
  return out;
}

/** Newer than what is bound, in rule 3's order; with no bound version left to compare, any usable version is the way back. */
function isNewer(candidate: KeyVersionInfo, bound: KeyVersionInfo | undefined, boundVersion: string | undefined, order: VersionOrder): boolean {
  const current = bound?.version ?? boundVersion ?? '';
  if (candidate.version.toLowerCase() === current.toLowerCase()) return false;
  if (!bound) return true;
  return (order.compare(candidate, bound) ?? 0) > 0;
}

function pinFindings({ account, pin }: AccountEvaluation): Finding[] {
  if (!pin) return [];
  return [finding('pinned', {
    pinnedVersion: pin.keyVersion, boundVersion: account.binding?.keyVersion ?? null, actor: pin.actor, reason: pin.reason, pinnedAt: pin.pinnedAt,
  }, 'Release the pin (DELETE /api/accounts/pin, or a manual rotation without force) once the newer version is fixed.')];
}

/** Soft delete with purge protection; '+ProtectedSubscription' adds a guard on top, so it passes too. */
export function protectsFromPurge(recoveryLevel: string): boolean {
  const parts = recoveryLevel.split('+').map((p) => p.trim().toLowerCase());
  return (parts[0] === 'recoverable' || parts[0] === 'customizedrecoverable') && !parts.includes('purgeable');
}

function recoverability(key: KeyView, view: VaultView): Finding[] {
  const level = key.status === 'ok' ? (key.bound ?? key.newestUsable)?.recoveryLevel : undefined;
  const vault = view.status === 'ok' ? view.vault : undefined;
  const levelBad = level !== undefined && !protectsFromPurge(level);
  // ARM turns soft delete on when it is not set, so only an explicit false counts against it.
  const vaultBad = vault !== undefined && (vault.enableSoftDelete === false || vault.enablePurgeProtection !== true);
  if (!levelBad && !vaultBad) return [];
  return [finding('vault-not-recoverable', {
    recoveryLevel: level ?? null,
    vaultName: vault?.name ?? null,
    enableSoftDelete: vault?.enableSoftDelete ?? null,
    enablePurgeProtection: vault?.enablePurgeProtection ?? null,
  }, `Turn on soft delete and purge protection on vault ${vault?.name ?? 'that holds the key'} (purge protection cannot be turned off again).`)];
}

function vaultFindings(account: AccountState, view: VaultView, grants: GrantsView | undefined): Finding[] {
  if (view.status !== 'ok') {
    const reason = view.status === 'error' ? view.reason : 'no vault with this URI in the configured subscriptions';
    const remedy = view.status === 'error'
      ? "Check the rotator's discovery reader role on the vault's subscription; the next sweep reads it again."
      : "Add the vault's subscription to SUBSCRIPTION_IDS (the deployment grants the discovery reader role there).";
    return [finding('vault-unreadable', { vaultUri: account.binding?.vaultUri ?? null, status: view.status, reason }, remedy)];
  }
  const vault = view.vault;
  const out: Finding[] = [];
  if (account.location && vault.location && compactLocation(account.location) !== compactLocation(vault.location)) {
    out.push(finding('region-mismatch', { accountLocation: account.location, vaultLocation: vault.location, vaultName: vault.name },
      `Use a key in a vault in ${account.location} (the Azure OpenAI doc requires the same region).`));
  }
  const tenant = account.identity?.tenantId;
  if (tenant && vault.tenantId && tenant.toLowerCase() !== vault.tenantId.toLowerCase()) {
    out.push(finding('tenant-mismatch', { identityTenantId: tenant, vaultTenantId: vault.tenantId, vaultName: vault.name },
      "Use a key in a vault of the account identity's tenant."));
  }
  return [...out, ...accessFindings(account, vault, grants)];
}

/** ARM location names compare without case or spaces ('West US' is 'westus'). */
function compactLocation(location: string): string {
  return location.replace(/\s+/g, '').toLowerCase();
}

/** access-missing when the proof fails, access-unverifiable when the service may not read what proves it (RBAC). */
function accessFindings(account: AccountState, vault: VaultInfo, grants: GrantsView | undefined): Finding[] {
  if (!account.binding) return [];
  const verdict = proveKeyAccess({ account, vault, keyName: account.binding.keyName, grants });
  if (verdict.status === 'missing') return [finding('access-missing', verdict.evidence, verdict.remedy)];
  if (verdict.status === 'unverifiable') return [finding('access-unverifiable', verdict.evidence, verdict.remedy)];
  return [];
}

function iso(date: Date | undefined): string | null {
  return date ? date.toISOString() : null;
}

/** One stored finding: the latest sweep's verdict for one account and code. */
export interface FindingRecord extends Finding {
  accountId: string;
  sweepId: string;
  observedAt: string;
}

export type { SweepMode, SweepStatus, SweepSummary, SweepTrigger } from './sweepRecords';
