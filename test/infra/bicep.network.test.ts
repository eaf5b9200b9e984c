// Optional networking for firewalled key stores: Flex Consumption VNet integration on the site and private endpoints
// to the Key Vault ("vault") and the Managed HSM ("managedhsm"). Empty parameters deploy none of it.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { isPlainObject, property, type Value } from './bicep';
import { deployments, loadInfraFixture, main, moduleCall, only, readText, symbolAt, value } from './infraFixture';
import type { Deployment } from './deployments';

const SUB = '0b1e5e7a-3c4d-4e5f-8a9b-0c1d2e3f4a5b';
const NET_SUB = '4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c';
const VNET = `/subscriptions/${NET_SUB}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-hub`;
const INTEGRATION_SUBNET = `${VNET}/subnets/snet-functions`;
const ENDPOINT_SUBNET = `${VNET}/subnets/snet-endpoints`;
const VAULT = `/subscriptions/${SUB}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-cmk`;
const HSM = `/subscriptions/${SUB}/resourceGroups/rg-hsm/providers/Microsoft.KeyVault/managedHSMs/hsm-cmk`;
const VAULT_ZONE = `/subscriptions/${NET_SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net`;
const HSM_ZONE = `/subscriptions/${NET_SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.managedhsm.azure.net`;
const NETWORK_PARAMS = ['integrationSubnetId', 'privateEndpointSubnetId', 'keyVaultPrivateDnsZoneId', 'managedHsmPrivateDnsZoneId'];

function bound(extra: Record<string, Value> = {}): Map<string, Value> {
  return new Map(Object.entries({ environmentName: 'cmk-prod', location: 'westeurope', accountScopes: `/subscriptions/${SUB}`, keyVaultResourceId: VAULT, vaultPermissionModel: 'accessPolicy', ...extra }));
}

function siteSubnet(params: Map<string, Value>): Value {
  const [app] = deployments('modules/function-app.bicep', params);
  assert.ok(app);
  return value(app.scope, only(app.scope, 'Microsoft.Web/sites').body, 'properties.virtualNetworkSubnetId');
}

/** What one private endpoint deployment connects: target, group, subnet, DNS zone (or null when none is deployed). */
function endpointOf(d: Deployment): { at: string; target: Value; groups: Value; subnet: Value; zone: Value } {
  const endpoint = only(d.scope, 'Microsoft.Network/privateEndpoints');
  const [connection, ...more] = value(d.scope, endpoint.body, 'properties.privateLinkServiceConnections') as Value[];
  assert.ok(isPlainObject(connection) && more.length === 0, 'one private link connection');
  const properties = connection.properties;
  assert.ok(isPlainObject(properties));
  const zoneGroup = only(d.scope, 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups');
  const configs = value(d.scope, zoneGroup.body, 'properties.privateDnsZoneConfigs') as { [key: string]: Value }[];
  const zone = d.scope.evaluate(zoneGroup.condition) === true ? (configs[0]?.properties as { privateDnsZoneId: Value }).privateDnsZoneId : null;
  return { at: d.at, target: properties.privateLinkServiceId ?? null, groups: properties.groupIds ?? null, subnet: value(d.scope, endpoint.body, 'properties.subnet.id'), zone };
}

before(loadInfraFixture);

describe('network (optional)', () => {
  test('with the network parameters empty, the site has no subnet and no private endpoint is deployed', () => {
    for (const name of NETWORK_PARAMS) assert.equal(main.byName.get(name)?.value?.text, "''", `${name} defaults to empty (off)`);
    const off = bound({ managedHsmResourceId: HSM });
    assert.equal(siteSubnet(off), null, 'virtualNetworkSubnetId is left out');
    assert.equal(deployments('modules/key-store-endpoints.bicep', off).length, 0);
    assert.equal(deployments('modules/private-endpoint.bicep', off).length, 0);
  });

  test('an integration subnet goes to the site\'s virtualNetworkSubnetId; its description says it must be delegated to Microsoft.App/environments', () => {
    assert.equal(siteSubnet(bound({ integrationSubnetId: INTEGRATION_SUBNET })), INTEGRATION_SUBNET);
    const description = main.byName.get('integrationSubnetId')?.decorators.find((d) => d.text.startsWith('@description'))?.text ?? '';
    assert.match(description, /delegated to Microsoft\.App\/environments/);
  });

  test('a private-endpoint subnet adds an endpoint to the vault (group vault) and, with an HSM, one to the HSM (group managedhsm), in the subnet\'s resource group', () => {
    const on = bound({ integrationSubnetId: INTEGRATION_SUBNET, privateEndpointSubnetId: ENDPOINT_SUBNET, managedHsmResourceId: HSM, keyVaultPrivateDnsZoneId: VAULT_ZONE, managedHsmPrivateDnsZoneId: HSM_ZONE });
    const endpoints = deployments('modules/private-endpoint.bicep', on).map(endpointOf);
    const at = `/subscriptions/${NET_SUB}/resourceGroups/rg-network`;
    assert.deepEqual(endpoints, [
      { at, target: VAULT, groups: ['vault'], subnet: ENDPOINT_SUBNET, zone: VAULT_ZONE },
      { at, target: HSM, groups: ['managedhsm'], subnet: ENDPOINT_SUBNET, zone: HSM_ZONE },
    ]);

    // Without an HSM or DNS zones: the vault's endpoint alone, and no zone group.
    const vaultOnly = deployments('modules/private-endpoint.bicep', bound({ privateEndpointSubnetId: ENDPOINT_SUBNET })).map(endpointOf);
    assert.deepEqual(vaultOnly, [{ at, target: VAULT, groups: ['vault'], subnet: ENDPOINT_SUBNET, zone: null }]);
  });

  test('an endpoint is placed in its virtual network\'s region, and the endpoint names come from the resource token', () => {
    const [d] = deployments('modules/private-endpoint.bicep', bound({ privateEndpointSubnetId: ENDPOINT_SUBNET }));
    assert.ok(d);
    const endpoint = only(d.scope, 'Microsoft.Network/privateEndpoints');
    const network = symbolAt(d.scope.file, property(endpoint.body, 'location')?.childForFieldName('object') ?? undefined);
    assert.equal(network?.target, 'Microsoft.Network/virtualNetworks');
    assert.equal(network.existing, true);
    assert.equal(value(d.scope, network.body, 'name'), 'vnet-hub');
    const { call } = moduleCall('modules/key-store-endpoints.bicep');
    assert.match(property(property(call.body, 'params'), 'keyVaultEndpointName')?.text ?? '', /resourceToken/);
    assert.match(property(property(call.body, 'params'), 'managedHsmEndpointName')?.text ?? '', /resourceToken/);
  });

  test('azd maps each network parameter from an environment value', () => {
    const parameters = JSON.parse(readText('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> };
    const env = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
    for (const name of NETWORK_PARAMS) assert.equal(parameters.parameters[name]?.value, `\${${env(name)}}`, name);
  });
});
