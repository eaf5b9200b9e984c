// Key Vault key events -> the keyVaultEvents function, with retries and identity-based dead-lettering.
// Deployed in the vault's resource group (beside the system topic) and only once the function exists.

@description('Event subscription name.')
param name string

@description('The vault\'s Event Grid system topic in this resource group.')
param systemTopicName string

@description('Resource id of the Function App.')
param functionAppId string

@description('Function that receives the events (functions/keyVaultEvents.ts registers this name).')
param functionName string = 'keyVaultEvents'

@description('Storage account that holds the dead-letter container.')
param deadLetterStorageAccountId string

@description('Blob container for events that could not be delivered.')
param deadLetterContainerName string

@description('Key names to deliver events for; empty means every key.')
param keyNames array

@minValue(1)
@maxValue(30)
@description('Delivery attempts before an event is dead-lettered.')
param maxDeliveryAttempts int

@minValue(1)
@maxValue(1440)
@description('Minutes an event is retried before it is dead-lettered.')
param eventTimeToLiveInMinutes int

// Key events only; the same names exist for secrets and certificates and must not reach the service.
var keyEventTypes = [
  'Microsoft.KeyVault.KeyNewVersionCreated'
  'Microsoft.KeyVault.KeyNearExpiry'
  'Microsoft.KeyVault.KeyExpired'
]

// Belt and braces with the event types: only events whose object is a key.
var keyObjectFilter = {
  operatorType: 'StringIn'
  key: 'data.ObjectType'
  values: [
    'Key'
  ]
}

// The subject is the key name; StringIn matches whole names (case-insensitive), unlike subjectBeginsWith.
var keyNameFilters = empty(keyNames) ? [] : [
  {
    operatorType: 'StringIn'
    key: 'subject'
    values: keyNames
  }
]

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource keyVaultEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: name
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        // One event per call: in a batch, one failed event makes Event Grid re-send all of them.
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: keyEventTypes
      advancedFilters: concat([
        keyObjectFilter
      ], keyNameFilters)
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    // Undeliverable events land in blob storage, written with the system topic's identity (no SAS in the template).
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output id string = keyVaultEvents.id
