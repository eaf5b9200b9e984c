// Whether the account's identity can use its key: get, wrapKey and unwrapKey, proven from the vault's access
// policies, from Azure RBAC role assignments (RBAC vaults), or from Managed HSM local RBAC. Pure: callers read.
import type { AccountState, VaultInfo } from './model';

type KeyOperation = 'get' | 'wrapKey' | 'unwrapKey';
const KEY_OPERATIONS: readonly KeyOperation[] = ['get', 'wrapKey', 'unwrapKey'];
/** The operations as access policies name them once read (lower case). */
const KEY_PERMISSIONS = KEY_OPERATIONS.map((op) => op.toLowerCase());

/** How a vault authorises its keys. */
type AccessPlane = 'access-policy' | 'vault-rbac' | 'managed-hsm';

/** The data action each operation needs (Azure built-in roles doc; Managed HSM local RBAC built-in roles doc). */
export const DATA_ACTIONS: Readonly<Record<Exclude<AccessPlane, 'access-policy'>, Record<KeyOperation, string>>> = {
  'vault-rbac': {
    get: 'Microsoft.KeyVault/vaults/keys/read',
    wrapKey: 'Microsoft.KeyVault/vaults/keys/wrap/action',
    unwrapKey: 'Microsoft.KeyVault/vaults/keys/unwrap/action',
  },
  'managed-hsm': {
    get: 'Microsoft.KeyVault/managedHsm/keys/read/action',
    wrapKey: 'Microsoft.KeyVault/managedHsm/keys/wrap/action',
    unwrapKey: 'Microsoft.KeyVault/managedHsm/keys/unwrap/action',
  },
};

/** The permission the service itself needs to read each half of the proof, per plane. */
export const READ_PERMISSIONS = {
  'vault-rbac': { assignments: 'Microsoft.Authorization/roleAssignments/read', definitions: 'Microsoft.Authorization/roleDefinitions/read' },
  'managed-hsm': {
    assignments: 'Microsoft.KeyVault/managedHsm/roleAssignments/read/action',
    definitions: 'Microsoft.KeyVault/managedHsm/roleDefinitions/read/action',
  },
} as const;

export interface RoleAssignment {
  scope: string;
  roleDefinitionId: string;
  principalId: string;
  /** An ABAC condition narrows the grant in ways not evaluated here, so a conditional assignment proves nothing. */
  condition?: string;
}

export interface RoleDefinition {
  id: string;
  roleName?: string;
  permissions: Array<{ dataActions: string[]; notDataActions: string[] }>;
}

/** What was read of a principal's role grants for a vault or HSM, or the read permission the service lacks. */
export type GrantsView =
  | { status: 'read'; assignments: RoleAssignment[]; definitions: RoleDefinition[] }
  | { status: 'denied'; permission: string; detail: string };

export function accessPlane(vault: VaultInfo): AccessPlane {
  if (vault.kind === 'managedHsm') return 'managed-hsm';
  return vault.enableRbacAuthorization === true ? 'vault-rbac' : 'access-policy';
}

/** The scope a grant must reach: the key under the vault's ARM id, or `/keys/<name>` in a Managed HSM. */
function keyScope(vault: VaultInfo, keyName: string): string {
  return accessPlane(vault) === 'managed-hsm' ? `/keys/${keyName}` : `${vault.id.replace(/\/+$/, '')}/keys/${keyName}`;
}

const TYPES = new Map<string, ReadonlySet<string>>();

/** Identity types in lower case without 'None': 'SystemAssigned, UserAssigned' -> {systemassigned, userassigned}. */
export function identityTypes(account: AccountState): ReadonlySet<string> {
  const type = account.identity?.type ?? '';
  // A handful of spellings across an estate: each is parsed once.
  let types = TYPES.get(type);
  if (!types) {
    types = new Set(type.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '' && t !== 'none'));
    if (TYPES.size >= 64) TYPES.clear();
    TYPES.set(type, types);
  }
  return types;
}

/** The identity that reads the key: the user-assigned one identityClientId names, else the system-assigned one. */
type KeyIdentity =
  | { status: 'found'; principalId: string; assigned: 'system-assigned' | 'user-assigned'; clientId?: string }
  | { status: 'none'; reason: string; absent: boolean };

/** `binding` is the one judged: the account's own, or one of its encryption scopes' (read by the account's identity). */
export function keyIdentity(account: AccountState, binding = account.binding): KeyIdentity {
  if (identityTypes(account).size === 0) return { status: 'none', absent: true, reason: 'the account has no managed identity' };
  const none = (reason: string): KeyIdentity => ({ status: 'none', absent: false, reason });
  const clientId = binding?.identityClientId;
  if (clientId) {
    const entry = Object.entries(account.identity?.userAssignedIdentities ?? {}).find(([, v]) => v.clientId?.toLowerCase() === clientId.toLowerCase());
    if (!entry) return none(`identityClientId ${clientId} names no user-assigned identity of the account`);
    if (!entry[1].principalId) return none(`the user-assigned identity ${entry[0]} reports no principal id`);
    return { status: 'found', principalId: entry[1].principalId, assigned: 'user-assigned', clientId };
  }
  if (!identityTypes(account).has('systemassigned')) return none('no identityClientId names a user-assigned identity and there is no system-assigned identity');
  if (!account.identity?.principalId) return none('the system-assigned identity reports no principal id');
  return { status: 'found', principalId: account.identity.principalId, assigned: 'system-assigned' };
}

/** An RBAC action pattern: `*` stands for any run of characters (`Microsoft.KeyVault/vaults/keys/*`, `*`); no case. */
export function actionMatches(pattern: string, action: string): boolean {
  const source = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*');
  return new RegExp(`^${source}$`, 'i').test(action);
}

const MANAGEMENT_GROUP = /^\/providers\/microsoft\.management\/managementgroups\/[^/]+$/;

/**
 * An assignment reaches the target when its scope is the target or above it (segment by segment, no case).
 * Management groups are above whatever the list API returned them for (it lists at, above and below the scope).
 */
export function scopeApplies(assignmentScope: string, target: string): boolean {
  const norm = (s: string): string => `/${s.toLowerCase().split('/').filter(Boolean).join('/')}`;
  const scope = norm(assignmentScope);
  const at = norm(target);
  return scope === '/' || scope === at || at.startsWith(`${scope}/`) || MANAGEMENT_GROUP.test(scope);
}

/** A role grants an action when one of its permission entries names it and does not subtract it again. */
function roleGrants(definition: RoleDefinition, action: string): boolean {
  return definition.permissions.some((p) => p.dataActions.some((a) => actionMatches(a, action)) && !p.notDataActions.some((a) => actionMatches(a, action)));
}

const roleKey = (id: string): string => (id.split('/').filter(Boolean).pop() ?? id).toLowerCase();

interface RbacProof {
  granted: KeyOperation[];
  missing: KeyOperation[];
  /** Roles of the principal that reach the key (names, else ids). */
  roles: string[];
}

/** Which operations the principal's unconditional role assignments at or above the key grant (notDataActions subtract per role). */
export function rbacProof(input: {
  plane: Exclude<AccessPlane, 'access-policy'>; target: string; principalId: string; assignments: RoleAssignment[]; definitions: RoleDefinition[];
}): RbacProof {
  const definitions = new Map(input.definitions.map((d) => [roleKey(d.id), d]));
  const reaching = input.assignments
    .filter((a) => a.principalId.toLowerCase() === input.principalId.toLowerCase() && !a.condition && scopeApplies(a.scope, input.target))
    .map((a) => ({ id: a.roleDefinitionId, definition: definitions.get(roleKey(a.roleDefinitionId)) }));
  const granted = KEY_OPERATIONS.filter((op) => reaching.some((r) => r.definition && roleGrants(r.definition, DATA_ACTIONS[input.plane][op])));
  return {
    granted,
    missing: KEY_OPERATIONS.filter((op) => !granted.includes(op)),
    roles: [...new Set(reaching.map((r) => r.definition?.roleName ?? r.id))].sort(),
  };
}

/** What the vault's access policies fail to grant the principal, and what they grant; undefined when nothing is missing ('all' grants every one). */
function accessPolicyProof(vault: VaultInfo, principalId: string, tenantId: string): { missing: KeyOperation[]; granted: string[] } | undefined {
  const who = policyKey(tenantId, principalId);
  if (((keyPermissions(vault).get(who) ?? 0) & ALL_KEY_OPERATIONS) === ALL_KEY_OPERATIONS) return undefined;
  // Something is missing (rare): what the principal's policies grant, for the evidence.
  const granted = new Set(vault.accessPolicies.filter((p) => policyKey(p.tenantId, p.objectId) === who).flatMap((p) => p.keys.map((k) => k.toLowerCase())));
  return { missing: KEY_OPERATIONS.filter((op) => !granted.has('all') && !granted.has(op.toLowerCase())), granted: [...granted].sort() };
}

/** The key operations as bits: a principal's policies together grant these ('all' grants every one). */
const ALL_KEY_OPERATIONS = (1 << KEY_PERMISSIONS.length) - 1;
const OPERATION_BITS = new Map<string, number>([...KEY_PERMISSIONS.map((p, i): [string, number] => [p, 1 << i]), ['all', ALL_KEY_OPERATIONS]]);
const permissionsByVault = new WeakMap<VaultInfo, Map<string, number>>();

/** Who an access policy names: tenant and object id, without case. */
const policyKey = (tenantId: string, objectId: string): string => `${tenantId}/${objectId}`.toLowerCase();

/** Which key operations a vault's policies grant, by tenant/objectId, built once per vault read (a vault holds up to 1,024 policies). */
function keyPermissions(vault: VaultInfo): Map<string, number> {
  let index = permissionsByVault.get(vault);
  if (!index) {
    index = new Map();
    for (const policy of vault.accessPolicies) {
      const who = policyKey(policy.tenantId, policy.objectId);
      let bits = index.get(who) ?? 0;
      for (const permission of policy.keys) bits |= OPERATION_BITS.get(permission.toLowerCase()) ?? 0;
      index.set(who, bits);
    }
    permissionsByVault.set(vault, index);
  }
  return index;
}

type AccessVerdict =
  | { status: 'granted' }
  /** identity-missing already says there is no one to grant access to. */
  | { status: 'no-identity' }
  | { status: 'missing'; reason: string; evidence: Record<string, string>; remedy: string }
  | { status: 'unverifiable'; reason: string; evidence: Record<string, string>; remedy: string };

const GRANTED: AccessVerdict = Object.freeze({ status: 'granted' });

/** DESIGN §4's access precondition for one account and one key of its vault: proven, missing, or not provable. */
export function proveKeyAccess(input: { account: AccountState; vault: VaultInfo; keyName: string; grants?: GrantsView | undefined }): AccessVerdict {
  const { account, vault, keyName } = input;
  const plane = accessPlane(vault);
  const identity = keyIdentity(account);
  const where = { vaultName: vault.name, keyName, plane };
  if (identity.status === 'none') {
    if (identity.absent) return { status: 'no-identity' };
    return {
      status: 'missing', reason: identity.reason, evidence: { ...where, identityClientId: account.binding?.identityClientId ?? '', reason: identity.reason },
      remedy: 'Give the account an identity that reads the key: the system-assigned one, or a user-assigned one named by identityClientId.',
    };
  }
  const who = { ...where, principalId: identity.principalId, identity: identity.assigned };
  if (plane === 'access-policy') {
    const tenant = account.identity?.tenantId ?? vault.tenantId;
    const proof = accessPolicyProof(vault, identity.principalId, tenant);
    if (!proof) return GRANTED;
    return {
      status: 'missing', reason: `access policies of ${vault.name} grant ${identity.principalId} no ${proof.missing.join(', ')}`,
      evidence: { ...who, tenantId: tenant, missing: proof.missing.join(','), granted: proof.granted.join(',') },
      remedy: `Add an access policy on ${vault.name} granting key permissions ${proof.missing.join(', ')} to object ${identity.principalId}.`,
    };
  }
  const grants = input.grants;
  if (!grants || grants.status === 'denied') {
    const permission = grants?.status === 'denied' ? grants.permission : 'role assignments (not read)';
    return {
      status: 'unverifiable', reason: `the service cannot read the role assignments of ${vault.name}: it lacks ${permission}`,
      evidence: { ...who, lacking: permission, detail: grants?.status === 'denied' ? grants.detail.slice(0, 300) : '' },
      remedy: `Grant the rotator's identity ${permission} on ${vault.name} so that the access of the account's identity can be checked.`,
    };
  }
  const proof = rbacProof({ plane, target: keyScope(vault, keyName), principalId: identity.principalId, ...grants });
  if (proof.missing.length === 0) return { status: 'granted' };
  const role = plane === 'managed-hsm' ? 'Managed HSM Crypto Service Encryption User' : 'Key Vault Crypto Service Encryption User';
  const scope = plane === 'managed-hsm' ? `local RBAC scope /keys/${keyName} (or /keys) of ${vault.name}` : `vault ${vault.name} (or its key ${keyName})`;
  return {
    status: 'missing', reason: `no role of ${identity.principalId} at or above key ${keyName} in ${vault.name} grants ${proof.missing.join(', ')}`,
    evidence: {
      ...who, missing: proof.missing.join(','), roles: proof.roles.join(',') || 'none',
      basis: 'unconditional role assignments of the principal itself (group memberships and deny assignments are not read)',
    },
    remedy: `Assign ${role} to object ${identity.principalId} on ${scope}.`,
  };
}
