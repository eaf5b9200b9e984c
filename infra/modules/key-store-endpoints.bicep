// Private endpoints to the Key Vault and, when given, the Managed HSM, in the private-endpoint subnet's resource group.
// main.bicep deploys this only when a subnet is given, so the subnet id is always a real one here.
targetScope = 'subscription'

@description('Resource id of the subnet the endpoints join.')
param subnetId string

@description('Resource token of the environment, for deployment names.')
param resourceToken string

@description('Tags for the endpoints.')
param tags object

@description('Resource id of the existing Key Vault.')
param keyVaultResourceId string

@description('Name of the Key Vault\'s endpoint.')
param keyVaultEndpointName string

@description('Private DNS zone privatelink.vaultcore.azure.net; empty means none.')
param keyVaultPrivateDnsZoneId string

@description('Resource id of the existing Managed HSM; empty means none.')
param managedHsmResourceId string

@description('Name of the Managed HSM\'s endpoint.')
param managedHsmEndpointName string

@description('Private DNS zone privatelink.managedhsm.azure.net; empty means none.')
param managedHsmPrivateDnsZoneId string

module keyVaultEndpoint 'private-endpoint.bicep' = {
  name: 'cmk-vault-endpoint-${resourceToken}'
  scope: resourceGroup(split(subnetId, '/')[2], split(subnetId, '/')[4])
  params: {
    name: keyVaultEndpointName
    tags: tags
    subnetId: subnetId
    targetResourceId: keyVaultResourceId
    groupId: 'vault'
    privateDnsZoneId: keyVaultPrivateDnsZoneId
  }
}

module managedHsmEndpoint 'private-endpoint.bicep' = if (!empty(managedHsmResourceId)) {
  name: 'cmk-hsm-endpoint-${resourceToken}'
  scope: resourceGroup(split(subnetId, '/')[2], split(subnetId, '/')[4])
  params: {
    name: managedHsmEndpointName
    tags: tags
    subnetId: subnetId
    targetResourceId: managedHsmResourceId
    groupId: 'managedhsm'
    privateDnsZoneId: managedHsmPrivateDnsZoneId
  }
}
