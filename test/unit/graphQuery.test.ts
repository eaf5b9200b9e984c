import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate, InvalidQuery } from '../../dev/arm/graphQuery';
import type { JsonObject } from '../../dev/arm/http';

// The Resource Graph stand-in's evaluator: exactly the operators the service and the REST examples use.
const rows: JsonObject[] = [
  { id: '/s/1', name: 'alpha-test', type: 'microsoft.cognitiveservices/accounts', properties: { encryption: { keySource: 'Microsoft.KeyVault', keyVaultProperties: { keyVaultUri: 'https://KV.vault.azure.net/', keyName: 'CMK' } } } },
  { id: '/s/2', name: 'beta', type: 'microsoft.cognitiveservices/accounts', properties: { encryption: { keySource: 'Microsoft.CognitiveServices' } } },
  { id: '/s/3', name: 'gamma-TEST', type: 'microsoft.keyvault/vaults', properties: {} },
];

describe('Resource Graph stand-in: the query evaluator', () => {
  const names = (query: string) => evaluate(query, rows).map((r) => r['name']);
  it('where with =~, ==, !=, contains, startswith and in~, joined by and', () => {
    assert.deepEqual(names("resources | where type =~ 'Microsoft.CognitiveServices/accounts'"), ['alpha-test', 'beta']);
    assert.deepEqual(names("resources | where name == 'beta'"), ['beta']);
    assert.deepEqual(names("resources | where name != 'beta'"), ['alpha-test', 'gamma-TEST']);
    assert.deepEqual(names("Resources | where name contains 'test'"), ['alpha-test', 'gamma-TEST']);
    assert.deepEqual(names("resources | where name startswith 'AL'"), ['alpha-test']);
    assert.deepEqual(names("resources | where tolower(tostring(properties.encryption.keyVaultProperties.keyVaultUri)) in~ ('https://kv.vault.azure.net', 'https://kv.vault.azure.net/') and tostring(properties.encryption.keyVaultProperties.keyName) =~ 'cmk'"), ['alpha-test']);
  });
  it('extend, project (with renames), order by and limit', () => {
    const out = evaluate("resources | extend host = tolower(tostring(properties.encryption.keySource)) | project id, label = name, host | order by id desc | limit 2", rows);
    assert.deepEqual(out, [{ id: '/s/3', label: 'gamma-TEST', host: '' }, { id: '/s/2', label: 'beta', host: 'microsoft.cognitiveservices' }]);
  });
  it('refuses what it does not know, as the service refuses a query it cannot run', () => {
    for (const query of ['resources | summarize count() by type', 'resourcecontainers', "resources | where name == 'a' or name == 'b'", 'resources | where name matches regex "x"', "resources | limit x"]) {
      assert.throws(() => evaluate(query, rows), InvalidQuery, query);
    }
  });
});
