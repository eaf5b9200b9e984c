import { randomUUID } from 'node:crypto';
import {
  accountEtag,
  applyAccountPatch,
  type MmkEncryption,
  buildCreatedAccount,
  checkLocation,
  readAccountBody,
  type ArmProblem,
} from './accountBody';
import { deepCopy, isJsonObject, type Json, type JsonObject } from './http';
import { normaliseLocation, parseResourceId, resourceKey } from './paths';
import { ResourceStore } from './resourceStore';

export interface OperationError {
  code: string;
  message: string;
}

/** The status values recorded for Cognitive Services account operations. */
type OperationStatus = 'Accepted' | 'Updating' | 'Succeeded' | 'Failed';

export interface AsyncOperation {
  id: string;
  accountKey: string;
  subscription: string;
  /** The region as ARM writes it in operation URLs: upper case, no spaces. */
  region: string;
  patch: JsonObject;
  status: OperationStatus;
  startTime: string;
  /** When the operation ends, on the stand-in's clock. */
  endsAt: number;
  endTime?: string;
  error?: OperationError;
  failure?: OperationError;
  /** An encryption scope's operation: the scope it writes, and whether it deletes it. */
  scopeKey?: string;
  deletes?: boolean;
}

/** One PATCH an account received, whatever its answer: what a downgrade check reads. */
export interface PatchRecord {
  accountId: string;
  at: string;
  status: number;
  keySource?: string;
  keyVersion?: string;
}

interface AccountServiceOptions {
  /** How long an update runs; operations advance with the clock, not with polls. */
  operationMs: number;
  /** After an update ends, the account still reports Accepted for this long (ARM's recorded lag). */
  settleLagMs: number;
  now: () => Date;
  tenantId: string;
  /** Kinds that refuse going from customer-managed back to Microsoft-managed keys. */
  cmkDisableRefusedKinds: string[];
  /** What an account shows once on Microsoft-managed keys. */
  mmkEncryption: MmkEncryption;
}

/** Cognitive Services accounts and their update operations, as the recorded service runs them. */
export class AccountService {
  readonly store = new ResourceStore();
  readonly patches: PatchRecord[] = [];
  /** Every update that took effect, when it did: what "the account moved" means for a chaos run. */
  readonly applied: Array<Omit<PatchRecord, 'status'>> = [];
  private readonly operations = new Map<string, AsyncOperation>();
  private readonly failNext = new Map<string, OperationError>();
  /** Account key -> time until which a finished account still reports Accepted. */
  private readonly lagUntil = new Map<string, number>();

  constructor(private readonly options: AccountServiceOptions) {}

  seed(resource: JsonObject): void {
    const id = resource['id'];
    if (typeof id !== 'string') throw new Error('putAccount: the resource needs an id');
    parseResourceId(id, 'Microsoft.CognitiveServices/accounts');
    this.store.put(deepCopy(resource));
  }

  /** The account as a GET answers it now: during an update and its lag, provisioningState says Accepted or Updating. */
  read(id: string): JsonObject | undefined {
    this.advance();
    const stored = this.store.get(id);
    if (!stored) return undefined;
    const copy = deepCopy(stored);
    const state = this.visibleState(resourceKey(id));
    if (state) setProvisioningState(copy, state);
    return copy;
  }

  /** Every account as a GET shows it, in every subscription. */
  all(): JsonObject[] {
    return this.store.values().map((account) => this.read(String(account['id'])) ?? account);
  }

  private snapshotTaken: { version: number; accounts: readonly JsonObject[] } | undefined;

  /**
   * all(), shared and not to be changed: taken again only when an account changed or an update runs or lags (what
   * a GET shows then moves with the clock). Resource Graph reads it for every query; copying 10,000 accounts per
   * query was the stand-in's own cost, which no recorded service has.
   */
  snapshot(): readonly JsonObject[] {
    this.advance();
    const now = this.options.now().getTime();
    const moving = [...this.lagUntil.values()].some((until) => until > now) || [...this.operations.values()].some((o) => o.status === 'Accepted' || o.status === 'Updating');
    if (moving || this.snapshotTaken?.version !== this.store.version) {
      this.snapshotTaken = { version: this.store.version, accounts: this.all() };
    }
    return this.snapshotTaken.accounts;
  }

  list(subscription: string, resourceGroup?: string): JsonObject[] {
    this.advance();
    return this.store.values()
      .filter((account) => {
        const parts = parseResourceId(String(account['id']), 'Microsoft.CognitiveServices/accounts');
        return parts.subscription.toLowerCase() === subscription.toLowerCase()
          && (resourceGroup === undefined || parts.resourceGroup.toLowerCase() === resourceGroup.toLowerCase());
      })
      .map((account) => this.read(String(account['id'])) ?? account);
  }

  failNextUpdate(id: string, error: OperationError): void {
    this.failNext.set(resourceKey(id), { ...error });
  }

  create(id: string, name: string, request: Json | undefined): { resource: JsonObject; created: boolean } | { problem: ArmProblem } {
    this.advance();
    const read = readAccountBody(request);
    if ('problem' in read) return read;
    const { body } = read;
    const existing = this.store.get(id);
    if (existing) {
      const refused = this.busy(id) ?? checkLocation(existing, body);
      if (refused) return { problem: refused };
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

  /**
   * Accounts_Update. Async: an operation that runs operationMs, the account Accepted meanwhile, and the
   * 202 body already showing the requested change (as recorded). Sync: applied at once, 200 with the account.
   */
  update(id: string, request: Json | undefined, mode: 'async' | 'sync'):
    | { accepted: JsonObject; operation: AsyncOperation }
    | { done: JsonObject }
    | { problem: ArmProblem } {
    this.advance();
    const problem = this.refuseUpdate(id, request);
    if (problem) {
      this.recordPatch(id, request, problem.status);
      return { problem };
    }
    const account = this.store.get(id) as JsonObject;
    const body = request as JsonObject;
    const key = resourceKey(id);
    const failure = this.failNext.get(key);
    this.failNext.delete(key);
    const now = this.options.now();
    if (mode === 'sync' && !failure) {
      this.recordPatch(id, request, 200);
      this.apply(key, body);
      return { done: this.read(id) ?? account };
    }
    this.recordPatch(id, request, 202);
    const operation: AsyncOperation = {
      id: randomUUID(),
      accountKey: key,
      subscription: parseResourceId(id, 'Microsoft.CognitiveServices/accounts').subscription,
      region: normaliseLocation(String(account['location'] ?? 'global')).toUpperCase(),
      patch: deepCopy(body),
      status: 'Accepted',
      startTime: now.toISOString(),
      endsAt: now.getTime() + this.options.operationMs,
      ...(failure ? { failure } : {}),
    };
    this.operations.set(operation.id, operation);
    const accepted = applyAccountPatch(account, body, this.options.mmkEncryption);
    setProvisioningState(accepted, 'Accepted');
    return { accepted, operation };
  }

  /** An operation as its status URL answers it now. */
  operation(operationId: string, subscription: string): AsyncOperation | undefined {
    this.advance();
    const operation = this.operations.get(operationId.toLowerCase());
    if (!operation || operation.subscription.toLowerCase() !== subscription.toLowerCase()) return undefined;
    return operation;
  }

  /** Finishes every operation whose time has come, and reports the others as Updating after their first third. */
  private advance(): void {
    const now = this.options.now().getTime();
    for (const operation of this.operations.values()) advanceOperation(operation, now, this.options.operationMs, (o) => this.finish(o));
  }

  private finish(operation: AsyncOperation): void {
    const account = this.store.get(operation.accountKey);
    operation.endTime = new Date(operation.endsAt).toISOString();
    if (!account || operation.failure) {
      operation.status = 'Failed';
      operation.error = operation.failure ?? { code: 'ResourceNotFound', message: 'The account no longer exists.' };
      if (account) {
        setProvisioningState(account, 'Failed');
        this.store.put(account);
      }
      return;
    }
    this.apply(operation.accountKey, operation.patch);
    operation.status = 'Succeeded';
    if (this.options.settleLagMs > 0) this.lagUntil.set(operation.accountKey, operation.endsAt + this.options.settleLagMs);
  }

  private apply(key: string, patch: JsonObject): void {
    const account = this.store.get(key);
    if (!account) return;
    const { keySource, keyVersion } = requested(patch);
    this.applied.push({
      accountId: String(account['id']), at: this.options.now().toISOString(),
      ...(keySource ? { keySource } : {}), ...(keyVersion ? { keyVersion } : {}),
    });
    const updated = applyAccountPatch(account, patch, this.options.mmkEncryption);
    setProvisioningState(updated, 'Succeeded');
    if (typeof updated['etag'] === 'string') updated['etag'] = accountEtag(this.options.now());
    this.store.put(updated);
  }

  /** What a GET shows instead of the stored provisioningState, while an update runs or lags. */
  private visibleState(key: string): string | undefined {
    for (const operation of this.operations.values()) {
      if (operation.accountKey === key && (operation.status === 'Accepted' || operation.status === 'Updating')) return 'Accepted';
    }
    const lag = this.lagUntil.get(key);
    if (lag !== undefined && this.options.now().getTime() < lag) return 'Accepted';
    return undefined;
  }

  private refuseUpdate(id: string, request: Json | undefined): ArmProblem | undefined {
    const account = this.store.get(id);
    if (!account) return notFound(id);
    const read = readAccountBody(request);
    if ('problem' in read) return read.problem;
    return this.busy(id) ?? checkLocation(account, read.body) ?? this.refuseCmkDisable(account, read.body);
  }

  /** An AI Foundry (AIServices) account cannot go back to Microsoft-managed keys (DESIGN §9; the answer's shape is not recorded). */
  private refuseCmkDisable(account: JsonObject, body: JsonObject): ArmProblem | undefined {
    const kind = String(account['kind'] ?? '');
    if (!this.options.cmkDisableRefusedKinds.some((k) => k.toLowerCase() === kind.toLowerCase())) return undefined;
    const current = isJsonObject(account['properties']) && isJsonObject(account['properties']['encryption']) ? account['properties']['encryption']['keySource'] : undefined;
    if (current !== 'Microsoft.KeyVault' || requested(body).keySource !== 'Microsoft.CognitiveServices') return undefined;
    return {
      status: 400,
      code: 'BadRequest',
      message: `Customer-managed key encryption cannot be disabled for an account of kind ${kind}: keySource cannot change from Microsoft.KeyVault to Microsoft.CognitiveServices.`,
    };
  }

  /** A busy account is refused with 400 AccountProvisioningStateInvalid, not 409 (recorded, DESIGN §9); so are writes to its scopes. */
  busy(id: string): ArmProblem | undefined {
    this.advance();
    const state = this.visibleState(resourceKey(id));
    if (!state) return undefined;
    return {
      status: 400,
      code: 'AccountProvisioningStateInvalid',
      message: `Call to Microsoft.CognitiveServices/accounts failed. Error message: Account ${id} in state ${state}`,
    };
  }

  private recordPatch(id: string, request: Json | undefined, status: number): void {
    const { keySource, keyVersion } = requested(request);
    const stored = this.store.get(id);
    this.patches.push({
      accountId: typeof stored?.['id'] === 'string' ? stored['id'] : id,
      at: this.options.now().toISOString(),
      status,
      ...(keySource ? { keySource } : {}),
      ...(keyVersion ? { keyVersion } : {}),
    });
  }
}

/** Moves an operation along the clock: Updating after its first third, ended by `finish` at its end. */
export function advanceOperation(operation: AsyncOperation, now: number, operationMs: number, finish: (operation: AsyncOperation) => void): void {
  if (operation.status === 'Succeeded' || operation.status === 'Failed') return;
  if (now >= operation.endsAt) finish(operation);
  else if (now >= operation.endsAt - (operationMs * 2) / 3) operation.status = 'Updating';
}

/** The key source and version an update body asks for. */
function requested(body: Json | undefined): { keySource?: string; keyVersion?: string } {
  const properties = isJsonObject(body) && isJsonObject(body['properties']) ? body['properties'] : undefined;
  const encryption = properties && isJsonObject(properties['encryption']) ? properties['encryption'] : undefined;
  const vault = encryption && isJsonObject(encryption['keyVaultProperties']) ? encryption['keyVaultProperties'] : undefined;
  return {
    ...(typeof encryption?.['keySource'] === 'string' ? { keySource: encryption['keySource'] } : {}),
    ...(typeof vault?.['keyVersion'] === 'string' ? { keyVersion: vault['keyVersion'] } : {}),
  };
}

function setProvisioningState(account: JsonObject, state: string): void {
  const properties = isJsonObject(account['properties']) ? account['properties'] : {};
  properties['provisioningState'] = state;
  account['properties'] = properties;
}

export function notFound(id: string): ArmProblem {
  const type = /\/providers\/microsoft\.keyvault\/managedhsms\//i.test(id)
    ? 'Microsoft.KeyVault/managedHSMs'
    : /\/providers\/microsoft\.keyvault\//i.test(id) ? 'Microsoft.KeyVault/vaults' : 'Microsoft.CognitiveServices/accounts';
  const parts = parseResourceId(id, type);
  return {
    status: 404,
    code: 'ResourceNotFound',
    message: `The Resource '${type}/${parts.name}' under resource group '${parts.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  };
}
