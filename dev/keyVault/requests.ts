import type { LifetimeAction } from './model';
import type { NewVersionSpec, PolicySpec, VersionPatch } from './vault';
import { badParameter } from './wire';

/** Wire bodies -> typed specs; a wrong JSON type is a 400 BadParameter, as the service answers. */

type Json = Record<string, unknown>;

export function parseCreate(body: unknown): NewVersionSpec {
  const b = object(body, 'parameters');
  if (typeof b.kty !== 'string') throw badParameter("The property 'kty' is required.");
  const attributes = attributesOf(b);
  return {
    kty: b.kty,
    size: optional(b, 'key_size', 'number'),
    crv: optional(b, 'crv', 'string'),
    keyOps: stringArray(b, 'key_ops'),
    tags: tags(b),
    enabled: optional(attributes, 'enabled', 'boolean'),
    nbf: optional(attributes, 'nbf', 'number'),
    exp: optional(attributes, 'exp', 'number'),
  };
}

export function parsePatch(body: unknown): VersionPatch {
  const b = body === undefined ? {} : object(body, 'parameters');
  const attributes = attributesOf(b);
  return {
    keyOps: stringArray(b, 'key_ops'),
    tags: tags(b),
    enabled: optional(attributes, 'enabled', 'boolean'),
    nbf: optional(attributes, 'nbf', 'number'),
    exp: optional(attributes, 'exp', 'number'),
  };
}

export function parsePolicy(body: unknown): PolicySpec {
  const b = object(body, 'keyRotationPolicy');
  const attributes = attributesOf(b);
  const actions = b.lifetimeActions;
  if (actions !== undefined && actions !== null && !Array.isArray(actions)) {
    throw badParameter("The property 'lifetimeActions' must be an array.");
  }
  return {
    lifetimeActions: (actions ?? []) as LifetimeAction[],
    expiryTime: optional(attributes, 'expiryTime', 'string'),
  };
}

function object(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badParameter(`The request body must be a JSON object (${what}).`);
  }
  return value as Json;
}

function attributesOf(b: Json): Json {
  return b.attributes === undefined || b.attributes === null ? {} : object(b.attributes, 'attributes');
}

function optional<T extends 'string' | 'number' | 'boolean'>(
  b: Json, key: string, type: T,
): (T extends 'string' ? string : T extends 'number' ? number : boolean) | undefined {
  const value = b[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== type) throw badParameter(`The property '${key}' must be a ${type}.`);
  return value as never;
}

function stringArray(b: Json, key: string): string[] | undefined {
  const value = b[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw badParameter(`The property '${key}' must be an array of strings.`);
  }
  return value as string[];
}

function tags(b: Json): Record<string, string> | undefined {
  const value = b.tags;
  if (value === undefined || value === null) return undefined;
  const t = object(value, 'tags');
  if (Object.values(t).some((v) => typeof v !== 'string')) throw badParameter('Tag values must be strings.');
  return t as Record<string, string>;
}
