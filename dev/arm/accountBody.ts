import { randomUUID } from 'node:crypto';
import { deepCopy, isJsonObject, type Json, type JsonObject } from './http';
import { normaliseLocation } from './paths';

/** An ARM error answer the routes turn into a response. */
export interface ArmProblem {
  status: number;
  code: string;
  message: string;
}

const keySources = ['Microsoft.KeyVault', 'Microsoft.CognitiveServices'] as const;
// keyVersion is optional: empty or absent is a versionless binding, as Terraform sends it (DESIGN §9).
const requiredKeyVaultFields = ['keyName', 'keyVaultUri'] as const;
const readOnlyTopLevel = new Set(['id', 'name', 'type', 'etag', 'systemData', 'location']);

function badRequest(message: string): ArmProblem {
  return { status: 400, code: 'BadRequest', message };
}

function invalidContent(message: string): ArmProblem {
  const prefix = 'The request content was invalid and could not be deserialized:';
  return { status: 400, code: 'InvalidRequestContent', message: `${prefix} ${message}` };
}

/** Checks an Accounts_Create / Accounts_Update body's shape and its encryption settings. */
export function readAccountBody(body: Json | undefined): { body: JsonObject } | { problem: ArmProblem } {
  if (!isJsonObject(body)) return { problem: invalidContent('the body must be a JSON object.') };
  for (const field of ['properties', 'sku', 'tags', 'identity'] as const) {
    const value = body[field];
    if (value !== undefined && value !== null && !isJsonObject(value)) {
      return { problem: invalidContent(`'${field}' must be an object.`) };
    }
  }
  const properties = body['properties'];
  const problem = isJsonObject(properties) && properties['encryption'] !== undefined
    ? validateEncryption(properties['encryption'], 'properties.encryption')
    : undefined;
  return problem ? { problem } : { body };
}

/**
 * Checks an encryption setting: an account's `properties.encryption`, or an encryption scope's `properties`
 * (the same keySource and keyVaultProperties, one level up); `at` is its path in the body, for the messages.
 */
export function validateEncryption(encryption: Json | undefined, at: string): ArmProblem | undefined {
  if (!isJsonObject(encryption)) return invalidContent(`'${at}' must be an object.`);
  const keySource = encryption['keySource'];
  // The swagger's default keySource is not applied: a caller must say which keys it means.
  if (keySource === undefined || keySource === null) {
    return badRequest(`'${at}.keySource' is required.`);
  }
  if (!keySources.some((allowed) => allowed === keySource)) {
    return badRequest(
      `The value '${String(keySource)}' of '${at}.keySource' is invalid. Allowed values: ${keySources.join(', ')}.`,
    );
  }
  if (keySource !== 'Microsoft.KeyVault') return undefined;
  const vault = encryption['keyVaultProperties'];
  if (!isJsonObject(vault)) {
    return badRequest(`'${at}.keyVaultProperties' is required when keySource is Microsoft.KeyVault.`);
  }
  for (const field of requiredKeyVaultFields) {
    const value = vault[field];
    if (typeof value !== 'string' || value.trim() === '') {
      return badRequest(`'${at}.keyVaultProperties.${field}' is required when keySource is Microsoft.KeyVault.`);
    }
  }
  if (!isHttpsUrl(vault['keyVaultUri'])) {
    return badRequest(`'${at}.keyVaultProperties.keyVaultUri' must be an absolute https URI.`);
  }
  for (const field of ['keyVersion', 'identityClientId'] as const) {
    const value = vault[field];
    if (value !== undefined && value !== null && typeof value !== 'string') {
      return invalidContent(`'${at}.keyVaultProperties.${field}' must be a string.`);
    }
  }
  return undefined;
}

function isHttpsUrl(value: Json | undefined): boolean {
  if (typeof value !== 'string') return false;
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}

/** Location is fixed at creation; ARM refuses to move a resource through PUT or PATCH. */
export function checkLocation(resource: JsonObject, body: JsonObject): ArmProblem | undefined {
  const wanted = body['location'];
  const current = resource['location'];
  if (typeof wanted !== 'string' || typeof current !== 'string') return undefined;
  if (normaliseLocation(wanted) === normaliseLocation(current)) return undefined;
  return {
    status: 400,
    code: 'InvalidResourceLocation',
    message: `The resource '${String(resource['name'])}' already exists in location '${current}'. A resource with the same name cannot be moved to location '${wanted}'.`,
  };
}

/**
 * What an account shows after a switch to Microsoft-managed keys: `kept` (recorded, DESIGN §9), the encryption
 * property with keySource Microsoft.CognitiveServices and nothing else; `absent`, no encryption property at all
 * (as an account that never had a customer-managed key shows). Both mean Microsoft-managed keys.
 */
export type MmkEncryption = 'kept' | 'absent';

function setEncryption(properties: JsonObject, encryption: JsonObject, mmk: MmkEncryption): void {
  if (encryption['keySource'] !== 'Microsoft.CognitiveServices') properties['encryption'] = deepCopy(encryption);
  else if (mmk === 'absent') delete properties['encryption'];
  else properties['encryption'] = { keySource: 'Microsoft.CognitiveServices' };
}

/** Accounts_Update semantics: top-level fields replaced, `properties` merged one level deep. */
export function applyAccountPatch(resource: JsonObject, patch: JsonObject, mmk: MmkEncryption = 'kept'): JsonObject {
  const next = deepCopy(resource);
  for (const [field, value] of Object.entries(patch)) {
    if (readOnlyTopLevel.has(field) || field === 'properties') continue;
    next[field] = deepCopy(value);
  }
  const changes = patch['properties'];
  if (isJsonObject(changes)) {
    const properties = isJsonObject(next['properties']) ? next['properties'] : {};
    for (const [field, value] of Object.entries(changes)) {
      if (field === 'provisioningState') continue;
      if (field === 'encryption' && isJsonObject(value)) setEncryption(properties, value, mmk);
      else properties[field] = deepCopy(value);
    }
    next['properties'] = properties;
  }
  return next;
}

interface CreateContext {
  id: string;
  name: string;
  tenantId: string;
  etag: string;
  existing?: JsonObject;
}

/** Accounts_Create: the stored resource is the request plus the fields the service fills in. */
export function buildCreatedAccount(
  body: JsonObject,
  context: CreateContext,
): { resource: JsonObject } | { problem: ArmProblem } {
  const location = body['location'];
  if (typeof location !== 'string' || location.trim() === '') {
    const message = 'The location property is required for this definition.';
    return { problem: { status: 400, code: 'LocationRequired', message } };
  }
  const properties: JsonObject = {};
  const given = isJsonObject(body['properties']) ? body['properties'] : {};
  for (const [field, value] of Object.entries(given)) {
    if (field === 'provisioningState') continue;
    if (field === 'encryption' && isJsonObject(value)) setEncryption(properties, value, 'kept');
    else properties[field] = deepCopy(value);
  }
  const subdomain = properties['customSubDomainName'];
  properties['endpoint'] =
    typeof subdomain === 'string'
      ? `https://${subdomain}.cognitiveservices.azure.com/`
      : `https://${normaliseLocation(location)}.api.cognitive.microsoft.com/`;
  properties['provisioningState'] = 'Succeeded';
  const resource: JsonObject = {
    id: context.id,
    name: context.name,
    type: 'Microsoft.CognitiveServices/accounts',
    location,
  };
  for (const field of ['kind', 'sku', 'tags'] as const) {
    const value = body[field];
    if (value !== undefined) resource[field] = deepCopy(value);
  }
  const identity = createdIdentity(body['identity'], context);
  if (identity) resource['identity'] = identity;
  resource['etag'] = context.etag;
  resource['properties'] = properties;
  return { resource };
}

function createdIdentity(given: Json | undefined, context: CreateContext): JsonObject | undefined {
  if (!isJsonObject(given)) return undefined;
  const identity = deepCopy(given);
  const type = identity['type'];
  if (typeof type === 'string' && /SystemAssigned/i.test(type)) {
    const previous = context.existing?.['identity'];
    const principalId = isJsonObject(previous) ? previous['principalId'] : undefined;
    identity['principalId'] = typeof principalId === 'string' ? principalId : randomUUID();
    identity['tenantId'] = context.tenantId;
  }
  return identity;
}

/** ARM's weak etag format for Cognitive Services accounts. */
export function accountEtag(at: Date): string {
  return `W/"datetime'${encodeURIComponent(at.toISOString().replace('Z', '0000Z'))}'"`;
}
