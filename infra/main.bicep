// cmk-rotator: a Flex Consumption Function App that keeps Azure OpenAI accounts bound to the newest usable
// version of their customer-managed key. One azd environment watches one existing Key Vault.
targetScope = 'subscription'

metadata description = 'cmk-rotator: Function App, storage, monitoring, Key Vault Event Grid subscription and least-privilege access.'

// ---- Placement ------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('azd environment name; seeds the resource token and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region of the app resources; it must offer the Flex Consumption plan.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group for the app resources; empty means rg-<environmentName>.')
param resourceGroupName string = ''

// ---- What the service watches and may change ------------------------------------------------------------

@minLength(1)
@description('Resource id of the EXISTING Key Vault that holds the customer-managed keys (/subscriptions/<id>/resourceGroups/<name>/providers/Microsoft.KeyVault/vaults/<name>). It may be in another resource group or subscription.')
param keyVaultResourceId string

@allowed([
  'accessPolicy'
  'rbac'
])
@description('How the vault authorises data-plane calls: "rbac" when its properties.enableRbacAuthorization is true, else "accessPolicy". azd\'s preprovision hook reads the vault and sets it; no default, because a wrong guess grants nothing the service can use.')
param vaultPermissionModel string

@description('Resource id of an EXISTING Managed HSM that holds customer-managed keys (/subscriptions/<id>/resourceGroups/<name>/providers/Microsoft.KeyVault/managedHSMs/<name>); empty means none. HSM keys are authorised by its local RBAC, which azd\'s postprovision hook grants (Managed HSM Crypto User at /keys).')
param managedHsmResourceId string = ''

@minLength(1)
@description('Comma-separated scopes that hold the Azure OpenAI accounts: resource groups (/subscriptions/<id>/resourceGroups/<name>) or whole subscriptions (/subscriptions/<id>). The service may rebind accounts only here.')
param accountScopes string

@description('Comma-separated subscription ids the service lists accounts, vaults and Managed HSMs in (SUBSCRIPTION_IDS); empty means the subscriptions named in accountScopes. Each gets the read-only discovery role at subscription scope.')
param subscriptionIds string = ''

@description('Name of the vault\'s Event Grid system topic. Azure allows one system topic per vault: if the vault already has one in its own resource group, give its name and it is adopted (a system-assigned identity is added for dead-lettering); empty means egst-<vault name>.')
param keyVaultSystemTopicName string = ''

@description('Comma-separated key names whose events are delivered (exact, case-insensitive subject filter); empty means every key in the vault.')
param keyNames string = ''

// ---- Network (optional; an empty id means off) ------------------------------------------------------------

@description('Resource id of a subnet for the Function App\'s outbound traffic (Flex Consumption VNet integration, site property virtualNetworkSubnetId), so it can reach a firewalled vault through a private endpoint. The subnet must be delegated to Microsoft.App/environments, be in the app\'s region and serve no other app.')
param integrationSubnetId string = ''

@description('Resource id of a subnet for private endpoints to the Key Vault (group "vault") and, with managedHsmResourceId, the Managed HSM (group "managedhsm"), created in the subnet\'s resource group and region. Use it with integrationSubnetId: Azure Functions is not a trusted service of the vault firewall.')
param privateEndpointSubnetId string = ''

@description('Resource id of the privatelink.vaultcore.azure.net private DNS zone that gets the vault endpoint\'s record; empty means DNS is managed elsewhere.')
param keyVaultPrivateDnsZoneId string = ''

@description('Resource id of the privatelink.managedhsm.azure.net private DNS zone that gets the HSM endpoint\'s record; empty means DNS is managed elsewhere.')
param managedHsmPrivateDnsZoneId string = ''

// ---- Event delivery and alerting ------------------------------------------------------------------------

@description('Create the Event Grid subscription. False on the first provision because Event Grid resolves the keyVaultEvents function when the subscription is created; the postdeploy hook sets it to true and provisions again.')
param deployEventSubscription bool = false

@minValue(1)
@maxValue(30)
@description('Event Grid delivery attempts before an event is dead-lettered.')
param eventMaxDeliveryAttempts int = 30

@minValue(1)
@maxValue(1440)
@description('Minutes Event Grid keeps retrying an event before it is dead-lettered.')
param eventTimeToLiveInMinutes int = 1440

@minLength(3)
@description('E-mail address that receives failed-rotation, critical-finding and dead-letter alerts.')
param alertEmailAddress string

// ---- Service settings (DESIGN section 7); the app validates them at start-up and refuses to start on a bad value ----

@description('SWEEP_SCHEDULE: six-field NCRONTAB of the compliance sweep (hourly: Managed HSM accounts follow new versions only through it).')
param sweepSchedule string = '0 0 * * * *'

@allowed([
  'report'
  'enforce'
])
@description('SWEEP_MODE: "report" records findings only; "enforce" also enqueues rebinds.')
param sweepMode string = 'report'

@allowed([
  'rotate'
  'bind-newer'
  'notify'
])
@description('NEAR_EXPIRY_ACTION: what a KeyNearExpiry event triggers.')
param nearExpiryAction string = 'bind-newer'

@minValue(1)
@maxValue(365)
@description('NEAR_EXPIRY_DAYS: a key expiring within this many days is treated as near expiry.')
param nearExpiryDays int = 30

@description('ALLOWED_KEY_SIZES: comma-separated RSA sizes a target key version may have.')
param allowedKeySizes string = '2048'

@description('ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE: allow ALLOWED_KEY_SIZES other than 2048, which Azure does not document as supported.')
param allowKeySizesUnsupportedByAzure bool = false

@description('OPT_OUT_TAG: accounts carrying this tag are never rebound.')
param optOutTag string = 'cmk-rotator:opt-out'

@minValue(0)
@maxValue(2160)
@description('KEY_EXPIRY_MARGIN_HOURS: a key version expiring sooner than this is not bound.')
param keyExpiryMarginHours int = 24

@allowed([
  'resource-graph'
  'arm'
])
@description('DISCOVERY: find bound accounts with one Resource Graph query ("resource-graph") or by listing every subscription through ARM ("arm").')
param discovery string = 'resource-graph'

@allowed([
  'on'
  'off'
])
@description('ENCRYPTION_SCOPES: sweeps list every account\'s encryption scopes (one ARM read each) and index the CMK ones for events ("on"), or scopes are ignored ("off").')
param encryptionScopes string = 'on'

@description('MANAGEMENT_GROUP_IDS: comma-separated management groups Resource Graph searches too (grant the discovery reader there yourself).')
param managementGroupIds string = ''

@description('ARM_ENDPOINT: Resource Manager origin; empty means this cloud\'s.')
param armEndpoint string = environment().resourceManager

@description('KEY_VAULT_HOST_SUFFIXES: comma-separated vault and Managed HSM host suffixes the service may call; empty means this cloud\'s.')
param keyVaultHostSuffixes string = ''

// ---- Capacity -------------------------------------------------------------------------------------------

@minValue(40)
@maxValue(1000)
@description('Flex Consumption instance ceiling; kept low because ARM allows about 10 writes per second per subscription.')
param functionMaximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Memory per Flex Consumption instance, in MB.')
param functionInstanceMemoryMB int = 2048

// ---- Derived values -------------------------------------------------------------------------------------

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

// The vault is addressed by id because it usually lives outside this environment's resource group.
var keyVaultIdSegments = split(keyVaultResourceId, '/')
var keyVaultSubscriptionId = keyVaultIdSegments[2]
var keyVaultResourceGroupName = keyVaultIdSegments[4]
var keyVaultName = last(keyVaultIdSegments)

var accountScopeList = filter(map(split(accountScopes, ','), accountScope => trim(accountScope)), accountScope => !empty(accountScope))
var accountSubscriptionIds = union(map(accountScopeList, accountScope => toLower(split(accountScope, '/')[2])), [])
var subscriptionIdList = filter(map(split(subscriptionIds, ','), subscriptionId => toLower(trim(subscriptionId))), subscriptionId => !empty(subscriptionId))
// SUBSCRIPTION_IDS as deployed; the discovery reader is assigned at exactly these subscriptions.
var sweepSubscriptionIds = empty(subscriptionIdList) ? accountSubscriptionIds : union(subscriptionIdList, [])
var keyNameList = filter(map(split(keyNames, ','), keyName => trim(keyName)), keyName => !empty(keyName))

// Names the code uses: shared/adapters/tables/storage.ts (TABLES) and shared/adapters/queue.ts (ROTATION_QUEUE).
var tableNames = [
  'Rotations'
  'Pins'
  'Findings'
  'Sweeps'
  'EncryptionScopes'
  'KeyRotations'
]
var rotationQueueName = 'rotation-jobs'
// The Functions host moves a message here after host.json maxDequeueCount failed attempts.
var rotationPoisonQueueName = '${rotationQueueName}-poison'

var functionAppName = '${abbrs.webSitesFunctions}cmk-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var deadLetterContainerName = 'eventgrid-deadletter'

// The service calls only hosts under KEY_VAULT_HOST_SUFFIXES; HSM hosts are <name>.managedhsm.<the cloud's vault DNS suffix>.
var managedHsmHostSuffix = replace(environment().suffixes.keyvaultDns, '.vault.', '.managedhsm.')
// By default this cloud's Key Vault suffix and its Managed HSM twin (.vault.azure.net and .managedhsm.azure.net, and so on).
var vaultHostSuffixes = empty(keyVaultHostSuffixes) ? '${environment().suffixes.keyvaultDns},${managedHsmHostSuffix}' : keyVaultHostSuffixes

// Every setting shared/config.ts reads (SETTINGS), except AzureWebJobsStorage, which the module derives.
var serviceSettings = {
  SUBSCRIPTION_IDS: join(sweepSubscriptionIds, ',')
  MANAGEMENT_GROUP_IDS: managementGroupIds
  DISCOVERY: discovery
  ENCRYPTION_SCOPES: encryptionScopes
  ARM_ENDPOINT: empty(armEndpoint) ? environment().resourceManager : armEndpoint
  KEY_VAULT_HOST_SUFFIXES: empty(managedHsmResourceId) ? vaultHostSuffixes : join(union(split(vaultHostSuffixes, ','), [managedHsmHostSuffix]), ',')
  SWEEP_SCHEDULE: sweepSchedule
  SWEEP_MODE: sweepMode
  NEAR_EXPIRY_ACTION: nearExpiryAction
  NEAR_EXPIRY_DAYS: string(nearExpiryDays)
  ALLOWED_KEY_SIZES: allowedKeySizes
  ALLOW_KEY_SIZES_UNSUPPORTED_BY_AZURE: allowKeySizesUnsupportedByAzure ? 'true' : 'false'
  OPT_OUT_TAG: optOutTag
  KEY_EXPIRY_MARGIN_HOURS: string(keyExpiryMarginHours)
}

// ---- App resource group ---------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'cmk-monitoring-${resourceToken}'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}cmk-${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}cmk-${resourceToken}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'cmk-storage-${resourceToken}'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
    tableNames: tableNames
    queueNames: [
      rotationQueueName
      rotationPoisonQueueName
    ]
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'cmk-function-app-${resourceToken}'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}cmk-${resourceToken}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appSettings: serviceSettings
    maximumInstanceCount: functionMaximumInstanceCount
    instanceMemoryMB: functionInstanceMemoryMB
    virtualNetworkSubnetId: integrationSubnetId
  }
}

// ---- Key Vault side (the vault's resource group): system topic; then every grant outside the app's resource group ----

module keyVaultTopic 'modules/key-vault-topic.bicep' = {
  name: 'cmk-vault-topic-${resourceToken}'
  scope: resourceGroup(keyVaultSubscriptionId, keyVaultResourceGroupName)
  params: {
    keyVaultName: keyVaultName
    systemTopicName: !empty(keyVaultSystemTopicName) ? keyVaultSystemTopicName : '${abbrs.eventGridSystemTopics}${keyVaultName}'
    tags: tags
  }
}

module storageAccess 'modules/storage-access.bicep' = {
  name: 'cmk-storage-access-${resourceToken}'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    functionPrincipalId: functionApp.outputs.principalId
    deadLetterContainerName: deadLetterContainerName
    deadLetterPrincipalId: keyVaultTopic.outputs.principalId
  }
}

// Custom roles instead of Contributor, one per scope, and the vault's data-plane grant (service-access.bicep).
module serviceAccess 'modules/service-access.bicep' = {
  name: 'cmk-service-access-${resourceToken}'
  params: {
    environmentName: environmentName
    resourceToken: resourceToken
    principalId: functionApp.outputs.principalId
    accountScopes: accountScopeList
    sweepSubscriptionIds: sweepSubscriptionIds
    keyVaultResourceId: keyVaultResourceId
    vaultPermissionModel: vaultPermissionModel
    managedHsmResourceId: managedHsmResourceId
  }
}

// Only with a subnet; the module's own deployments then always have a real subnet id to parse.
module keyStoreEndpoints 'modules/key-store-endpoints.bicep' = if (!empty(privateEndpointSubnetId)) {
  name: 'cmk-endpoints-${resourceToken}'
  params: {
    subnetId: privateEndpointSubnetId
    resourceToken: resourceToken
    tags: tags
    keyVaultResourceId: keyVaultResourceId
    keyVaultEndpointName: '${abbrs.networkPrivateEndpoints}cmk-kv-${resourceToken}'
    keyVaultPrivateDnsZoneId: keyVaultPrivateDnsZoneId
    managedHsmResourceId: managedHsmResourceId
    managedHsmEndpointName: '${abbrs.networkPrivateEndpoints}cmk-hsm-${resourceToken}'
    managedHsmPrivateDnsZoneId: managedHsmPrivateDnsZoneId
  }
}

// Second provision only: Event Grid needs the deployed keyVaultEvents function to create the subscription.
module eventSubscription 'modules/event-subscription.bicep' = if (deployEventSubscription) {
  name: 'cmk-event-subscription-${resourceToken}'
  scope: resourceGroup(keyVaultSubscriptionId, keyVaultResourceGroupName)
  params: {
    name: '${abbrs.eventGridEventSubscriptions}cmk-${resourceToken}'
    systemTopicName: keyVaultTopic.outputs.name
    functionAppId: functionApp.outputs.id
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
    keyNames: keyNameList
    maxDeliveryAttempts: eventMaxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
  }
  // The system topic's identity must be able to write dead letters before events can fail.
  dependsOn: [
    storageAccess
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'cmk-alerts-${resourceToken}'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    alertRulePrefix: abbrs.alertRules
    actionGroupName: '${abbrs.insightsActionGroups}cmk-${resourceToken}'
    alertEmailAddress: alertEmailAddress
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    systemTopicId: keyVaultTopic.outputs.id
  }
}

// What the service did and found, on one page: the queries read the app's log events and metrics.
module workbook 'modules/workbook.bicep' = {
  name: 'cmk-workbook-${resourceToken}'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    applicationInsightsId: monitoring.outputs.applicationInsightsId
  }
}

// ---- Outputs (azd stores them in the environment) -------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output FUNCTION_APP_PRINCIPAL_ID string = functionApp.outputs.principalId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output WORKBOOK_ID string = workbook.outputs.workbookId
output KEY_VAULT_NAME string = keyVaultName
output KEY_VAULT_SYSTEM_TOPIC_NAME string = keyVaultTopic.outputs.name
output DEAD_LETTER_CONTAINER_URL string = storage.outputs.deadLetterContainerUrl
output ACCOUNTS_ROLE_DEFINITION_IDS array = serviceAccess.outputs.accountsRoleDefinitionIds
output ACCOUNT_SCOPES_GRANTED array = accountScopeList
output DISCOVERY_ROLE_DEFINITION_IDS array = serviceAccess.outputs.discoveryRoleDefinitionIds
output DISCOVERY_SUBSCRIPTIONS_GRANTED array = sweepSubscriptionIds
output EVENT_SUBSCRIPTION_DEPLOYED bool = deployEventSubscription
