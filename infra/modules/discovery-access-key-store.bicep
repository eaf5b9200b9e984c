// Assigns the discovery reader at one Key Vault or Managed HSM in this resource group, for a key store whose
// subscription the sweep does not scan: the subscription-wide reader does not reach it there.

@description('Resource id of the existing Key Vault (Microsoft.KeyVault/vaults) or Managed HSM (Microsoft.KeyVault/managedHSMs) in this resource group.')
param keyStoreId string

@description('Principal id of the Function App\'s system-assigned identity.')
param principalId string

@description('GUID name of the discovery reader role defined for this key store.')
param roleDefinitionName string

// "/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.KeyVault/<type>/<name>": segment 7 is the type.
var isManagedHsm = toLower(split(keyStoreId, '/')[7]) == 'managedhsms'
var keyStoreName = last(split(keyStoreId, '/'))

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyStoreName
}

resource managedHsm 'Microsoft.KeyVault/managedHSMs@2024-11-01' existing = {
  name: keyStoreName
}

resource vaultReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!isManagedHsm) {
  name: guid(vault.id, principalId, roleDefinitionName)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'cmk-rotator: read this vault and the role assignments that grant its keys (read only).'
  }
}

resource managedHsmReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isManagedHsm) {
  name: guid(managedHsm.id, principalId, roleDefinitionName)
  scope: managedHsm
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'cmk-rotator: read this Managed HSM and the role assignments on it (read only).'
  }
}
