// The storage account infra/ deploys: no shared keys or public blobs, and the tables, queues and containers the
// service and the Flex deployment use.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { ROTATION_QUEUE } from '../../shared/adapters/queue';
import { TABLES } from '../../shared/adapters/tables/storage';
import { propertyPath, Scope } from './bicep';
import { asStrings, deadLetterContainerName, loadInfraFixture, main, moduleCall, only, value } from './infraFixture';

before(loadInfraFixture);

describe('storage', () => {
  test('shared keys off; the service\'s tables, queue and poison queue and both blob containers exist', () => {
    const { scope } = moduleCall('modules/storage.bicep');
    const account = only(scope, 'Microsoft.Storage/storageAccounts');
    assert.equal(value(scope, account.body, 'properties.allowSharedKeyAccess'), false);
    assert.equal(value(scope, account.body, 'properties.allowBlobPublicAccess'), false);
    const loopValues = (type: string): string[] => {
      const resource = only(scope, type);
      assert.ok(resource.loop, `${type} should be declared per name`);
      return asStrings(scope.evaluate(resource.loop.iterable), type);
    };
    assert.deepEqual(new Set(loopValues('Microsoft.Storage/storageAccounts/tableServices/tables')), new Set(Object.values(TABLES)));
    assert.deepEqual(new Set(loopValues('Microsoft.Storage/storageAccounts/queueServices/queues')), new Set([ROTATION_QUEUE, `${ROTATION_QUEUE}-poison`]));
    const containers = scope.file.resources('Microsoft.Storage/storageAccounts/blobServices/containers').map((c) => value(scope, c.body, 'name'));
    assert.ok(containers.includes(deadLetterContainerName()), 'dead-letter container');
    const packageContainer = new Scope(main).evaluate(propertyPath(moduleCall('modules/function-app.bicep').call.body, 'params.deploymentContainerName'));
    assert.ok(containers.includes(packageContainer), 'the Flex deployment container');
  });
});
