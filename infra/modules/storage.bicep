// The Function App's storage: host state, the rotation queue, the ledger tables, the Flex deployment package and
// Event Grid dead letters. Reached only with Entra ID identities: account keys and SAS are switched off.

@description('Storage account name (3-24 lower-case letters and digits).')
param name string

@description('Region of the storage account.')
param location string

@description('Tags for the storage account.')
param tags object

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
@description('Replication of the storage account.')
param skuName string = 'Standard_LRS'

@description('Blob container the Flex Consumption plan deploys the app package from.')
param deploymentContainerName string

@description('Blob container Event Grid writes undeliverable Key Vault events to.')
param deadLetterContainerName string

@description('Tables the service writes: ledger, binding index, leases, dedupe keys, findings, sweeps.')
param tableNames array

@description('Queues the service uses: the rotation job queue and its poison queue.')
param queueNames array

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    // No account keys or SAS: the host, the app and Event Grid all authenticate with managed identities.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Flex Consumption without VNet integration and Event Grid dead-lettering reach the public endpoint.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: storage
  name: 'default'
  properties: {
    // Dead letters are evidence of missed rotations; a mistaken delete stays recoverable for a week.
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2025-01-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-01-01' = [for tableName in tableNames: {
  parent: tableService
  name: tableName
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2025-01-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

output name string = storage.name
output id string = storage.id
output deploymentContainerName string = deploymentContainer.name
output deadLetterContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deadLetterContainer.name}'
