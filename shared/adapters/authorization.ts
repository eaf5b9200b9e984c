import type { AuthorizationManagementClient, AuthorizationManagementClientOptionalParams } from '@azure/arm-authorization';
import type { TokenCredential } from '@azure/identity';
import { READ_PERMISSIONS, type GrantsView, type RoleAssignment, type RoleDefinition } from '../domain/access';
import { DependencyError } from '../errors';
import { notFoundAs, toDependencyError } from './azureErrors';
import { Recent } from '../recent';
import { confined } from './sameOrigin';
import { armClientOptions, perKey, sdk } from './sdk';

interface ArmAuthorizationOptions {
  credential: TokenCredential;
  /** ARM_ENDPOINT: the public cloud, a sovereign cloud, or a local stand-in. */
  endpoint: string;
  clientOptions?: AuthorizationManagementClientOptionalParams;
  /** How long a role definition read is reused (default: as long as the instance lives); assignments are always read. */
  definitionsFreshForMs?: number;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Azure RBAC over @azure/arm-authorization: a principal's role assignments for an RBAC vault (the list API's
 * `principalId eq` filter answers those at, above and below the vault) and the role definitions they name, each
 * definition read once per instance (or per definitionsFreshForMs). A 403 is the service's own missing read
 * permission, answered as `denied`.
 */
export class ArmRoleGrants {
  private readonly definitions: Recent<RoleDefinition | undefined>;

  private readonly client = perKey((subscriptionId) => sdk.authorization().then(({ AuthorizationManagementClient }) =>
    confined(new AuthorizationManagementClient(this.options.credential, subscriptionId, { ...this.options.clientOptions, ...armClientOptions(this.options.endpoint) }), this.options.endpoint, 'arm')));

  constructor(private readonly options: ArmAuthorizationOptions) {
    this.definitions = new Recent(options.definitionsFreshForMs);
  }

  async read(vaultId: string, principalId: string): Promise<GrantsView> {
    if (!GUID.test(principalId)) throw new Error(`not a principal (object) id: ${principalId}`);
    const subscriptionId = /^\/subscriptions\/([^/]+)/i.exec(vaultId)?.[1];
    if (!subscriptionId) throw new Error(`not a vault resource id: ${vaultId}`);
    const client = await this.client(subscriptionId);
    const assignments: RoleAssignment[] = [];
    try {
      const listed = client.roleAssignments.listForScope(vaultId.replace(/^\/+/, ''), { filter: `principalId eq '${principalId}'` });
      for await (const a of listed) {
        if (!a.scope || !a.roleDefinitionId || !a.principalId) continue;
        assignments.push({ scope: a.scope, roleDefinitionId: a.roleDefinitionId, principalId: a.principalId, ...(a.condition ? { condition: a.condition } : {}) });
      }
    } catch (error) {
      const e = toDependencyError(error, `listing role assignments of ${principalId} for ${vaultId}`, 'arm');
      if (e.statusCode === 403) return { status: 'denied', permission: READ_PERMISSIONS['vault-rbac'].assignments, detail: e.message };
      throw e;
    }
    const definitions: RoleDefinition[] = [];
    try {
      const ids = new Map(assignments.map((a) => [a.roleDefinitionId.toLowerCase(), a.roleDefinitionId]));
      for (const definition of await Promise.all([...ids].map(([key, id]) => this.definition(client, key, id)))) {
        if (definition) definitions.push(definition);
      }
    } catch (error) {
      if (error instanceof DependencyError && error.statusCode === 403) {
        return { status: 'denied', permission: READ_PERMISSIONS['vault-rbac'].definitions, detail: error.message };
      }
      throw error;
    }
    return { status: 'read', assignments, definitions };
  }

  /** One definition by its full id; undefined when it no longer exists (a deleted custom role grants nothing). */
  private definition(client: AuthorizationManagementClient, key: string, id: string): Promise<RoleDefinition | undefined> {
    return this.definitions.get(key, () => client.roleDefinitions.getById(id.replace(/^\/+/, '')).then(
        (d): RoleDefinition => ({
          id: d.id ?? id,
          ...(d.roleName ? { roleName: d.roleName } : {}),
          permissions: (d.permissions ?? []).map((p) => ({ dataActions: [...(p.dataActions ?? [])], notDataActions: [...(p.notDataActions ?? [])] })),
        }),
        (error: unknown) => notFoundAs(undefined, error, `reading role definition ${id}`, 'arm'),
      ));
  }

}
