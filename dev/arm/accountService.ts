import { randomUUID } from 'node:crypto';
import {
  accountEtag,
  applyAccountPatch,
  buildCreatedAccount,
  checkLocation,
  readAccountBody,
  type ArmProblem,
} from './accountBody';
import { deepCopy, isJsonObject, type Json, type JsonObject } from './http';
import { normaliseLocation, parseResourceId, resourceKey } from './paths';

export interface OperationError {
  code: string;
  message: string;
}

export interface AsyncOperation {
  id: string;
  accountKey: string;
  subscription: string;
  location: string;
  patch: JsonObject;
  pollsLeft: number;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  startTime: string;
  endTime?: string;
  error?: OperationError;
  failure?: OperationError;
}

/** Resources keyed case-insensitively by id; the stored JSON keeps the casing it was given. */
export class ResourceStore {
  private readonly items = new Map<string, JsonObject>();

  put(resource: JsonObject): void {
    const id = resource['id'];
    if (typeof id !== 'string') throw new Error('A resource needs a string id');
    this.items.set(resourceKey(id), resource);
  }

  get(id: string): JsonObject | undefined {
    return this.items.get(resourceKey(id));
  }

  values(): JsonObject[] {
    return [...this.items.values()];
  }
}

export interface AccountServiceOptions {
  lroPolls: number;
  now: () => Date;
  tenantId: string;
}

/** Cognitive Services accounts and their update operations, which advance only when polled. */
export class AccountService {
  readonly store = new ResourceStore();
  private readonly operations = new Map<string, AsyncOperation>();
  private readonly failNext = new Map<string, OperationError>();

  constructor(private readonly options: AccountServiceOptions) {}

  seed(resource: JsonObject): void {
    const id = resource['id'];
    if (typeof id !== 'string') throw new Error('putAccount: the resource needs an id');
    parseResourceId(id, 'Microsoft.CognitiveServices/accounts');
    this.store.put(deepCopy(resource));
  }

  list(subscription: string, resourceGroup?: string): JsonObject[] {
    return this.store.values().filter((account) => {
      const parts = parseResourceId(String(account['id']), 'Microsoft.CognitiveServices/accounts');
      return (
        parts.subscription.toLowerCase() === subscription.toLowerCase() &&
        (resourceGroup === undefined || parts.resourceGroup.toLowerCase() === resourceGroup.toLowerCase())
      );
    });
  }

  failNextUpdate(id: string, error: OperationError): void {
    this.failNext.set(resourceKey(id), { ...error });
  }

  create(
    id: string,
    name: string,
    request: Json | undefined,
  ): { resource: JsonObject; created: boolean } | { problem: ArmProblem } {
    const read = readAccountBody(request);
    if ('problem' in read) return read;
    const { body } = read;
    const existing = this.store.get(id);
    if (existing) {
      const busy = this.busy(id) ?? checkLocation(existing, body);
      if (busy) return { problem: busy };
    }
    const built = buildCreatedAccount(body, {
      id: typeof existing?.['id'] === 'string' ? existing['id'] : id,
      name: typeof existing?.['name'] === 'string' ? existing['name'] : name,
      tenantId: this.options.tenantId,
      etag: accountEtag(this.options.now()),
      ...(existing ? { existing } : {}),
    });
    if ('problem' in built) return built;
    this.store.put(built.resource);
    return { resource: deepCopy(built.resource), created: !existing };
  }

  /** Starts Accounts_Update: the account shows Accepted until the operation is polled to its end. */
  beginUpdate(
    id: string,
    request: Json | undefined,
  ): { accepted: JsonObject; operation: AsyncOperation } | { problem: ArmProblem } {
    const account = this.store.get(id);
    if (!account) return { problem: notFound(id) };
    const read = readAccountBody(request);
    if ('problem' in read) return read;
    const { body } = read;
    const refused = this.busy(id) ?? checkLocation(account, body);
    if (refused) return { problem: refused };
    const key = resourceKey(id);
    const failure = this.failNext.get(key);
    this.failNext.delete(key);
    const operation: AsyncOperation = {
      id: randomUUID(),
      accountKey: key,
      subscription: parseResourceId(id, 'Microsoft.CognitiveServices/accounts').subscription,
      location: normaliseLocation(String(account['location'] ?? 'global')),
      patch: deepCopy(body),
      pollsLeft: this.options.lroPolls,
      status: 'InProgress',
      startTime: this.options.now().toISOString(),
      ...(failure ? { failure } : {}),
    };
    this.operations.set(operation.id, operation);
    setProvisioningState(account, 'Accepted');
    return { accepted: deepCopy(account), operation };
  }

  /** One status poll: answers InProgress `lroPolls` times, then finishes the operation. */
  poll(operationId: string, subscription: string): AsyncOperation | undefined {
    const operation = this.operations.get(operationId.toLowerCase());
    if (!operation || operation.subscription.toLowerCase() !== subscription.toLowerCase()) return undefined;
    if (operation.status === 'InProgress') {
      if (operation.pollsLeft > 0) operation.pollsLeft -= 1;
      else this.finish(operation);
    }
    return operation;
  }

  current(operation: AsyncOperation): JsonObject | undefined {
    const account = this.store.get(operation.accountKey);
    return account ? deepCopy(account) : undefined;
  }

  private finish(operation: AsyncOperation): void {
    const account = this.store.get(operation.accountKey);
    operation.endTime = this.options.now().toISOString();
    if (!account || operation.failure) {
      operation.status = 'Failed';
      operation.error = operation.failure ?? { code: 'ResourceNotFound', message: 'The account no longer exists.' };
      if (account) setProvisioningState(account, 'Failed');
      return;
    }
    const updated = applyAccountPatch(account, operation.patch);
    setProvisioningState(updated, 'Succeeded');
    if (typeof updated['etag'] === 'string') updated['etag'] = accountEtag(this.options.now());
    this.store.put(updated);
    operation.status = 'Succeeded';
  }

  private busy(id: string): ArmProblem | undefined {
    const key = resourceKey(id);
    for (const operation of this.operations.values()) {
      if (operation.accountKey === key && operation.status === 'InProgress') {
        return {
          status: 409,
          code: 'Conflict',
          message: `Another operation (${operation.id}) is in progress on account '${id}'. Retry after it completes.`,
        };
      }
    }
    return undefined;
  }
}

function setProvisioningState(account: JsonObject, state: string): void {
  const properties = isJsonObject(account['properties']) ? account['properties'] : {};
  properties['provisioningState'] = state;
  account['properties'] = properties;
}

export function notFound(id: string): ArmProblem {
  const type = /\/providers\/microsoft\.keyvault\//i.test(id)
    ? 'Microsoft.KeyVault/vaults'
    : 'Microsoft.CognitiveServices/accounts';
  const parts = parseResourceId(id, type);
  return {
    status: 404,
    code: 'ResourceNotFound',
    message: `The Resource '${type}/${parts.name}' under resource group '${parts.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  };
}
