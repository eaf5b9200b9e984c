import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startArmStandIn, type ArmStandIn } from '../../dev/armStandIn';
import { localCredential } from '../../dev/credential';
import { accountArmId, accountResource } from '../../dev/estate';
import { CognitiveServicesAccountStore } from '../../shared/adapters/cognitiveServices';
import { DependencyError } from '../../shared/errors';
import { LOCAL_SUBSCRIPTION } from '../../dev/stack';

const VAULT = 'https://kv-arm.vault.azure.net/';
const V1 = 'a'.repeat(32);
const V2 = 'b'.repeat(32);

describe('CognitiveServicesAccountStore: the real ARM client against the ARM stand-in', () => {
  let arm: ArmStandIn;
  let store: CognitiveServicesAccountStore;

  before(async () => {
    arm = await startArmStandIn({ pageSize: 2, operationMs: 10, throttle: false });
    store = new CognitiveServicesAccountStore({
      credential: localCredential,
      endpoint: arm.url,
      lroPollMs: 5,
      clientOptions: { tlsOptions: { ca: arm.ca }, retryOptions: { retryDelayInMs: 5, maxRetryDelayInMs: 20, maxRetries: 2 } },
    });
    for (let i = 1; i <= 4; i++) arm.putAccount(accountResource({ name: `list-${i}`, key: { vaultUri: VAULT, name: 'cmk', version: V1 } }));
    arm.putAccount(accountResource({ name: 'mmk' }));
  });
  after(() => arm.close());

  it('lists every account across pages and maps bindings; Microsoft-managed keys have none', async () => {
    const seen = [];
    for await (const a of store.listAccounts(LOCAL_SUBSCRIPTION)) seen.push(a);
    assert.equal(seen.length, 5);
    const bound = seen.find((a) => a.name === 'list-1');
    assert.deepEqual(bound?.binding, { vaultUri: VAULT, keyName: 'cmk', keyVersion: V1 });
    assert.equal(bound?.keySource, 'Microsoft.KeyVault');
    assert.equal(bound?.identity?.type, 'SystemAssigned');
    const mmk = seen.find((a) => a.name === 'mmk');
    assert.equal(mmk?.keySource, undefined);
    assert.equal(mmk?.binding, undefined);
    assert.ok(arm.requests.filter((r) => r.method === 'GET' && /accounts$/i.test(r.path)).length >= 3, 'followed nextLink');
  });

  it('reads one account, and undefined for one that does not exist', async () => {
    assert.equal((await store.getAccount(accountArmId('list-2')))?.binding?.keyVersion, V1);
    assert.equal(await store.getAccount(accountArmId('nope')), undefined);
  });

  it('PATCHes keyVersion through the long-running operation and keeps identityClientId', async () => {
    const id = accountArmId('list-3');
    await store.updateEncryption(id, { keySource: 'Microsoft.KeyVault', binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: V2, identityClientId: 'client-1' } });
    const after = arm.account(id);
    assert.deepEqual(after.properties.encryption, {
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: { keyVaultUri: VAULT, keyName: 'cmk', keyVersion: V2, identityClientId: 'client-1' },
    });
    assert.equal(after.properties.provisioningState, 'Succeeded');
    assert.equal(arm.patchCount(id), 1);
  });

  it('a failed long-running operation is a DependencyError and changes no binding', async () => {
    const id = accountArmId('list-4');
    arm.failLro(id, { code: 'KeyVaultAccessDenied', message: 'The identity cannot unwrap the key' });
    await assert.rejects(store.updateEncryption(id, { keySource: 'Microsoft.KeyVault', binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: V2 } }), DependencyError);
    assert.equal(arm.account(id).properties.encryption.keyVaultProperties.keyVersion, V1);
  });

  it('retries a throttled read that carries retry-after-ms', async () => {
    arm.fail({ method: 'GET', path: /list-1$/i, status: 429, retryAfterMs: 5 });
    assert.equal((await store.getAccount(accountArmId('list-1')))?.name, 'list-1');
    assert.ok(arm.requests.some((r) => r.status === 429 && /list-1$/i.test(r.path)));
  });

  it('an ARM error that retries cannot fix is not retryable', async () => {
    arm.fail({ method: 'GET', path: /list-2$/i, status: 403, code: 'AuthorizationFailed' });
    await assert.rejects(store.getAccount(accountArmId('list-2')), (e: unknown) => e instanceof DependencyError && e.statusCode === 403 && !e.retryable && e.code === 'AuthorizationFailed');
  });
});
