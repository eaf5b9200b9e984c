// Checks infra/ without a Bicep compiler or Azure: every file parses (tree-sitter-bicep), the templates hang
// together (symbols, module arguments, outputs), and the security and wiring rules of the deployment hold.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { ROTATION_QUEUE } from '../../shared/adapters/queue';
import { TABLES } from '../../shared/adapters/tables/storage';
import { SETTINGS } from '../../shared/config';
import { TELEMETRY } from '../../shared/telemetry';
import {
  BicepFile,
  bicepParser,
  descendants,
  isPlainObject,
  localNames,
  Opaque,
  paramsUsed,
  property,
  propertyPath,
  reachable,
  repoRoot,
  Scope,
  stringLiteral,
  symbolUses,
  syntaxProblems,
  type Declaration,
  type Node,
  type Value,
  loadInfra,
} from './bicep';

const ROOT = repoRoot();

/** The writer role at the accounts' scopes: read an account, PATCH it, poll the PATCH (infra/modules/accounts-role.bicep). */
const ACCOUNT_ROLE_ACTIONS = [
  'Microsoft.CognitiveServices/accounts/read',
  'Microsoft.CognitiveServices/accounts/write',
  'Microsoft.CognitiveServices/locations/operationResults/read',
];
/** The discovery reader at each SUBSCRIPTION_IDS subscription: accounts.list() and vaults.listBySubscription() (infra/modules/discovery-role.bicep). */
const DISCOVERY_ROLE_ACTIONS = ['Microsoft.CognitiveServices/accounts/read', 'Microsoft.KeyVault/vaults/read'];
const KEY_EVENT_TYPES = [
  'Microsoft.KeyVault.KeyNewVersionCreated',
  'Microsoft.KeyVault.KeyNearExpiry',
  'Microsoft.KeyVault.KeyExpired',
];
const ACCESS_POLICY_KEY_PERMISSIONS = ['get', 'list', 'rotate', 'getrotationpolicy'];
const ROLE = {
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  keyVaultCryptoOfficer: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603',
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
};
/** Role assignments without a resource `scope` live only here: at the resource groups or subscriptions the accountScopes parameter names. */
const ACCOUNT_ASSIGNMENT_MODULES = {
  resourceGroup: 'infra/modules/accounts-access-rg.bicep',
  subscription: 'infra/modules/accounts-access-subscription.bicep',
};
/** The one other scope-less assignment: the read-only discovery role, subscription-wide by design (list calls are authorised there). */
const DISCOVERY_ASSIGNMENT_MODULE = 'infra/modules/discovery-access-subscription.bicep';
/** Parameter values for evaluating main.bicep: mixed-case ids, spaces, a repeated subscription and an empty entry. */
const SUB_A = '0b1e5e7a-3c4d-4e5f-8a9b-0c1d2e3f4a5b';
const SUB_B = '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
const SUB_C = '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a';
const ACCOUNT_SCOPES = `/subscriptions/${SUB_A.toUpperCase()}/resourceGroups/rg-openai, /subscriptions/${SUB_A}/resourceGroups/rg-ai ,,/subscriptions/${SUB_B}`;
const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

let files: BicepFile[] = [];
let main: BicepFile;

before(async () => {
  files = await loadInfra(ROOT);
  main = infraFile('infra/main.bicep');
});

function infraFile(rel: string): BicepFile {
  const found = files.find((f) => f.rel === rel);
  assert.ok(found, `${rel} is missing`);
  return found;
}

function readText(rel: string): string {
  return readFileSync(path.join(ROOT, rel), 'utf8');
}

/** The module call in main.bicep for a module path, and the module's scope with its params bound to the call (and main's params to `bound`). */
function moduleCall(target: string, bound: ReadonlyMap<string, Value> = new Map()): { call: Declaration; scope: Scope } {
  const call = main.of('module').find((m) => m.target === target);
  assert.ok(call, `main.bicep does not call ${target}`);
  return { call, scope: new Scope(main, undefined, bound).module(files, call) };
}

function only(scope: Scope, type: string): Declaration {
  const found = scope.file.resources(type);
  assert.equal(found.length, 1, `${scope.file.rel} should declare exactly one ${type}`);
  return found[0] as Declaration;
}

function value(scope: Scope, body: Node | undefined, dotted: string): Value {
  const node = propertyPath(body, dotted);
  assert.ok(node, `${body ? scope.file.where(body) : scope.file.rel}: no ${dotted}`);
  return scope.evaluate(node);
}

function asStrings(v: Value, what: string): string[] {
  assert.ok(Array.isArray(v) && v.every((s) => typeof s === 'string'), `${what} should be a list of literal strings, got ${String(v)}`);
  return v as string[];
}

/** The identifier a property points at, if it is a bare symbol reference. */
function symbolAt(file: BicepFile, node: Node | undefined): Declaration | undefined {
  return node?.type === 'identifier' ? file.byName.get(node.text) : undefined;
}

describe('infra parses', () => {
  test('every .bicep file under infra/ parses with no ERROR or MISSING node', async (t) => {
    assert.ok(files.length >= 2, 'expected infra/main.bicep and modules');
    for (const file of files) {
      await t.test(file.rel, () => {
        assert.deepEqual(syntaxProblems(file), [], `${file.rel} has syntax errors`);
      });
    }
  });

  test('the syntax check reports a broken file with its line', async () => {
    const parser = await bicepParser();
    const broken = "param ok string\nresource st 'Microsoft.Storage/storageAccounts@2025-01-01' = {\n  name: \n  location: [\n}\n";
    const tree = parser.parse(broken);
    assert.ok(tree);
    const problems = syntaxProblems(new BicepFile('broken.bicep', broken, tree.rootNode));
    assert.ok(problems.length > 0, 'a broken template must produce problems');
    assert.match(problems[0] ?? '', /^broken\.bicep:\d+:\d+ /);
  });

  test('JSON files are valid and main.parameters.json maps only declared parameters', () => {
    JSON.parse(readText('infra/abbreviations.json'));
    const parameters = (JSON.parse(readText('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> }).parameters;
    const declared = new Map(main.of('param').map((p) => [p.name, p]));
    for (const name of Object.keys(parameters)) assert.ok(declared.has(name), `main.parameters.json sets ${name}, which main.bicep does not declare`);
    for (const p of declared.values()) {
      if (!p.value) assert.ok(parameters[p.name], `required parameter ${p.name} is not mapped in main.parameters.json`);
      // "${VAR=default}" defaults must agree with the Bicep default, or azd and `az deployment` deploy different things.
      const mapped = parameters[p.name]?.value;
      const fallback = typeof mapped === 'string' ? /^\$\{[A-Z0-9_]+=(.*)\}$/.exec(mapped)?.[1] : undefined;
      if (fallback !== undefined && p.value) {
        assert.equal(fallback, String(new Scope(main).evaluate(p.value)), `default of ${p.name} differs between main.parameters.json and main.bicep`);
      }
    }
  });
});

describe('templates hang together (what `bicep build` would check)', () => {
  test('every identifier names a declaration, a loop or lambda variable', () => {
    const unknown: string[] = [];
    for (const file of files) {
      const locals = localNames(file);
      for (const use of symbolUses(file)) {
        if (!file.byName.has(use.text) && !locals.has(use.text) && use.text !== 'az' && use.text !== 'sys') {
          unknown.push(`${file.where(use)} ${use.text}`);
        }
      }
    }
    assert.deepEqual(unknown, []);
  });

  test('no unused parameters or variables', () => {
    const unused: string[] = [];
    for (const file of files) {
      const used = new Set(symbolUses(file).map((n) => n.text));
      for (const d of [...file.of('param'), ...file.of('var')]) if (!used.has(d.name)) unused.push(`${file.where(d.node)} ${d.kind} ${d.name}`);
    }
    assert.deepEqual(unused, []);
  });

  test('module calls pass declared parameters, all required ones, and read declared outputs', () => {
    const problems: string[] = [];
    for (const file of files) {
      const modules = new Map<string, BicepFile>();
      for (const call of file.of('module')) {
        const target = new Scope(file).module(files, call).file;
        modules.set(call.name, target);
        const declared = new Map(target.of('param').map((p) => [p.name, p]));
        const passed = (property(call.body, 'params')?.namedChildren ?? []).filter((n) => n.type === 'object_property').map((n) => stringLiteral(n.namedChildren[0]) ?? n.namedChildren[0]?.text ?? '');
        for (const name of passed) if (!declared.has(name)) problems.push(`${file.where(call.node)} ${call.name} passes unknown parameter ${name}`);
        for (const p of declared.values()) if (!p.value && !passed.includes(p.name)) problems.push(`${file.where(call.node)} ${call.name} misses required parameter ${p.name}`);
        if (target.targetScope !== file.targetScope && !property(call.body, 'scope')) problems.push(`${file.where(call.node)} ${call.name} needs a scope for a ${target.targetScope} module`);
      }
      for (const n of descendants(file.root)) {
        const outputs = n.type === 'member_expression' ? n.childForFieldName('object') : null;
        if (outputs?.type !== 'member_expression' || outputs.childForFieldName('property')?.text !== 'outputs') continue;
        const target = modules.get(outputs.childForFieldName('object')?.text ?? '');
        const name = n.childForFieldName('property')?.text ?? '';
        if (target && !target.of('output').some((o) => o.name === name)) problems.push(`${file.where(n)} ${target.rel} has no output ${name}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('every abbrs.<name> exists in abbreviations.json', () => {
    const abbreviations = JSON.parse(readText('infra/abbreviations.json')) as Record<string, string>;
    const used = descendants(main.root).filter((n) => n.type === 'member_expression' && n.childForFieldName('object')?.text === 'abbrs');
    assert.ok(used.length > 0);
    for (const n of used) {
      const key = n.childForFieldName('property')?.text ?? '';
      assert.ok(key in abbreviations, `${main.where(n)} abbrs.${key} is not in abbreviations.json`);
    }
  });
});

describe('azd conventions', () => {
  test('subscription-scoped main with a uniqueString resource token, azd tags and UPPER_SNAKE outputs', () => {
    assert.equal(main.targetScope, 'subscription');
    const token = main.byName.get('resourceToken');
    assert.ok(token?.value && descendants(token.value).some((n) => n.type === 'identifier' && n.text === 'uniqueString'), 'resourceToken must come from uniqueString(...)');
    const rg = main.resources('Microsoft.Resources/resourceGroups')[0];
    const rgTags = new Scope(main).evaluate(property(rg?.body, 'tags'));
    assert.ok(isPlainObject(rgTags) && 'azd-env-name' in rgTags, 'the resource group carries azd-env-name');
    const { scope } = moduleCall('modules/function-app.bicep');
    const site = only(scope, 'Microsoft.Web/sites');
    const siteTags = value(scope, site.body, 'tags');
    assert.ok(isPlainObject(siteTags), 'function app tags should evaluate to an object');
    assert.equal(siteTags['azd-service-name'], 'api');
    assert.ok('azd-env-name' in siteTags);
    for (const output of main.of('output')) assert.match(output.name, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/, `${main.where(output.node)} output ${output.name}`);
  });

  test('azure.yaml: service api is a TypeScript function; the event subscription follows the first deploy; azd down is refused', () => {
    const yaml = readText('azure.yaml');
    assert.match(yaml, /^services:\n {2}api:\n(?: {4}.*\n)*? {4}project: \.\n/m);
    assert.match(yaml, /^ {4}language: ts$/m);
    assert.match(yaml, /^ {4}host: function$/m);
    const postdeploy = /^ {2}postdeploy:\n((?: {4,}.*\n|\n)+)/m.exec(yaml)?.[1] ?? '';
    assert.match(postdeploy, /azd env set DEPLOY_EVENT_SUBSCRIPTION true && azd provision/);
    // azd down deletes every resource group the deployment touched, including the vault's and the accounts'.
    const predown = /^ {2}predown:\n((?: {4,}.*\n|\n)+)/m.exec(yaml)?.[1] ?? '';
    for (const shell of ['posix', 'windows']) {
      const block = new RegExp(`^ {4}${shell}:\\n((?: {6,}.*\\n|\\n)+)`, 'm').exec(predown)?.[1] ?? '';
      assert.match(block, /^\s*exit 1\s*$/m, `predown (${shell}) must refuse azd down`);
    }
    const parameters = JSON.parse(readText('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> };
    assert.equal(parameters.parameters.deployEventSubscription?.value, '${DEPLOY_EVENT_SUBSCRIPTION=false}');
  });
});

describe('Function App', () => {
  test('Flex Consumption (FC1), Linux, Node 20, system-assigned identity, package pulled with that identity', () => {
    const { scope } = moduleCall('modules/function-app.bicep');
    const plan = only(scope, 'Microsoft.Web/serverfarms');
    assert.deepEqual(value(scope, plan.body, 'sku'), { name: 'FC1', tier: 'FlexConsumption' });
    assert.equal(value(scope, plan.body, 'properties.reserved'), true);
    const site = only(scope, 'Microsoft.Web/sites');
    assert.match(String(value(scope, site.body, 'kind')), /\blinux\b/);
    assert.equal(value(scope, site.body, 'identity.type'), 'SystemAssigned');
    assert.deepEqual(value(scope, site.body, 'properties.functionAppConfig.runtime'), { name: 'node', version: '20' });
    assert.equal(value(scope, site.body, 'properties.functionAppConfig.deployment.storage.authentication.type'), 'SystemAssignedIdentity');
  });

  test('app settings carry every setting in SETTINGS, and local.settings.sample.json does too', () => {
    const settings = appSettings();
    for (const name of SETTINGS) {
      const key = name === 'AzureWebJobsStorage' ? 'AzureWebJobsStorage__accountName' : name;
      assert.ok(key in settings, `app settings lack ${key}`);
    }
    const sample = JSON.parse(readText('local.settings.sample.json')) as { Values?: Record<string, string> };
    for (const name of SETTINGS) assert.ok(name in (sample.Values ?? {}), `local.settings.sample.json lacks ${name}`);
  });

  test('no keys in app settings: no list*() calls, account keys, SAS or connection strings (Application Insights excepted, with AAD auth)', () => {
    const settings = appSettings();
    assert.equal('AzureWebJobsStorage' in settings, false, 'storage must be identity-based (AzureWebJobsStorage__accountName)');
    const problems = Object.entries(settings).flatMap(([key, v]) => (key === 'APPLICATIONINSIGHTS_CONNECTION_STRING' ? [] : secretsIn(key, v)));
    assert.deepEqual(problems, []);

    // The Application Insights "connection string" is an endpoint plus instrumentation key; with local auth off it
    // authorises nothing. Allowed only as the component's property and only with Entra ID ingestion.
    const insights = settings.APPLICATIONINSIGHTS_CONNECTION_STRING;
    assert.ok(insights instanceof Opaque, 'APPLICATIONINSIGHTS_CONNECTION_STRING should reference the component');
    const object = insights.node.childForFieldName('object');
    assert.equal(insights.node.childForFieldName('property')?.text, 'ConnectionString');
    assert.equal(object?.childForFieldName('property')?.text, 'properties');
    const component = symbolAt(insights.scope.file, object?.childForFieldName('object') ?? undefined);
    assert.equal(component?.target, 'Microsoft.Insights/components');
    assert.equal(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING, 'Authorization=AAD');
    const { scope } = moduleCall('modules/monitoring.bicep');
    assert.equal(value(scope, only(scope, 'Microsoft.Insights/components').body, 'properties.DisableLocalAuth'), true);
  });

  test('the key scanner itself flags a storage connection string built with listKeys()', async () => {
    const parser = await bicepParser();
    const text = "resource st 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {\n  name: 'x'\n}\nvar connection = 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=${st.listKeys().keys[0].value}'\n";
    const tree = parser.parse(text);
    assert.ok(tree);
    const file = new BicepFile('bad.bicep', text, tree.rootNode);
    const scope = new Scope(file);
    const v = scope.evaluate(file.byName.get('connection')?.value);
    assert.ok(secretsIn('AzureWebJobsStorage', v).length > 0);
  });
});

/** The Function App's app settings as deployed: the `appsettings` config resource, evaluated through main's arguments. */
function appSettings(bound: ReadonlyMap<string, Value> = new Map()): Record<string, Value> {
  const { scope } = moduleCall('modules/function-app.bicep', bound);
  const config = scope.file.resources('Microsoft.Web/sites/config').find((r) => stringLiteral(property(r.body, 'name')) === 'appsettings');
  assert.ok(config, 'function-app.bicep should declare the appsettings config resource');
  const settings = value(scope, config.body, 'properties');
  assert.ok(isPlainObject(settings), 'app settings should evaluate to an object');
  return settings;
}

/** Key material in a setting's value: literal text, or anything its expression reaches through variables. */
function secretsIn(key: string, v: Value): string[] {
  const texts: string[] = [];
  const calls: string[] = [];
  const members: string[] = [];
  const collect = (x: Value): void => {
    if (typeof x === 'string') texts.push(x);
    else if (Array.isArray(x)) x.forEach(collect);
    else if (x instanceof Opaque) {
      for (const n of reachable(x.scope.file, x.node)) {
        if (n.type === 'string') texts.push(n.text);
        if (n.type === 'call_expression') calls.push(n.childForFieldName('function')?.text ?? '');
        if (n.type === 'member_expression') members.push(n.childForFieldName('property')?.text ?? '');
      }
    } else if (isPlainObject(x)) Object.values(x).forEach(collect);
  };
  collect(v);
  const problems: string[] = [];
  for (const c of calls) if (/^list/i.test(c)) problems.push(`${key}: calls ${c}()`);
  for (const m of members) if (/^list/i.test(m) || /connectionstring/i.test(m)) problems.push(`${key}: reads .${m}`);
  for (const t of texts) if (/AccountKey=|SharedAccessSignature=|SharedAccessKey=|DefaultEndpointsProtocol=/i.test(t)) problems.push(`${key}: contains a key or connection string`);
  return problems;
}

describe('storage', () => {
  test('shared keys off; the service\'s tables, queue and poison queue and both blob containers exist', () => {
    const { scope } = moduleCall('modules/storage.bicep');
    const account = only(scope, 'Microsoft.Storage/storageAccounts');
    assert.equal(value(scope, account.body, 'properties.allowSharedKeyAccess'), false);
    assert.equal(value(scope, account.body, 'properties.allowBlobPublicAccess'), false);
    const loopValues = (type: string): string[] => {
      const resource = only(scope, type);
      assert.ok(resource.loop, `${type} should be declared per name`);
      return asStrings(scope.evaluate(resource.loop.iterable), type);
    };
    assert.deepEqual(new Set(loopValues('Microsoft.Storage/storageAccounts/tableServices/tables')), new Set(Object.values(TABLES)));
    assert.deepEqual(new Set(loopValues('Microsoft.Storage/storageAccounts/queueServices/queues')), new Set([ROTATION_QUEUE, `${ROTATION_QUEUE}-poison`]));
    const containers = scope.file.resources('Microsoft.Storage/storageAccounts/blobServices/containers').map((c) => value(scope, c.body, 'name'));
    assert.ok(containers.includes(deadLetterContainerName()), 'dead-letter container');
    const packageContainer = new Scope(main).evaluate(propertyPath(moduleCall('modules/function-app.bicep').call.body, 'params.deploymentContainerName'));
    assert.ok(containers.includes(packageContainer), 'the Flex deployment container');
  });
});

function deadLetterContainerName(): string {
  const { call } = moduleCall('modules/storage.bicep');
  const name = new Scope(main).evaluate(propertyPath(call.body, 'params.deadLetterContainerName'));
  assert.equal(typeof name, 'string');
  return name as string;
}

describe('Key Vault events', () => {
  test('subscription to keyVaultEvents: the three key event types, ObjectType filter, retry policy, identity dead-lettering', () => {
    const { call, scope } = moduleCall('modules/event-subscription.bicep');
    const subscription = only(scope, 'Microsoft.EventGrid/systemTopics/eventSubscriptions');
    assert.equal(value(scope, subscription.body, 'properties.destination.endpointType'), 'AzureFunction');
    assert.match(String(value(scope, subscription.body, 'properties.destination.properties.resourceId')), /\/functions\/keyVaultEvents$/);
    assert.deepEqual(asStrings(value(scope, subscription.body, 'properties.filter.includedEventTypes'), 'includedEventTypes').sort(), [...KEY_EVENT_TYPES].sort());

    const filters = propertyPath(subscription.body, 'properties.filter.advancedFilters');
    assert.ok(filters, 'advancedFilters');
    const objects = reachable(scope.file, filters).filter((n) => n.type === 'object').map((n) => scope.evaluate(n));
    assert.ok(
      objects.some((o) => isPlainObject(o) && o.key === 'data.ObjectType' && o.operatorType === 'StringIn' && JSON.stringify(o.values) === '["Key"]'),
      'an advanced filter data.ObjectType StringIn ["Key"]',
    );

    // Retry policy values are parameters, set from main's parameters.
    for (const key of ['maxDeliveryAttempts', 'eventTimeToLiveInMinutes']) {
      const param = symbolAt(scope.file, propertyPath(subscription.body, `properties.retryPolicy.${key}`));
      assert.equal(param?.kind, 'param', `retryPolicy.${key} should be a parameter`);
      assert.ok(paramsUsed(main, propertyPath(call.body, `params.${param.name}`) as Node).size === 1, `main passes a parameter as ${param.name}`);
    }

    assert.equal(value(scope, subscription.body, 'properties.deadLetterWithResourceIdentity.identity.type'), 'SystemAssigned');
    assert.equal(value(scope, subscription.body, 'properties.deadLetterWithResourceIdentity.deadLetterDestination.endpointType'), 'StorageBlob');
    assert.equal(value(scope, subscription.body, 'properties.deadLetterWithResourceIdentity.deadLetterDestination.properties.blobContainerName'), deadLetterContainerName());
    assert.equal(propertyPath(subscription.body, 'properties.deadLetterDestination'), undefined, 'no key- or SAS-based dead-letter destination');
  });

  test('the subscription waits for the function: gated by deployEventSubscription (bool, default false)', () => {
    const { call } = moduleCall('modules/event-subscription.bicep');
    assert.ok(call.condition, 'the event subscription module must be conditional');
    assert.deepEqual([...paramsUsed(main, call.condition)], ['deployEventSubscription']);
    const gate = main.byName.get('deployEventSubscription');
    assert.equal(gate?.type, 'bool');
    assert.equal(gate?.value?.text, 'false');
  });

  test('the system topic dead-letters with its own identity, which may write only the dead-letter container', () => {
    const topic = moduleCall('modules/key-vault-topic.bicep');
    const systemTopic = only(topic.scope, 'Microsoft.EventGrid/systemTopics');
    assert.equal(value(topic.scope, systemTopic.body, 'identity.type'), 'SystemAssigned');
    assert.equal(value(topic.scope, systemTopic.body, 'properties.topicType'), 'Microsoft.KeyVault.vaults');

    const { call, scope } = moduleCall('modules/storage-access.bicep');
    const writer = scope.file.resources('Microsoft.Authorization/roleAssignments').find((r) => roleIds(scope, r).includes(ROLE.storageBlobDataContributor));
    assert.ok(writer, 'a Storage Blob Data Contributor assignment for dead letters');
    const target = symbolAt(scope.file, property(writer.body, 'scope'));
    assert.equal(target?.target, 'Microsoft.Storage/storageAccounts/blobServices/containers');
    assert.equal(value(scope, target?.body, 'name'), deadLetterContainerName());
    const principal = symbolAt(scope.file, propertyPath(writer.body, 'properties.principalId'));
    assert.equal(propertyPath(call.body, `params.${principal?.name}`)?.text, `${topic.call.name}.outputs.principalId`);
  });
});

/** Role definition GUIDs an assignment can resolve to (literal values reachable from its roleDefinitionId). */
function roleIds(scope: Scope, assignment: Declaration): string[] {
  const roleId = propertyPath(assignment.body, 'properties.roleDefinitionId');
  assert.ok(roleId, `${scope.file.where(assignment.node)} has no roleDefinitionId`);
  const ids = reachable(scope.file, roleId).filter((n) => n.type === 'string').map((n) => scope.evaluate(n)).filter((s): s is string => typeof s === 'string' && GUID.test(s));
  if (assignment.loop) ids.push(...asStrings(scope.evaluate(assignment.loop.iterable), 'role ids'));
  return ids;
}

describe('least privilege', () => {
  test('role assignments: resource scope (or the accounts\' scopes from the parameter, or the discovery reader\'s subscriptions), guid() names, role ids in named variables', () => {
    const assignments = files.flatMap((f) => f.resources('Microsoft.Authorization/roleAssignments').map((a) => ({ file: f, a })));
    assert.ok(assignments.length >= 7, `expected the storage, telemetry, dead-letter, vault and accounts assignments, found ${assignments.length}`);
    for (const { file, a } of assignments) {
      const at = file.where(a.node);
      const name = property(a.body, 'name');
      assert.equal(name?.type, 'call_expression', `${at} name`);
      assert.equal(name?.childForFieldName('function')?.text, 'guid', `${at} name should be guid(scope, principal, role)`);
      assert.equal(name?.childForFieldName('arguments')?.namedChildren.length, 3, `${at} guid(scope, principal, role)`);
      const roleId = propertyPath(a.body, 'properties.roleDefinitionId');
      assert.ok(roleId && !descendants(roleId).some((n) => n.type === 'string' && GUID.test(n.text)), `${at} role id should come from a named variable`);
      assert.equal(stringLiteral(propertyPath(a.body, 'properties.principalType')), 'ServicePrincipal', `${at} principalType`);

      const scopeNode = property(a.body, 'scope');
      if (scopeNode) {
        const target = symbolAt(file, scopeNode);
        assert.equal(target?.kind, 'resource', `${at} scope must be a resource symbol, not ${scopeNode.text}`);
        continue;
      }
      // No scope: the assignment applies to the module's own resource group or subscription.
      const allowed = file.targetScope === 'subscription' ? [ACCOUNT_ASSIGNMENT_MODULES.subscription, DISCOVERY_ASSIGNMENT_MODULE] : [ACCOUNT_ASSIGNMENT_MODULES.resourceGroup];
      assert.ok(allowed.includes(file.rel), `${at} has no resource scope; only the accounts' and the discovery assignment modules may do that`);
    }
    assert.equal(main.resources('Microsoft.Authorization/roleAssignments').length, 0, 'main.bicep assigns nothing at the subscription itself');

    // The accounts' assignment modules run once per scope the parameter names; subscription-wide only for subscription ids.
    for (const [kind, rel] of Object.entries(ACCOUNT_ASSIGNMENT_MODULES)) {
      const { call } = moduleCall(path.posix.relative('infra', rel));
      assert.ok(call.loop, `${rel} is called once per scope`);
      assert.deepEqual([...paramsUsed(main, call.loop.iterable)], ['accountScopes'], `${rel} iterates the accountScopes parameter`);
      const segments = kind === 'subscription' ? '3' : '5';
      const filter = reachable(main, call.loop.iterable).find((n) => n.type === 'binary_expression' && n.text.includes('split(') && n.text.endsWith(`== ${segments}`));
      assert.ok(filter, `${rel} only receives ${kind} ids (${segments} path segments)`);
      assert.equal(propertyPath(call.body, 'params.roleDefinitionName')?.text, 'accountsRole.outputs.roleDefinitionName', `${rel} assigns the writer role`);
    }

    // Evaluated with real parameter values: resource-group entries stay resource groups, subscription entries subscriptions.
    const scope = new Scope(main, undefined, new Map([['accountScopes', ACCOUNT_SCOPES]]));
    const iterated = (rel: string): Value => scope.evaluate(moduleCall(path.posix.relative('infra', rel)).call.loop?.iterable);
    assert.deepEqual(iterated(ACCOUNT_ASSIGNMENT_MODULES.resourceGroup), [`/subscriptions/${SUB_A.toUpperCase()}/resourceGroups/rg-openai`, `/subscriptions/${SUB_A}/resourceGroups/rg-ai`]);
    assert.deepEqual(iterated(ACCOUNT_ASSIGNMENT_MODULES.subscription), [`/subscriptions/${SUB_B}`]);
  });

  test('the discovery reader is assigned at every subscription in the effective SUBSCRIPTION_IDS, and nowhere else', () => {
    const { call } = moduleCall(path.posix.relative('infra', DISCOVERY_ASSIGNMENT_MODULE));
    assert.ok(call.loop, 'the discovery assignment module is called once per subscription');
    const [subscriptionVariable] = call.loop.variables;
    const target = property(call.body, 'scope');
    assert.equal(target?.type, 'call_expression');
    assert.equal(target?.childForFieldName('function')?.text, 'subscription', 'deployed at subscription scope');
    assert.deepEqual(target?.childForFieldName('arguments')?.namedChildren.map((n) => n.text), [subscriptionVariable], 'at the subscription of the current iteration');
    assert.equal(propertyPath(call.body, 'params.roleDefinitionName')?.text, 'discoveryRole.outputs.roleDefinitionName', 'assigns the discovery reader, never the writer');
    assert.equal(propertyPath(call.body, 'params.principalId')?.text, 'functionApp.outputs.principalId');
    const module = infraFile(DISCOVERY_ASSIGNMENT_MODULE);
    assert.equal(module.targetScope, 'subscription');
    const assignments = module.resources('Microsoft.Authorization/roleAssignments');
    assert.equal(assignments.length, 1);
    assert.equal(property(assignments[0]?.body, 'scope'), undefined, 'the assignment covers the whole subscription');

    // The subscriptions iterated are exactly the app's SUBSCRIPTION_IDS, for each way of setting the parameters.
    const cases: { subscriptionIds: string; expected: string[] }[] = [
      { subscriptionIds: '', expected: [SUB_A, SUB_B] },
      { subscriptionIds: ' , ', expected: [SUB_A, SUB_B] },
      { subscriptionIds: `${SUB_C}, ${SUB_A.toUpperCase()},${SUB_C}`, expected: [SUB_C, SUB_A] },
    ];
    for (const { subscriptionIds, expected } of cases) {
      const bound = new Map<string, Value>([['accountScopes', ACCOUNT_SCOPES], ['subscriptionIds', subscriptionIds]]);
      const settings = appSettings(bound);
      assert.equal(settings.SUBSCRIPTION_IDS, expected.join(','), `SUBSCRIPTION_IDS for subscriptionIds="${subscriptionIds}"`);
      assert.deepEqual(new Scope(main, undefined, bound).evaluate(call.loop.iterable), expected, `discovery assignments for subscriptionIds="${subscriptionIds}"`);
      const role = moduleCall('modules/discovery-role.bicep', bound);
      assert.deepEqual(value(role.scope, only(role.scope, 'Microsoft.Authorization/roleDefinitions').body, 'properties.assignableScopes'), expected.map((id) => `/subscriptions/${id}`), 'assignable exactly there');
    }
  });

  test('no Owner or Contributor anywhere', () => {
    for (const file of files) {
      for (const n of descendants(file.root).filter((d) => d.type === 'string')) {
        assert.ok(![ROLE.contributor, ROLE.owner].includes(n.text.replace(/'/g, '').toLowerCase()), `${file.where(n)} grants Owner/Contributor`);
      }
    }
  });

  test('two custom roles: the writer and the discovery reader, each with exactly its actions and no data actions', () => {
    const definitions = files.flatMap((f) => f.resources('Microsoft.Authorization/roleDefinitions'));
    assert.equal(definitions.length, 2, 'the writer and the discovery reader');
    for (const [module, actions] of [
      ['modules/accounts-role.bicep', ACCOUNT_ROLE_ACTIONS],
      ['modules/discovery-role.bicep', DISCOVERY_ROLE_ACTIONS],
    ] as const) {
      const { scope } = moduleCall(module);
      const role = only(scope, 'Microsoft.Authorization/roleDefinitions');
      assert.equal(value(scope, role.body, 'properties.type'), 'CustomRole');
      const permissions = value(scope, role.body, 'properties.permissions');
      assert.ok(Array.isArray(permissions) && permissions.length === 1 && isPlainObject(permissions[0]));
      const [permission] = permissions as { [key: string]: Value }[];
      assert.deepEqual(asStrings(permission?.actions ?? null, 'actions'), [...actions], `${module} actions`);
      for (const key of ['notActions', 'dataActions', 'notDataActions']) assert.deepEqual(permission?.[key] ?? [], [], `${module} ${key}`);
      const actionsNode = propertyPath(role.body, 'properties.permissions')?.namedChildren[0];
      assert.equal(symbolAt(scope.file, property(actionsNode, 'actions'))?.kind, 'var', `${module} keeps its actions in a named variable`);
    }
    // The role names differ per environment, so two environments in one tenant do not collide.
    assert.notEqual(main.byName.get('accountsRoleDefinitionName')?.value?.text, main.byName.get('discoveryRoleDefinitionName')?.value?.text);
    const writer = moduleCall('modules/accounts-role.bicep', new Map([['accountScopes', ACCOUNT_SCOPES]]));
    assert.deepEqual(
      value(writer.scope, only(writer.scope, 'Microsoft.Authorization/roleDefinitions').body, 'properties.assignableScopes'),
      [`/subscriptions/${SUB_A.toUpperCase()}/resourceGroups/rg-openai`, `/subscriptions/${SUB_A}/resourceGroups/rg-ai`, `/subscriptions/${SUB_B}`],
      'the writer is assignable at the accounts\' scopes only (not at the vault)',
    );
  });

  test('Key Vault: access policy ADDS get/list/rotate/getrotationpolicy, or RBAC grants Crypto Officer, chosen by vaultPermissionModel', () => {
    const { call, scope } = moduleCall('modules/key-vault-access.bicep');
    assert.deepEqual([...paramsUsed(main, propertyPath(call.body, 'params.permissionModel') as Node)], ['vaultPermissionModel']);
    const allowed = main.byName.get('vaultPermissionModel')?.decorators.find((d) => d.text.startsWith('@allowed'));
    assert.deepEqual(new Set(asStrings(new Scope(main).evaluate(allowed?.namedChildren[0]?.childForFieldName('arguments')?.namedChildren[0]), 'allowed')), new Set(['accessPolicy', 'rbac']));

    const policy = only(scope, 'Microsoft.KeyVault/vaults/accessPolicies');
    assert.equal(value(scope, policy.body, 'name'), 'add', 'name "add" merges; "replace" would wipe the vault\'s other policies');
    assert.match(policy.condition?.text ?? '', /'accessPolicy'/);
    const entries = value(scope, policy.body, 'properties.accessPolicies');
    assert.ok(Array.isArray(entries) && entries.length === 1 && isPlainObject(entries[0]));
    const permissions = (entries[0] as { [key: string]: Value }).permissions;
    assert.ok(isPlainObject(permissions));
    assert.deepEqual(asStrings(permissions.keys ?? null, 'keys').sort(), [...ACCESS_POLICY_KEY_PERMISSIONS].sort());
    assert.deepEqual(permissions.secrets ?? [], []);
    assert.deepEqual(permissions.certificates ?? [], []);

    const rbac = scope.file.resources('Microsoft.Authorization/roleAssignments').filter((r) => r.condition);
    assert.equal(rbac.length, 1);
    assert.match(rbac[0]?.condition?.text ?? '', /'rbac'/);
    assert.deepEqual(roleIds(scope, rbac[0] as Declaration), [ROLE.keyVaultCryptoOfficer]);
    // The vault's ARM properties come from listing its subscription's vaults (discovery reader); a vault-scoped read adds nothing.
    assert.equal(scope.file.resources('Microsoft.Authorization/roleAssignments').length, 1, 'no other role at the vault');
  });

  test('storage and telemetry roles for the app are the data roles the host and the service need, on their resources', () => {
    const { scope } = moduleCall('modules/storage-access.bicep');
    const byRole = new Map<string, Declaration>();
    for (const a of scope.file.resources('Microsoft.Authorization/roleAssignments')) for (const id of roleIds(scope, a)) byRole.set(id, a);
    for (const [role, type] of [
      [ROLE.storageBlobDataOwner, 'Microsoft.Storage/storageAccounts'],
      [ROLE.storageQueueDataContributor, 'Microsoft.Storage/storageAccounts'],
      [ROLE.storageTableDataContributor, 'Microsoft.Storage/storageAccounts'],
      [ROLE.monitoringMetricsPublisher, 'Microsoft.Insights/components'],
    ] as const) {
      const a = byRole.get(role);
      assert.ok(a, `role ${role} is assigned`);
      assert.equal(symbolAt(scope.file, property(a.body, 'scope'))?.target, type, `role ${role} is scoped to the ${type}`);
    }
  });
});

describe('alerts', () => {
  test('every TELEMETRY record name is queried by a log alert on the app\'s traces', () => {
    const names = Object.values(TELEMETRY);
    assert.ok(names.length >= 2);
    const { scope } = moduleCall('modules/alerts.bicep');
    const queries = scope.file.resources('Microsoft.Insights/scheduledQueryRules').flatMap((rule) => {
      const allOf = value(scope, rule.body, 'properties.criteria.allOf');
      assert.ok(Array.isArray(allOf));
      return allOf.filter(isPlainObject).map((c) => String(c.query));
    });
    for (const name of names) {
      assert.ok(
        queries.some((q) => new RegExp(`^\\s*(traces|AppTraces)\\b[\\s\\S]*\\bstartswith\\s+"${name}"`).test(q)),
        `no alert query selects traces whose message starts with "${name}"; queries: ${queries.join(' || ')}`,
      );
    }
  });

  test('alerts notify the e-mail action group; dead-lettered events alert too', () => {
    const { call, scope } = moduleCall('modules/alerts.bicep');
    const group = only(scope, 'Microsoft.Insights/actionGroups');
    const receiver = propertyPath(group.body, 'properties.emailReceivers')?.namedChildren[0];
    const email = symbolAt(scope.file, property(receiver, 'emailAddress'));
    assert.equal(email?.kind, 'param');
    assert.deepEqual([...paramsUsed(main, propertyPath(call.body, `params.${email.name}`) as Node)], ['alertEmailAddress']);
    for (const rule of scope.file.resources('Microsoft.Insights/scheduledQueryRules')) {
      assert.ok(reachable(scope.file, propertyPath(rule.body, 'properties.actions') as Node).some((n) => n.text === `${group.name}.id`), `${scope.file.where(rule.node)} notifies the action group`);
    }
    const deadLetters = only(scope, 'Microsoft.Insights/metricAlerts');
    const criteria = value(scope, deadLetters.body, 'properties.criteria.allOf');
    assert.ok(Array.isArray(criteria) && criteria.some((c) => isPlainObject(c) && c.metricName === 'DeadLetteredCount'));
  });
});
