// Custom role for discovery, assigned at whole subscriptions: the service lists the Azure OpenAI accounts of every
// subscription in SUBSCRIPTION_IDS (GET /subscriptions/<id>/providers/Microsoft.CognitiveServices/accounts) and lists
// its Key Vaults to audit the vault a binding names. A list call is authorised at the subscription, so resource-group
// grants do not cover it; this role reads and nothing else.
targetScope = 'subscription'

@description('Stable GUID name of the role definition.')
param roleDefinitionName string

@description('Display name; unique in the tenant.')
param roleName string

@description('Where the role may be assigned: /subscriptions/<id> for each subscription the sweep scans.')
param assignableScopes array

var discoveryReaderActions = [
  'Microsoft.CognitiveServices/accounts/read'
  'Microsoft.KeyVault/vaults/read'
]

resource discoveryReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleDefinitionName
  properties: {
    roleName: roleName
    description: 'cmk-rotator: list and read Azure OpenAI / AI services accounts and Key Vaults in a subscription. No writes, no listKeys, no data actions.'
    type: 'CustomRole'
    assignableScopes: assignableScopes
    permissions: [
      {
        actions: discoveryReaderActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

output roleDefinitionName string = discoveryReader.name
output roleDefinitionId string = discoveryReader.id
