// Assigns the cmk-rotator custom role at a whole subscription. Used only for entries of accountScopes that name a
// subscription (/subscriptions/<id>); resource-group entries use accounts-access-rg.bicep.
targetScope = 'subscription'

@description('Principal id of the Function App\'s system-assigned identity.')
param principalId string

@description('GUID name of the cmk-rotator custom role.')
param roleDefinitionName string

resource accountKeyBinderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleDefinitionName)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'cmk-rotator: rebind customer-managed key versions of the accounts in this subscription.'
  }
}
