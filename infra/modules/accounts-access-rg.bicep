// Assigns the cmk-rotator custom role at one resource group named in accountScopes (this module's scope).

@description('Principal id of the Function App\'s system-assigned identity.')
param principalId string

@description('GUID name of the cmk-rotator custom role.')
param roleDefinitionName string

// No scope property: the assignment covers this resource group, the narrowest scope the parameter names.
resource accountKeyBinderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionName)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'cmk-rotator: rebind customer-managed key versions of the accounts in this resource group.'
  }
}
