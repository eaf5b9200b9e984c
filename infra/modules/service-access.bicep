// Every grant the service's identity gets outside its own resource group: the account key binder at the accounts'
// scopes, the read-only discovery reader where it discovers, and data-plane access to the Key Vault. Managed HSM keys
// are granted by the postprovision hook (local RBAC cannot be assigned through ARM).
targetScope = 'subscription'

@description('azd environment name; seeds the custom roles\' names.')
param environmentName string

@description('Resource token of the environment; part of the custom roles\' display names.')
param resourceToken string

@description('Principal id of the Function App\'s system-assigned identity.')
param principalId string

@description('Where accounts may be rebound: resource groups (/subscriptions/<id>/resourceGroups/<name>) and subscriptions (/subscriptions/<id>).')
param accountScopes array

@description('Subscription ids the service lists accounts, vaults and HSMs in (SUBSCRIPTION_IDS), lower case.')
param sweepSubscriptionIds array

@description('Resource id of the existing Key Vault.')
param keyVaultResourceId string

@allowed([
  'accessPolicy'
  'rbac'
])
@description('The vault\'s permission model.')
param vaultPermissionModel string

@description('Resource id of the existing Managed HSM; empty means none.')
param managedHsmResourceId string

// One role definition per scope, assignable only there: dropping a scope leaves its definition and assignment unmanaged (remove them by hand) instead of failing the provision, because ARM refuses to shrink assignable scopes an assignment still uses.
var accountRoles = map(accountScopes, accountScope => {
  scope: accountScope
  roleDefinitionName: guid(subscription().id, environmentName, toLower(accountScope), 'cmk-rotator-account-key-binder')
  token: uniqueString(toLower(accountScope))
})

var keyStoreIds = concat([keyVaultResourceId], empty(managedHsmResourceId) ? [] : [managedHsmResourceId])
// A vault or HSM in a subscription the sweep does not scan gets the reader at the resource: its ARM properties and the role assignments that grant its keys.
var unscannedKeyStoreIds = filter(keyStoreIds, keyStoreId => !contains(sweepSubscriptionIds, toLower(split(keyStoreId, '/')[2])))
var discoveryRoles = map(concat(map(sweepSubscriptionIds, subscriptionId => '/subscriptions/${subscriptionId}'), unscannedKeyStoreIds), discoveryScope => {
  scope: discoveryScope
  roleDefinitionName: guid(subscription().id, environmentName, toLower(discoveryScope), 'cmk-rotator-discovery-reader')
  token: uniqueString(toLower(discoveryScope))
})

// Each definition lives in the subscription of its one assignable scope.
module accountsRoles 'accounts-role.bicep' = [for (accountRole, i) in accountRoles: {
  name: 'cmk-accounts-role-${resourceToken}-${i}'
  scope: subscription(split(accountRole.scope, '/')[2])
  params: {
    roleDefinitionName: accountRole.roleDefinitionName
    roleName: 'cmk-rotator account key binder (${environmentName}-${resourceToken}-${accountRole.token})'
    assignableScope: accountRole.scope
  }
}]

module discoveryReaderRoles 'discovery-role.bicep' = [for (discoveryRole, i) in discoveryRoles: {
  name: 'cmk-discovery-role-${resourceToken}-${i}'
  scope: subscription(split(discoveryRole.scope, '/')[2])
  params: {
    roleDefinitionName: discoveryRole.roleDefinitionName
    roleName: 'cmk-rotator discovery reader (${environmentName}-${resourceToken}-${discoveryRole.token})'
    assignableScope: discoveryRole.scope
  }
}]

// "/subscriptions/<id>" splits into 3 segments, "/subscriptions/<id>/resourceGroups/<name>" into 5.
module accountsAccessResourceGroups 'accounts-access-rg.bicep' = [for (accountRole, i) in filter(accountRoles, candidate => length(split(candidate.scope, '/')) == 5): {
  name: 'cmk-accounts-access-${resourceToken}-${i}'
  scope: resourceGroup(split(accountRole.scope, '/')[2], split(accountRole.scope, '/')[4])
  params: {
    principalId: principalId
    roleDefinitionName: accountRole.roleDefinitionName
  }
  dependsOn: [
    accountsRoles
  ]
}]

module accountsAccessSubscriptions 'accounts-access-subscription.bicep' = [for (accountRole, i) in filter(accountRoles, candidate => length(split(candidate.scope, '/')) == 3): {
  name: 'cmk-accounts-access-sub-${resourceToken}-${i}'
  scope: subscription(split(accountRole.scope, '/')[2])
  params: {
    principalId: principalId
    roleDefinitionName: accountRole.roleDefinitionName
  }
  dependsOn: [
    accountsRoles
  ]
}]

// Subscription scope by design: the discovery role reads only, and the list calls need it at the subscription.
module discoveryAccess 'discovery-access-subscription.bicep' = [for (discoveryRole, i) in filter(discoveryRoles, candidate => length(split(candidate.scope, '/')) == 3): {
  name: 'cmk-discovery-access-${resourceToken}-${i}'
  scope: subscription(split(discoveryRole.scope, '/')[2])
  params: {
    principalId: principalId
    roleDefinitionName: discoveryRole.roleDefinitionName
  }
  dependsOn: [
    discoveryReaderRoles
  ]
}]

module discoveryAccessKeyStores 'discovery-access-key-store.bicep' = [for (discoveryRole, i) in filter(discoveryRoles, candidate => length(split(candidate.scope, '/')) != 3): {
  name: 'cmk-discovery-access-kv-${resourceToken}-${i}'
  scope: resourceGroup(split(discoveryRole.scope, '/')[2], split(discoveryRole.scope, '/')[4])
  params: {
    keyStoreId: discoveryRole.scope
    principalId: principalId
    roleDefinitionName: discoveryRole.roleDefinitionName
  }
  dependsOn: [
    discoveryReaderRoles
  ]
}]

module keyVaultAccess 'key-vault-access.bicep' = {
  name: 'cmk-vault-access-${resourceToken}'
  scope: resourceGroup(split(keyVaultResourceId, '/')[2], split(keyVaultResourceId, '/')[4])
  params: {
    keyVaultName: last(split(keyVaultResourceId, '/'))
    principalId: principalId
    permissionModel: vaultPermissionModel
  }
}

output accountsRoleDefinitionIds array = map(accountRoles, accountRole => subscriptionResourceId(split(accountRole.scope, '/')[2], 'Microsoft.Authorization/roleDefinitions', accountRole.roleDefinitionName))
output discoveryRoleDefinitionIds array = map(discoveryRoles, discoveryRole => subscriptionResourceId(split(discoveryRole.scope, '/')[2], 'Microsoft.Authorization/roleDefinitions', discoveryRole.roleDefinitionName))
