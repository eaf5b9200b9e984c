// Azure RBAC as ARM serves it (Microsoft.Authorization; examples in test/fixtures/authorization-*): role
// assignments listed for a scope with the documented filters, and role definitions read by id.
import { randomUUID } from 'node:crypto';
import type { ArmProblem } from './accountBody';
import { deepCopy, isJsonObject, type JsonObject } from './http';

/**
 * The four Key Vault crypto built-in roles, copied from the docs extract vendored at
 * test/fixtures/authorization-builtin-roles/key-vault-crypto-roles-extract.md (a contract test compares them).
 */
const ARM_BUILT_IN_ROLES: ReadonlyArray<{ name: string; roleName: string; actions: string[]; dataActions: string[] }> = [
  {
    name: 'e147488a-f6f5-4113-8e2d-b22465e65bf6', roleName: 'Key Vault Crypto Service Encryption User',
    actions: ['Microsoft.EventGrid/eventSubscriptions/write', 'Microsoft.EventGrid/eventSubscriptions/read', 'Microsoft.EventGrid/eventSubscriptions/delete'],
    dataActions: ['Microsoft.KeyVault/vaults/keys/read', 'Microsoft.KeyVault/vaults/keys/wrap/action', 'Microsoft.KeyVault/vaults/keys/unwrap/action'],
  },
  {
    name: '12338af0-0e69-4776-bea7-57ae8d297424', roleName: 'Key Vault Crypto User',
    actions: [],
    dataActions: ['read', 'update/action', 'backup/action', 'encrypt/action', 'decrypt/action', 'wrap/action', 'unwrap/action', 'sign/action', 'verify/action']
      .map((a) => `Microsoft.KeyVault/vaults/keys/${a}`),
  },
  {
    name: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603', roleName: 'Key Vault Crypto Officer',
    actions: adminActions(),
    dataActions: ['Microsoft.KeyVault/vaults/keys/*', 'Microsoft.KeyVault/vaults/keyrotationpolicies/*'],
  },
  { name: '00482a5a-887f-4fb3-b363-3b7fe8e74483', roleName: 'Key Vault Administrator', actions: adminActions(), dataActions: ['Microsoft.KeyVault/vaults/*'] },
];

function adminActions(): string[] {
  return [
    'Microsoft.Authorization/*/read', 'Microsoft.Insights/alertRules/*', 'Microsoft.Resources/deployments/*',
    'Microsoft.Resources/subscriptions/resourceGroups/read', 'Microsoft.Support/*', 'Microsoft.KeyVault/checkNameAvailability/read',
    'Microsoft.KeyVault/deletedVaults/read', 'Microsoft.KeyVault/locations/*/read', 'Microsoft.KeyVault/vaults/*/read', 'Microsoft.KeyVault/operations/read',
  ];
}

export type AuthorizationRead = 'roleAssignments' | 'roleDefinitions';

const MANAGEMENT_GROUP = /^\/providers\/microsoft\.management\/managementgroups\/([^/]+)$/;

/** A scope as ARM compares it: lower case, no trailing slash, the tenant root '/'. */
function norm(scope: string): string {
  return `/${scope.toLowerCase().split('/').filter(Boolean).join('/')}`;
}

/** Role assignments and definitions of the tenant the stand-in serves. */
export class Authorization {
  private readonly assignments = new Map<string, JsonObject>();
  private readonly definitions = new Map<string, JsonObject>();
  /** Reads answered 403 AuthorizationFailed, as for a caller without the read permission. */
  readonly denied = new Set<AuthorizationRead>();

  /** managementGroups: group name -> its subscriptions (what makes a group's assignment "above" a scope). */
  constructor(private readonly managementGroups: Record<string, string[]>) {
    for (const role of ARM_BUILT_IN_ROLES) {
      this.putDefinition({
        id: `/providers/Microsoft.Authorization/roleDefinitions/${role.name}`, name: role.name, type: 'Microsoft.Authorization/roleDefinitions',
        properties: {
          roleName: role.roleName, type: 'BuiltInRole', description: role.roleName, assignableScopes: ['/'],
          permissions: [{ actions: role.actions, notActions: [], dataActions: role.dataActions, notDataActions: [] }],
        },
      });
    }
  }

  putAssignment(resource: JsonObject): void {
    const scope = isJsonObject(resource['properties']) ? resource['properties']['scope'] : undefined;
    if (typeof resource['id'] !== 'string' || typeof scope !== 'string') throw new Error('A role assignment needs an id and properties.scope');
    this.assignments.set(resource['id'].toLowerCase(), deepCopy(resource));
  }

  /** Assigns a role (its name or GUID) to a principal at a scope, as `az role assignment create` would. */
  assign(principalId: string, role: string, scope: string, principalType = 'ServicePrincipal'): JsonObject {
    const definition = [...this.definitions.values()].find((d) => String(d['name']).toLowerCase() === role.toLowerCase()
      || (isJsonObject(d['properties']) && String(d['properties']['roleName']).toLowerCase() === role.toLowerCase()));
    if (!definition) throw new Error(`no role definition ${role}`);
    const name = randomUUID();
    const base = norm(scope) === '/' ? '' : scope.replace(/\/+$/, '');
    const resource: JsonObject = {
      properties: { roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${String(definition['name'])}`, principalId, principalType, scope: base || '/' },
      id: `${base}/providers/Microsoft.Authorization/roleAssignments/${name}`, type: 'Microsoft.Authorization/roleAssignments', name,
    };
    this.putAssignment(resource);
    return deepCopy(resource);
  }

  putDefinition(resource: JsonObject): void {
    if (typeof resource['name'] !== 'string') throw new Error('A role definition needs a name (its GUID)');
    this.definitions.set(resource['name'].toLowerCase(), deepCopy(resource));
  }

  /** A custom role; returns its GUID. */
  defineRole(roleName: string, dataActions: string[], notDataActions: string[] = []): string {
    const name = randomUUID();
    this.putDefinition({
      id: `/providers/Microsoft.Authorization/roleDefinitions/${name}`, name, type: 'Microsoft.Authorization/roleDefinitions',
      properties: { roleName, type: 'CustomRole', description: roleName, assignableScopes: ['/'], permissions: [{ actions: [], notActions: [], dataActions, notDataActions }] },
    });
    return name;
  }

  /**
   * RoleAssignments_ListForScope, as its swagger documents the filters: `atScope()` lists every assignment at or
   * above the scope; `principalId eq {id}` lists that principal's at, above or below it; without one, all three.
   */
  list(scope: string, filter: string | null): { items: JsonObject[] } | { problem: ArmProblem } {
    if (this.denied.has('roleAssignments')) return { problem: this.forbidden('roleAssignments', scope) };
    const at = norm(scope);
    const isAbove = (s: string): boolean => this.above(s, at);
    const isBelow = (s: string): boolean => at === '/' || s.startsWith(`${at}/`);
    const all = [...this.assignments.values()].map((a) => ({ a, s: norm(String((a['properties'] as JsonObject)['scope'])) }));
    let picked: typeof all;
    if (!filter) picked = all.filter(({ s }) => isAbove(s) || isBelow(s));
    else if (/^\s*atScope\(\)\s*$/i.test(filter)) picked = all.filter(({ s }) => isAbove(s));
    else {
      const principal = /^\s*principalId\s+eq\s+'?([0-9a-fA-F-]{36})'?\s*$/.exec(filter)?.[1]?.toLowerCase();
      if (!principal) return { problem: { status: 400, code: 'BadRequest', message: `The filter '${filter}' is not supported. Use atScope() or principalId eq {id}.` } };
      picked = all.filter(({ a, s }) => String((a['properties'] as JsonObject)['principalId']).toLowerCase() === principal && (isAbove(s) || isBelow(s)));
    }
    return { items: picked.map(({ a }) => deepCopy(a)) };
  }

  /** RoleDefinitions_GetById / _Get: the definition by its GUID, its id under the scope it was asked at. */
  definition(scope: string, name: string): { definition: JsonObject } | { problem: ArmProblem } {
    if (this.denied.has('roleDefinitions')) return { problem: this.forbidden('roleDefinitions', scope) };
    const found = this.definitions.get(name.toLowerCase());
    if (!found) return { problem: { status: 404, code: 'RoleDefinitionDoesNotExist', message: `The specified role definition with ID '${name}' does not exist.` } };
    const copy = deepCopy(found);
    const base = norm(scope) === '/' ? '' : scope.replace(/\/+$/, '');
    copy['id'] = `${base}/providers/Microsoft.Authorization/roleDefinitions/${String(found['name'])}`;
    return { definition: copy };
  }

  /** At or above: the root, a prefix of the scope, or a management group holding the scope's subscription. */
  private above(assignment: string, at: string): boolean {
    if (assignment === '/' || assignment === at || at.startsWith(`${assignment}/`)) return true;
    const group = MANAGEMENT_GROUP.exec(assignment)?.[1];
    const subscription = /^\/subscriptions\/([^/]+)/.exec(at)?.[1];
    if (!group || !subscription) return false;
    const members = Object.entries(this.managementGroups).find(([g]) => g.toLowerCase() === group)?.[1] ?? [];
    return members.some((m) => m.toLowerCase() === subscription);
  }

  private forbidden(what: AuthorizationRead, scope: string): ArmProblem {
    return {
      status: 403,
      code: 'AuthorizationFailed',
      message: `The client '00000000-0000-0000-0000-000000000001' with object id '00000000-0000-0000-0000-000000000002' does not have authorization to perform action 'Microsoft.Authorization/${what}/read' over scope '${scope || '/'}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    };
  }
}
