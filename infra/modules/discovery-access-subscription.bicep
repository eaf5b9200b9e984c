// Assigns the cmk-rotator discovery reader role at one subscription the sweep scans (SUBSCRIPTION_IDS). Subscription
// scope is the point: the account and vault list calls are authorised there. The role only reads.
targetScope = 'subscription'

@description('Principal id of the Function App\'s system-assigned identity.')
param principalId string

@description('GUID name of the cmk-rotator discovery reader role.')
param roleDefinitionName string

resource discoveryReaderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleDefinitionName)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'cmk-rotator: list the Azure OpenAI accounts and Key Vaults of this subscription (read only).'
  }
}
