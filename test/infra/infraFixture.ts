// What the infra checks share: infra/ parsed once per test file (call `before(loadInfraFixture)`), module calls
// (at any depth under main.bicep) evaluated with their arguments, the deployments a set of parameters makes, the
// deployed app settings, and the role ids the assignments grant.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  BicepFile,
  isPlainObject,
  loadInfra,
  property,
  propertyPath,
  reachable,
  repoRoot,
  Scope,
  stringLiteral,
  type Declaration,
  type Node,
  type Value,
} from './bicep';
import { deploymentsOf, firstCall, type Deployment } from './deployments';

export const ROOT = repoRoot();

/** Built-in role definition ids. */
export const ROLE = {
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  keyVaultCryptoOfficer: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603',
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
};
export const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** Every .bicep file under infra/ and main.bicep among them; set by loadInfraFixture (live bindings). */
export let files: BicepFile[] = [];
export let main: BicepFile;

export async function loadInfraFixture(): Promise<void> {
  files = await loadInfra(ROOT);
  main = infraFile('infra/main.bicep');
}

export function infraFile(rel: string): BicepFile {
  const found = files.find((f) => f.rel === rel);
  assert.ok(found, `${rel} is missing`);
  return found;
}

export function readText(rel: string): string {
  return readFileSync(path.join(ROOT, rel), 'utf8');
}

/**
 * The first call of a module (path under infra/), in main.bicep or a module it calls, and the module's scope with its
 * params bound through the calls (and main's params to `bound`); loop variables stay unbound.
 */
export function moduleCall(target: string, bound: ReadonlyMap<string, Value> = new Map()): { call: Declaration; scope: Scope } {
  const found = firstCall(files, main, `infra/${target}`, bound);
  assert.ok(found, `nothing under main.bicep calls ${target}`);
  return found;
}

/** Every deployment of a module (path under infra/) for main's params in `bound`: loops expanded, false conditions dropped. */
export function deployments(target: string, bound: ReadonlyMap<string, Value> = new Map()): Deployment[] {
  return deploymentsOf(files, main, bound).filter((d) => d.scope.file.rel === `infra/${target}`);
}

export function only(scope: Scope, type: string): Declaration {
  const found = scope.file.resources(type);
  assert.equal(found.length, 1, `${scope.file.rel} should declare exactly one ${type}`);
  return found[0] as Declaration;
}

export function value(scope: Scope, body: Node | undefined, dotted: string): Value {
  const node = propertyPath(body, dotted);
  assert.ok(node, `${body ? scope.file.where(body) : scope.file.rel}: no ${dotted}`);
  return scope.evaluate(node);
}

export function asStrings(v: Value, what: string): string[] {
  assert.ok(Array.isArray(v) && v.every((s) => typeof s === 'string'), `${what} should be a list of literal strings, got ${String(v)}`);
  return v as string[];
}

/** The value a module's parameter has in this scope (its argument, or its default). */
export function paramValue(scope: Scope, name: string): Value {
  const param = scope.file.byName.get(name);
  assert.equal(param?.kind, 'param', `${scope.file.rel} has no param ${name}`);
  return scope.evaluate(param.node.namedChildren.find((n) => n.type === 'identifier'));
}

/** The identifier a property points at, if it is a bare symbol reference. */
export function symbolAt(file: BicepFile, node: Node | undefined): Declaration | undefined {
  return node?.type === 'identifier' ? file.byName.get(node.text) : undefined;
}

/** The Function App's app settings as deployed: the `appsettings` config resource, evaluated through main's arguments. */
export function appSettings(bound: ReadonlyMap<string, Value> = new Map()): Record<string, Value> {
  const { scope } = moduleCall('modules/function-app.bicep', bound);
  const config = scope.file.resources('Microsoft.Web/sites/config').find((r) => stringLiteral(property(r.body, 'name')) === 'appsettings');
  assert.ok(config, 'function-app.bicep should declare the appsettings config resource');
  const settings = value(scope, config.body, 'properties');
  assert.ok(isPlainObject(settings), 'app settings should evaluate to an object');
  return settings;
}

/** The dead-letter container's name, as main.bicep passes it to storage.bicep. */
export function deadLetterContainerName(): string {
  const { call } = moduleCall('modules/storage.bicep');
  const name = new Scope(main).evaluate(propertyPath(call.body, 'params.deadLetterContainerName'));
  assert.equal(typeof name, 'string');
  return name as string;
}

/** Role definition GUIDs an assignment can resolve to (literal values reachable from its roleDefinitionId). */
export function roleIds(scope: Scope, assignment: Declaration): string[] {
  const roleId = propertyPath(assignment.body, 'properties.roleDefinitionId');
  assert.ok(roleId, `${scope.file.where(assignment.node)} has no roleDefinitionId`);
  const ids = reachable(scope.file, roleId).filter((n) => n.type === 'string').map((n) => scope.evaluate(n)).filter((s): s is string => typeof s === 'string' && GUID.test(s));
  if (assignment.loop) ids.push(...asStrings(scope.evaluate(assignment.loop.iterable), 'role ids'));
  return ids;
}
