// Event Grid system topic on the existing Key Vault. Deployed into the vault's resource group, because a system
// topic lives beside its source; Azure allows one per vault, so an existing one can be adopted by name.

@description('Name of the existing Key Vault in this resource group.')
param keyVaultName string

@description('System topic name: a new one, or the vault\'s existing system topic to adopt.')
param systemTopicName string

@description('Tags for the system topic.')
param tags object

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  // A system topic must be in its source's region.
  location: vault.location
  tags: tags
  // Dead-lettering authenticates with this identity, so no storage key or SAS is handed to Event Grid.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

output id string = systemTopic.id
output name string = systemTopic.name
output principalId string = systemTopic.identity.principalId
