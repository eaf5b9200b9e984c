// Custom role for discovery, read only. Assigned at whole subscriptions: the service lists the Azure OpenAI accounts
// of every subscription in SUBSCRIPTION_IDS and their Key Vaults and Managed HSMs to audit the key store a binding
// names; a list call is authorised at the subscription, so resource-group grants do not cover it. Also assigned at a
// vault or HSM whose subscription is not scanned. One definition per scope (service-access.bicep).
targetScope = 'subscription'

@description('Stable GUID name of the role definition, derived from its scope.')
param roleDefinitionName string

@description('Display name; unique in the tenant.')
param roleName string

@description('The one scope the role may be assigned at: /subscriptions/<id>, or a vault\'s or HSM\'s resource id.')
param assignableScope string

// Role assignments and definitions at (and inherited by) a vault or HSM show whether an account's identity may use its key.
var discoveryReaderActions = [
  'Microsoft.CognitiveServices/accounts/read'
  'Microsoft.CognitiveServices/accounts/encryptionScopes/read'
  'Microsoft.KeyVault/vaults/read'
  'Microsoft.KeyVault/managedHSMs/read'
  'Microsoft.Authorization/roleAssignments/read'
  'Microsoft.Authorization/roleDefinitions/read'
]

resource discoveryReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleDefinitionName
  properties: {
    roleName: roleName
    description: 'cmk-rotator: list and read Azure OpenAI / AI services accounts, Key Vaults, Managed HSMs and the role assignments on them. No writes, no listKeys, no data actions.'
    type: 'CustomRole'
    assignableScopes: [
      assignableScope
    ]
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
