// A private endpoint to the Key Vault or Managed HSM, in the subnet's resource group: a CMK vault is usually closed
// to public traffic, and Azure Functions is not one of the vault firewall's trusted services.

@description('Private endpoint name.')
param name string

@description('Tags for the endpoint.')
param tags object

@description('Subnet of a virtual network in this resource group that the endpoint\'s network interface joins.')
param subnetId string

@description('Resource id of the Key Vault or Managed HSM the endpoint connects to.')
param targetResourceId string

@allowed([
  'vault'
  'managedhsm'
])
@description('Private link sub-resource: "vault" for a Key Vault, "managedhsm" for a Managed HSM.')
param groupId string

@description('Private DNS zone for the endpoint\'s record (privatelink.vaultcore.azure.net or privatelink.managedhsm.azure.net); empty means DNS is managed elsewhere.')
param privateDnsZoneId string

// "/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>".
resource virtualNetwork 'Microsoft.Network/virtualNetworks@2024-05-01' existing = {
  name: split(subnetId, '/')[8]
}

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  // A private endpoint lives in its virtual network's region.
  location: virtualNetwork.location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    // Auto-approved when the deployer may approve connections on the target (Owner or Contributor there); else pending.
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: targetResourceId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource dnsZoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = if (!empty(privateDnsZoneId)) {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: groupId
        properties: {
          privateDnsZoneId: privateDnsZoneId
        }
      }
    ]
  }
}

output id string = endpoint.id
