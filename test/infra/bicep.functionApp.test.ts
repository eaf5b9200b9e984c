// The Function App as infra/ deploys it: Flex Consumption with a system-assigned identity, app settings that carry
// every setting the code reads (and local.settings.sample.json too), and no keys or connection strings in them.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { SETTINGS } from '../../shared/config';
import { BicepFile, bicepParser, isPlainObject, Opaque, propertyPath, reachable, Scope, type Value } from './bicep';
import { appSettings, loadInfraFixture, moduleCall, only, readText, symbolAt, value } from './infraFixture';

before(loadInfraFixture);

describe('Function App', () => {
  test('Flex Consumption (FC1), Linux, Node 22, system-assigned identity, package pulled with that identity', () => {
    const { scope } = moduleCall('modules/function-app.bicep');
    const plan = only(scope, 'Microsoft.Web/serverfarms');
    assert.deepEqual(value(scope, plan.body, 'sku'), { name: 'FC1', tier: 'FlexConsumption' });
    assert.equal(value(scope, plan.body, 'properties.reserved'), true);
    const site = only(scope, 'Microsoft.Web/sites');
    assert.match(String(value(scope, site.body, 'kind')), /\blinux\b/);
    assert.equal(value(scope, site.body, 'identity.type'), 'SystemAssigned');
    assert.deepEqual(value(scope, site.body, 'properties.functionAppConfig.runtime'), { name: 'node', version: '22' });
    assert.equal(value(scope, site.body, 'properties.functionAppConfig.deployment.storage.authentication.type'), 'SystemAssignedIdentity');
  });

  test('the deployed Node major is the one package.json, .nvmrc and the pinned dev toolchain use', () => {
    const { scope } = moduleCall('modules/function-app.bicep');
    const deployed = String((value(scope, only(scope, 'Microsoft.Web/sites').body, 'properties.functionAppConfig.runtime') as { version: string }).version);
    const pkg = JSON.parse(readText('package.json')) as { engines: { node: string }; devDependencies: Record<string, string> };
    assert.equal(pkg.engines.node, `>=${deployed}`);
    assert.equal(readText('.nvmrc').trim(), deployed);
    assert.equal(pkg.devDependencies['node']?.split('.')[0], deployed);
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

  test('storage service URIs come from the account\'s primaryEndpoints, never from a hard-coded cloud suffix', () => {
    const settings = appSettings();
    assert.ok('AzureWebJobsStorage__accountName' in settings);
    for (const [service, setting] of [['blob', 'AzureWebJobsStorage__blobServiceUri'], ['queue', 'AzureWebJobsStorage__queueServiceUri'], ['table', 'AzureWebJobsStorage__tableServiceUri']] as const) {
      const uri = settings[setting];
      assert.ok(uri instanceof Opaque, `${setting} should reference the storage account, got ${String(uri)}`);
      assert.equal(uri.node.childForFieldName('property')?.text, service, `${setting} is primaryEndpoints.${service}`);
      const endpoints = uri.node.childForFieldName('object');
      assert.equal(endpoints?.childForFieldName('property')?.text, 'primaryEndpoints');
      assert.equal(endpoints?.childForFieldName('object')?.childForFieldName('property')?.text, 'properties');
      const account = symbolAt(uri.scope.file, endpoints?.childForFieldName('object')?.childForFieldName('object') ?? undefined);
      assert.equal(account?.target, 'Microsoft.Storage/storageAccounts');
      assert.equal(propertyPath(account.body, 'name')?.text, 'storageAccountName', 'the Function App\'s own storage account');
    }
    assert.equal(propertyPath(moduleCall('modules/function-app.bicep').call.body, 'params.storageAccountName')?.text, 'storage.outputs.name');
    for (const [key, v] of Object.entries(settings)) {
      const texts = v instanceof Opaque ? reachable(v.scope.file, v.node).map((n) => n.text) : [JSON.stringify(v)];
      assert.ok(!texts.some((t) => /core\.(windows|chinacloudapi|usgovcloudapi)\.net/i.test(t)), `${key} hard-codes a storage suffix`);
    }
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
