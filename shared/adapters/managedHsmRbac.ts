import type { HttpClient, Pipeline, PipelineOptions, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import { READ_PERMISSIONS, type GrantsView, type RoleAssignment, type RoleDefinition } from '../domain/access';
import { DependencyError, VaultNotAllowedError } from '../errors';
import { responseError, toDependencyError } from './azureErrors';
import { Recent } from '../recent';
import { confined } from './sameOrigin';
import { perKey, sdk } from './sdk';

interface ManagedHsmRbacOptions {
  credential: TokenCredential;
  /** KEY_VAULT_HOST_SUFFIXES: only these hosts are ever called. */
  isAllowedHost: (hsmUri: string) => boolean;
  clientOptions?: PipelineOptions & { disableChallengeResourceVerification?: boolean };
  /** How long an HSM's role definitions are reused (default: as long as the instance lives); assignments are always read. */
  definitionsFreshForMs?: number;
}

/** The Key Vault data-plane RBAC API (Managed HSM local RBAC, as KeyVaultAccessControlClient calls it). */
const API_VERSION = '7.5';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface WireAssignment { properties?: { scope?: string; roleDefinitionId?: string; principalId?: string } }
interface WireDefinition {
  id?: string;
  name?: string;
  properties?: { roleName?: string; permissions?: Array<{ dataActions?: string[]; notDataActions?: string[] }> };
}

/**
 * Managed HSM local RBAC, read from the HSM's own data plane (ARM holds no role assignments for HSM keys):
 * `GET {hsm}/providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '{id}'` at scope `/` (which
 * lists the principal's assignments at `/`, `/keys` and each `/keys/{name}`) and the HSM's role definitions, listed
 * once per instance (or per definitionsFreshForMs). Challenge authentication as the Key Vault SDKs do it (resource https://managedhsm.azure.net),
 * through a pipeline per HSM that calls nothing but that HSM (a nextLink elsewhere is refused).
 */
export class ManagedHsmRoleGrants {
  private readonly definitions: Recent<RoleDefinition[]>;

  private readonly http = perKey((origin): Promise<{ pipeline: Pipeline; client: HttpClient; request: (url: string) => PipelineRequest }> =>
    Promise.all([sdk.pipeline(), sdk.keyVaultCommon()]).then(([rest, common]) => {
      const { disableChallengeResourceVerification, ...pipelineOptions } = this.options.clientOptions ?? {};
      const { pipeline } = confined({ pipeline: rest.createPipelineFromOptions(pipelineOptions) }, origin, 'key-vault');
      pipeline.addPolicy(common.keyVaultAuthenticationPolicy(this.options.credential, { disableChallengeResourceVerification: disableChallengeResourceVerification ?? false }));
      return { pipeline, client: rest.createDefaultHttpClient(), request: (url: string) => rest.createPipelineRequest({ url, method: 'GET' }) };
    }));

  constructor(private readonly options: ManagedHsmRbacOptions) {
    this.definitions = new Recent(options.definitionsFreshForMs);
  }

  async read(hsmUri: string, principalId: string): Promise<GrantsView> {
    if (!GUID.test(principalId)) throw new Error(`not a principal (object) id: ${principalId}`);
    if (!this.options.isAllowedHost(hsmUri)) throw new VaultNotAllowedError(hsmUri);
    const origin = new URL(hsmUri).origin;
    const filter = encodeURIComponent(`principalId eq '${principalId}'`);
    let assignments: RoleAssignment[];
    try {
      const listed = await this.list<WireAssignment>(origin, `/providers/Microsoft.Authorization/roleAssignments?api-version=${API_VERSION}&$filter=${filter}`, `listing role assignments of ${principalId} in ${origin}`);
      assignments = listed.flatMap(({ properties: p }) => (p?.scope && p.roleDefinitionId && p.principalId ? [{ scope: p.scope, roleDefinitionId: p.roleDefinitionId, principalId: p.principalId }] : []));
    } catch (error) {
      if (error instanceof DependencyError && error.statusCode === 403) return { status: 'denied', permission: READ_PERMISSIONS['managed-hsm'].assignments, detail: error.message };
      throw error;
    }
    try {
      return { status: 'read', assignments, definitions: await this.definitionsOf(origin) };
    } catch (error) {
      if (error instanceof DependencyError && error.statusCode === 403) return { status: 'denied', permission: READ_PERMISSIONS['managed-hsm'].definitions, detail: error.message };
      throw error;
    }
  }

  private definitionsOf(origin: string): Promise<RoleDefinition[]> {
    return this.definitions.get(origin, () => this.list<WireDefinition>(origin, `/providers/Microsoft.Authorization/roleDefinitions?api-version=${API_VERSION}`, `listing role definitions in ${origin}`)
      .then((listed) => listed.map((d): RoleDefinition => ({
        id: d.id ?? d.name ?? '',
        ...(d.properties?.roleName ? { roleName: d.properties.roleName } : {}),
        permissions: (d.properties?.permissions ?? []).map((p) => ({ dataActions: [...(p.dataActions ?? [])], notDataActions: [...(p.notDataActions ?? [])] })),
      }))));
  }

  /** Every page of a list; the HSM's pipeline refuses a nextLink off the HSM. */
  private async list<T>(origin: string, path: string, what: string): Promise<T[]> {
    const items: T[] = [];
    for (let next: string | undefined = `${origin}${path}`; next; ) {
      const body = JSON.parse((await this.send(origin, next, what)).bodyAsText || '{}') as { value?: T[]; nextLink?: string | null };
      items.push(...(body.value ?? []));
      next = body.nextLink ?? undefined;
    }
    return items;
  }

  private async send(origin: string, url: string, what: string): Promise<PipelineResponse> {
    const { pipeline, client, request } = await this.http(origin);
    let response: PipelineResponse;
    try {
      response = await pipeline.sendRequest(client, request(url));
    } catch (error) {
      throw toDependencyError(error, what, 'key-vault');
    }
    if (response.status < 400) return response;
    throw responseError(response, what, 'key-vault', 'the HSM answered');
  }
}
