import { randomUUID } from 'node:crypto';
import { validateEncryption, type ArmProblem } from './accountBody';
import { advanceOperation, type AccountService, type AsyncOperation } from './accountService';
import { ResourceStore } from './resourceStore';
import { deepCopy, isJsonObject, type Json, type JsonObject } from './http';
import { normaliseLocation, parseResourceId, resourceKey } from './paths';

const SCOPE_TYPE = 'Microsoft.CognitiveServices/accounts/encryptionScopes';

/** One PUT of an encryption scope, whatever its answer: what a test of "no write" reads. */
export interface ScopeWrite {
  scopeId: string;
  at: string;
  status: number;
  keyVersion?: string;
}

interface ScopeServiceOptions {
  operationMs: number;
  now: () => Date;
  /** 'sync' (recorded: the PUT examples answer 200/201 with the scope) or 'async' (202 with polling headers, as an update). */
  putAnswer: 'sync' | 'async';
  /** 'async' (recorded: 202 with a lower-case azure-asyncoperation header) or 'sync' (204). */
  deleteAnswer: 'async' | 'sync';
}

export function scopeId(accountId: string, name: string): string {
  return `${accountId.replace(/\/+$/, '')}/encryptionScopes/${name}`;
}

/** The account id a scope id belongs to. */
function accountOf(id: string): string {
  return id.replace(/\/encryptionScopes\/[^/]+\/?$/i, '');
}

/** accounts/encryptionScopes as the REST examples show them: GET, LIST, PUT (create or replace) and DELETE. */
export class ScopeService {
  readonly store = new ResourceStore();
  readonly writes: ScopeWrite[] = [];
  private readonly operations = new Map<string, AsyncOperation>();

  constructor(private readonly accounts: AccountService, private readonly options: ScopeServiceOptions) {}

  seed(resource: JsonObject): void {
    const id = String(resource['id']);
    parseResourceId(accountOf(id), 'Microsoft.CognitiveServices/accounts');
    this.store.put(deepCopy({ type: SCOPE_TYPE, ...resource }));
  }

  /** The scope as a GET answers it now: Accepted while a PUT of it runs, Deleting while its DELETE runs. */
  read(id: string): JsonObject | undefined {
    this.advance();
    const stored = this.store.get(id);
    if (!stored) return undefined;
    const copy = deepCopy(stored);
    const running = [...this.operations.values()].find((o) => o.scopeKey === resourceKey(id) && (o.status === 'Accepted' || o.status === 'Updating'));
    if (running) properties(copy)['provisioningState'] = running.deletes ? 'Deleting' : 'Accepted';
    return copy;
  }

  /** The scopes of one account, in id order; undefined when the account does not exist. */
  list(accountId: string): JsonObject[] | undefined {
    if (!this.accounts.store.get(accountId)) return undefined;
    const prefix = `${resourceKey(accountId)}/encryptionscopes/`;
    return this.store.values()
      .filter((s) => resourceKey(String(s['id'])).startsWith(prefix))
      .sort((a, b) => resourceKey(String(a['id'])).localeCompare(resourceKey(String(b['id']))))
      .map((s) => this.read(String(s['id'])) ?? s);
  }

  /** EncryptionScopes_CreateOrUpdate: the body replaces the scope's properties whole. */
  put(accountId: string, name: string, request: Json | undefined):
    | { resource: JsonObject; created: boolean }
    | { accepted: JsonObject; operation: AsyncOperation }
    | { problem: ArmProblem } {
    const id = scopeId(accountId, name);
    const problem = this.refuse(accountId, request);
    if (problem) {
      this.record(id, request, problem.status);
      return { problem };
    }
    const existing = this.store.get(id);
    const next = this.build(existing ? String(existing['id']) : id, name, request as JsonObject, existing);
    if (this.options.putAnswer === 'sync') {
      this.record(id, request, existing ? 200 : 201);
      this.store.put(next);
      return { resource: deepCopy(next), created: !existing };
    }
    this.record(id, request, 202);
    const operation = this.start(accountId, id, { scope: next });
    const accepted = deepCopy(next);
    properties(accepted)['provisioningState'] = 'Accepted';
    return { accepted, operation };
  }

  /** EncryptionScopes_Delete: 202 with an operation (recorded), or 204. */
  remove(accountId: string, name: string): { done: true } | { operation: AsyncOperation } | { problem: ArmProblem } {
    const id = scopeId(accountId, name);
    if (!this.accounts.store.get(accountId)) return { problem: scopeNotFound(id) };
    const busy = this.accounts.busy(accountId);
    if (busy) return { problem: busy };
    if (!this.store.get(id)) return { done: true };
    if (this.options.deleteAnswer === 'sync') {
      this.store.delete(id);
      return { done: true };
    }
    return { operation: this.start(accountId, id, { deletes: true }) };
  }

  operation(operationId: string, subscription: string): AsyncOperation | undefined {
    this.advance();
    const operation = this.operations.get(operationId.toLowerCase());
    return operation && operation.subscription.toLowerCase() === subscription.toLowerCase() ? operation : undefined;
  }

  private refuse(accountId: string, request: Json | undefined): ArmProblem | undefined {
    if (!this.accounts.store.get(accountId)) return scopeNotFound(accountId);
    if (!isJsonObject(request) || !isJsonObject(request['properties'])) {
      return { status: 400, code: 'InvalidRequestContent', message: "The request content was invalid and could not be deserialized: 'properties' must be an object." };
    }
    return this.accounts.busy(accountId) ?? validateEncryption(request['properties'], 'properties');
  }

  private build(id: string, name: string, body: JsonObject, existing: JsonObject | undefined): JsonObject {
    const now = this.options.now().toISOString();
    const given = deepCopy(body['properties'] as JsonObject);
    delete given['provisioningState'];
    const before = isJsonObject(existing?.['systemData']) ? existing['systemData'] : { createdBy: 'stand-in', createdByType: 'Application', createdAt: now };
    return {
      id, name, type: SCOPE_TYPE,
      etag: `"${randomUUID()}"`,
      properties: { ...given, provisioningState: 'Succeeded' },
      systemData: { ...before, lastModifiedBy: 'stand-in', lastModifiedByType: 'Application', lastModifiedAt: now },
    };
  }

  private start(accountId: string, id: string, effect: { scope?: JsonObject; deletes?: boolean }): AsyncOperation {
    const now = this.options.now();
    const account = this.accounts.store.get(accountId) as JsonObject;
    const operation: AsyncOperation = {
      id: randomUUID(),
      accountKey: resourceKey(accountId),
      subscription: parseResourceId(accountId, 'Microsoft.CognitiveServices/accounts').subscription,
      region: normaliseLocation(String(account['location'] ?? 'global')).toUpperCase(),
      patch: effect.scope ?? {},
      status: 'Accepted',
      startTime: now.toISOString(),
      endsAt: now.getTime() + this.options.operationMs,
      scopeKey: resourceKey(id),
      ...(effect.deletes ? { deletes: true } : {}),
    };
    this.operations.set(operation.id, operation);
    return operation;
  }

  private advance(): void {
    const now = this.options.now().getTime();
    for (const operation of this.operations.values()) {
      advanceOperation(operation, now, this.options.operationMs, (o) => {
        if (o.deletes) this.store.delete(o.scopeKey ?? '');
        else this.store.put(o.patch);
        o.status = 'Succeeded';
        o.endTime = new Date(o.endsAt).toISOString();
      });
    }
  }

  private record(id: string, request: Json | undefined, status: number): void {
    const vault = isJsonObject(request) && isJsonObject(request['properties']) ? request['properties']['keyVaultProperties'] : undefined;
    const keyVersion = isJsonObject(vault) && typeof vault['keyVersion'] === 'string' ? vault['keyVersion'] : undefined;
    this.writes.push({ scopeId: this.store.get(id)?.['id'] as string ?? id, at: this.options.now().toISOString(), status, ...(keyVersion !== undefined ? { keyVersion } : {}) });
  }
}

function properties(resource: JsonObject): JsonObject {
  const props = isJsonObject(resource['properties']) ? resource['properties'] : {};
  resource['properties'] = props;
  return props;
}

export function scopeNotFound(id: string): ArmProblem {
  const name = id.split('/').pop() ?? '';
  return {
    status: 404,
    code: 'ResourceNotFound',
    message: `The Resource '${/\/encryptionScopes\//i.test(id) ? SCOPE_TYPE : 'Microsoft.CognitiveServices/accounts'}/${name}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  };
}
