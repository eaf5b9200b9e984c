// Data-plane roles in the app's own resource group, each scoped to the one resource that needs it.

@description('Storage account of the Function App.')
param storageAccountName string

@description('Application Insights component the app writes telemetry to.')
param applicationInsightsName string

@description('Principal id of the Function App\'s system-assigned identity.')
param functionPrincipalId string

@description('Blob container Event Grid writes dead letters to.')
param deadLetterContainerName string

@description('Principal id of the Key Vault system topic\'s identity, which writes the dead letters.')
param deadLetterPrincipalId string

// Built-in role definition ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'

// The host keeps leases, timer state and function keys in blobs and creates its containers (Owner, not Contributor);
// the Flex platform reads the package with the same identity; the app uses the queue and the ledger tables.
var functionStorageRoleIds = [
  storageBlobDataOwnerRoleId
  storageQueueDataContributorRoleId
  storageTableDataContributorRoleId
]

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' existing = {
  parent: storage
  name: 'default'
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource functionStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in functionStorageRoleIds: {
  name: guid(storage.id, functionPrincipalId, roleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// Application Insights has local auth disabled, so the host needs this role to send telemetry.
resource functionTelemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, functionPrincipalId, monitoringMetricsPublisherRoleId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Event Grid dead-letters with the system topic's identity: write access to this one container, nothing else.
resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, deadLetterPrincipalId, storageBlobDataContributorRoleId)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: deadLetterPrincipalId
    principalType: 'ServicePrincipal'
  }
}
