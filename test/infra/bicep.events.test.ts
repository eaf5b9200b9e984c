// Key Vault events: the Event Grid subscription that delivers key events to keyVaultEvents, when it is deployed,
// and how the system topic dead-letters with its own identity.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { isPlainObject, paramsUsed, property, propertyPath, reachable, type Node } from './bicep';
import { asStrings, deadLetterContainerName, loadInfraFixture, main, moduleCall, only, ROLE, roleIds, symbolAt, value } from './infraFixture';

const KEY_EVENT_TYPES = [
  'Microsoft.KeyVault.KeyNewVersionCreated',
  'Microsoft.KeyVault.KeyNearExpiry',
  'Microsoft.KeyVault.KeyExpired',
];

before(loadInfraFixture);

describe('Key Vault events', () => {
  test('subscription to keyVaultEvents: the three key event types, ObjectType filter, retry policy, identity dead-lettering', () => {
    const { call, scope } = moduleCall('modules/event-subscription.bicep');
    const subscription = only(scope, 'Microsoft.EventGrid/systemTopics/eventSubscriptions');
    assert.equal(value(scope, subscription.body, 'properties.destination.endpointType'), 'AzureFunction');
    assert.match(String(value(scope, subscription.body, 'properties.destination.properties.resourceId')), /\/functions\/keyVaultEvents$/);
    assert.deepEqual(asStrings(value(scope, subscription.body, 'properties.filter.includedEventTypes'), 'includedEventTypes').sort(), [...KEY_EVENT_TYPES].sort());

    const filters = propertyPath(subscription.body, 'properties.filter.advancedFilters');
    assert.ok(filters, 'advancedFilters');
    const objects = reachable(scope.file, filters).filter((n) => n.type === 'object').map((n) => scope.evaluate(n));
    assert.ok(
      objects.some((o) => isPlainObject(o) && o.key === 'data.ObjectType' && o.operatorType === 'StringIn' && JSON.stringify(o.values) === '["Key"]'),
      'an advanced filter data.ObjectType StringIn ["Key"]',
    );

    // Retry policy values are parameters, set from main's parameters.
    for (const key of ['maxDeliveryAttempts', 'eventTimeToLiveInMinutes']) {
      const param = symbolAt(scope.file, propertyPath(subscription.body, `properties.retryPolicy.${key}`));
      assert.equal(param?.kind, 'param', `retryPolicy.${key} should be a parameter`);
      assert.ok(paramsUsed(main, propertyPath(call.body, `params.${param.name}`) as Node).size === 1, `main passes a parameter as ${param.name}`);
    }

    assert.equal(value(scope, subscription.body, 'properties.deadLetterWithResourceIdentity.identity.type'), 'SystemAssigned');
    assert.equal(value(scope, subscription.body, 'properties.deadLetterWithResourceIdentity.deadLetterDestination.endpointType'), 'StorageBlob');
    assert.equal(value(scope, subscription.body, 'properties.deadLetterWithResourceIdentity.deadLetterDestination.properties.blobContainerName'), deadLetterContainerName());
    assert.equal(propertyPath(subscription.body, 'properties.deadLetterDestination'), undefined, 'no key- or SAS-based dead-letter destination');
  });

  test('the subscription waits for the function: gated by deployEventSubscription (bool, default false)', () => {
    const { call } = moduleCall('modules/event-subscription.bicep');
    assert.ok(call.condition, 'the event subscription module must be conditional');
    assert.deepEqual([...paramsUsed(main, call.condition)], ['deployEventSubscription']);
    const gate = main.byName.get('deployEventSubscription');
    assert.equal(gate?.type, 'bool');
    assert.equal(gate?.value?.text, 'false');
  });

  test('the system topic dead-letters with its own identity, which may write only the dead-letter container', () => {
    const topic = moduleCall('modules/key-vault-topic.bicep');
    const systemTopic = only(topic.scope, 'Microsoft.EventGrid/systemTopics');
    assert.equal(value(topic.scope, systemTopic.body, 'identity.type'), 'SystemAssigned');
    assert.equal(value(topic.scope, systemTopic.body, 'properties.topicType'), 'Microsoft.KeyVault.vaults');

    const { call, scope } = moduleCall('modules/storage-access.bicep');
    const writer = scope.file.resources('Microsoft.Authorization/roleAssignments').find((r) => roleIds(scope, r).includes(ROLE.storageBlobDataContributor));
    assert.ok(writer, 'a Storage Blob Data Contributor assignment for dead letters');
    const target = symbolAt(scope.file, property(writer.body, 'scope'));
    assert.equal(target?.target, 'Microsoft.Storage/storageAccounts/blobServices/containers');
    assert.equal(value(scope, target?.body, 'name'), deadLetterContainerName());
    const principal = symbolAt(scope.file, propertyPath(writer.body, 'properties.principalId'));
    assert.equal(propertyPath(call.body, `params.${principal?.name}`)?.text, `${topic.call.name}.outputs.principalId`);
  });
});

