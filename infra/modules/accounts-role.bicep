// Custom role for the Azure OpenAI accounts, used instead of Contributor: it can read an account, PATCH its
// encryption (accounts/write), read and PUT its encryption scopes' (a child resource, so actions of its own) and
// follow the long-running operations. Listing accounts and vaults is the
// discovery reader's job (discovery-role.bicep). One definition per account scope (service-access.bicep).
targetScope = 'subscription'

@description('Stable GUID name of the role definition, derived from its scope.')
param roleDefinitionName string

@description('Display name; unique in the tenant.')
param roleName string

@description('The one scope the role may be assigned at: an accounts\' resource group or subscription (accountScopes).')
param assignableScope string

// The PATCH is a long-running operation polled under locations/<region>/operationResults. The provider's published
// operations list one async-status action ("Read the status of an asynchronous operation") and no operationsStatus one.
var accountKeyBinderActions = [
  'Microsoft.CognitiveServices/accounts/read'
  'Microsoft.CognitiveServices/accounts/write'
  'Microsoft.CognitiveServices/accounts/encryptionScopes/read'
  'Microsoft.CognitiveServices/accounts/encryptionScopes/write'
  'Microsoft.CognitiveServices/locations/operationResults/read'
]

resource accountKeyBinder 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleDefinitionName
  properties: {
    roleName: roleName
    description: 'cmk-rotator: read Azure OpenAI / AI services accounts and rebind their customer-managed key version. No listKeys, no delete.'
    type: 'CustomRole'
    assignableScopes: [
      assignableScope
    ]
    permissions: [
      {
        actions: accountKeyBinderActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

output roleDefinitionName string = accountKeyBinder.name
output roleDefinitionId string = accountKeyBinder.id
