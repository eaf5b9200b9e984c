// The service's data-plane access to the existing Key Vault, in the vault's resource group: read keys and their
// versions, rotate a key. ARM reads (the vault's properties, the role assignments on it) are
// the discovery reader's, at the vault's subscription or, when that is not scanned, at the vault.

@description('Name of the existing Key Vault in this resource group.')
param keyVaultName string

@description('Principal id of the Function App\'s system-assigned identity.')
param principalId string

@allowed([
  'accessPolicy'
  'rbac'
])
@description('The vault\'s permission model (properties.enableRbacAuthorization true means rbac).')
param permissionModel string

// Access-policy vaults: exactly the data-plane calls the service makes (get key/version, list versions, rotate).
var keyPermissions = [
  'get'
  'list'
  'rotate'
]

// RBAC vaults: Key Vault Crypto Officer is the narrowest built-in role that includes keys/rotate/action (Crypto User lacks it).
var keyVaultCryptoOfficerRoleId = '14b46e9e-c2b7-41b4-b07b-48a6ebf60603'

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

// Name "add" merges this entry into the vault's policies; "replace" would drop everyone else's access.
resource keyAccessPolicy 'Microsoft.KeyVault/vaults/accessPolicies@2024-11-01' = if (permissionModel == 'accessPolicy') {
  parent: vault
  name: 'add'
  properties: {
    accessPolicies: [
      {
        tenantId: vault.properties.tenantId
        objectId: principalId
        permissions: {
          keys: keyPermissions
          secrets: []
          certificates: []
        }
      }
    ]
  }
}

resource keyCryptoOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (permissionModel == 'rbac') {
  name: guid(vault.id, principalId, keyVaultCryptoOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoOfficerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
