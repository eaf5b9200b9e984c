// Managed HSM local RBAC on the HSM's own data plane (KeyVault rbac.json, api-version 7.5): role assignments at
// scope '/', '/keys' or '/keys/<name>', and role definitions. No recorded example exists for an HSM host; the
// shapes follow that swagger and its (vault-host) examples ListRoleAssignments / ListRoleDefinitions.
import { randomUUID } from 'node:crypto';
import { VaultError, badParameter } from './wire';

const PREFIX = 'Microsoft.KeyVault/managedHsm/';
const KEY_CRYPTO = ['encrypt', 'decrypt', 'wrap', 'unwrap', 'sign', 'verify'].map((op) => `keys/${op}/action`);

/**
 * Built-in roles as the Managed HSM local RBAC built-in roles doc lists them (MicrosoftDocs/azure-docs,
 * articles/key-vault/managed-hsm/built-in-roles.md at 02d00dc8728a58aaf3d8af94e7223857d9a6155f): the role ids, and
 * per role the data actions its "Permitted operations" table marks, prefixed as the doc says.
 */
const HSM_BUILT_IN_ROLES: ReadonlyArray<{ name: string; roleName: string; dataActions: string[] }> = [
  {
    name: '33413926-3206-4cdd-b39a-83574fe37a17', roleName: 'Managed HSM Crypto Service Encryption User',
    dataActions: ['keys/read/action', 'keys/wrap/action', 'keys/unwrap/action'],
  },
  {
    name: '21dbd100-6940-42c2-9190-5d6cb909625b', roleName: 'Managed HSM Crypto User',
    dataActions: [
      'keys/read/action', 'keys/write/action', 'keys/rotate/action', 'keys/create', 'keys/delete', 'keys/backup/action', 'keys/restore/action',
      'keys/release/action', 'keys/import/action', ...KEY_CRYPTO, 'roleAssignments/read/action', 'roleDefinitions/read/action',
    ],
  },
  {
    name: 'a290e904-7015-4bba-90c8-60543313cdb4', roleName: 'Managed HSM Administrator',
    dataActions: [
      'securitydomain/download/action', 'securitydomain/upload/action', 'securitydomain/upload/read', 'securitydomain/transferkey/read',
      ...['roleAssignments', 'roleDefinitions'].flatMap((what) => ['read', 'write', 'delete'].map((verb) => `${what}/${verb}/action`)),
      'backup/start/action', 'backup/status/action', 'restore/start/action', 'restore/status/action',
    ],
  },
].map((role) => ({ ...role, dataActions: role.dataActions.map((a) => `${PREFIX}${a}`) }));

interface Definition {
  name: string;
  roleName: string;
  type: 'AKVBuiltInRole' | 'CustomRole';
  dataActions: string[];
  notDataActions: string[];
}

interface Assignment {
  name: string;
  scope: string;
  roleDefinitionId: string;
  principalId: string;
}

export type RbacRead = 'roleAssignments' | 'roleDefinitions';

const definitionId = (name: string): string => `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${name}`;
const RBAC_PATH = /^\/*((?:keys(?:\/[^/]+)?)?)\/*providers\/Microsoft\.Authorization\/(roleAssignments|roleDefinitions)\/?$/i;

/** '' and '/' are the HSM, then '/keys' and '/keys/<name>', compared without case. */
function normScope(scope: string): string {
  return `/${scope.split('/').filter(Boolean).join('/')}`.toLowerCase();
}

function above(outer: string, inner: string): boolean {
  return outer === '/' || outer === inner || inner.startsWith(`${outer}/`);
}

/** One HSM's local RBAC state and its two list routes. */
export class HsmRbac {
  private readonly assignments: Assignment[] = [];
  private readonly definitions = new Map<string, Definition>(
    HSM_BUILT_IN_ROLES.map((r) => [r.name, { ...r, type: 'AKVBuiltInRole', notDataActions: [] }]),
  );
  /** Reads answered 403, as for a caller without the read data action. */
  readonly denied = new Set<RbacRead>();

  constructor(private readonly tenantId: string) {}

  /** Assigns a role (its name or id) to a principal at '/', '/keys' or '/keys/<name>'; returns the assignment's name. */
  assign(principalId: string, role: string, scope = '/'): string {
    const definition = [...this.definitions.values()].find((d) => d.name === role.toLowerCase() || d.roleName.toLowerCase() === role.toLowerCase());
    if (!definition) throw new Error(`no role ${role} in this HSM`);
    const name = randomUUID();
    this.assignments.push({ name, scope: normScope(scope) === '/' ? '/' : `/${scope.split('/').filter(Boolean).join('/')}`, roleDefinitionId: definitionId(definition.name), principalId });
    return name;
  }

  /** A custom role (wildcards and notDataActions allowed); returns its name (a GUID). */
  defineRole(roleName: string, dataActions: string[], notDataActions: string[] = []): string {
    const name = randomUUID();
    this.definitions.set(name, { name, roleName, type: 'CustomRole', dataActions, notDataActions });
    return name;
  }

  /** The answer to an RBAC request, or undefined when the path is not one. */
  route(method: string, url: URL): { status: number; body: unknown } | undefined {
    const match = RBAC_PATH.exec(url.pathname);
    if (!match) return undefined;
    if (method !== 'GET') throw new VaultError(405, 'MethodNotAllowed', `The stand-in serves only GET on ${url.pathname}.`);
    const what = (match[2] ?? '').toLowerCase() === 'roleassignments' ? 'roleAssignments' : 'roleDefinitions';
    if (this.denied.has(what)) throw this.forbidden(what);
    const scope = normScope(match[1] ?? '');
    if (what === 'roleDefinitions') return { status: 200, body: { value: [...this.definitions.values()].map((d) => this.definitionBody(d)) } };
    return { status: 200, body: { value: this.list(scope, url.searchParams.get('$filter')).map((a) => this.assignmentBody(a)) } };
  }

  /** `principalId eq {id}`: that principal's at, above and below the scope; `atScope()`: everyone's at or above it. */
  private list(scope: string, filter: string | null): Assignment[] {
    const at = (a: Assignment): boolean => above(normScope(a.scope), scope);
    const under = (a: Assignment): boolean => above(scope, normScope(a.scope));
    if (!filter) return this.assignments.filter((a) => at(a) || under(a));
    if (/^\s*atScope\(\)\s*$/i.test(filter)) return this.assignments.filter(at);
    const principal = /^\s*principalId\s+eq\s+'?([0-9a-fA-F-]{36})'?\s*$/.exec(filter)?.[1];
    if (!principal) throw badParameter(`The $filter '${filter}' is not supported; use atScope() or principalId eq {id}.`);
    return this.assignments.filter((a) => a.principalId.toLowerCase() === principal.toLowerCase() && (at(a) || under(a)));
  }

  private assignmentBody(a: Assignment): object {
    const base = a.scope === '/' ? '' : a.scope;
    return {
      id: `${base}/providers/Microsoft.Authorization/roleAssignments/${a.name}`, name: a.name, type: 'Microsoft.Authorization/roleAssignments',
      properties: { scope: a.scope, roleDefinitionId: a.roleDefinitionId, principalId: a.principalId },
    };
  }

  private definitionBody(d: Definition): object {
    return {
      id: definitionId(d.name), name: d.name, type: 'Microsoft.Authorization/roleDefinitions',
      properties: {
        roleName: d.roleName, description: d.roleName, type: d.type, assignableScopes: ['/'],
        permissions: [{ actions: [], notActions: [], dataActions: [...d.dataActions], notDataActions: [...d.notDataActions] }],
      },
    };
  }

  private forbidden(what: RbacRead): VaultError {
    return new VaultError(
      403,
      'Forbidden',
      `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=00000000-0000-0000-0000-000000000001;oid=00000000-0000-0000-0000-000000000002;iss=https://sts.windows.net/${this.tenantId}/\r\nAction: '${PREFIX}${what}/read/action'`,
      'AccessDenied',
    );
  }
}
