import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startArmStandIn, type ArmStandIn, type ArmStandInOptions } from '../../dev/armStandIn';
import { localCredential } from '../../dev/credential';
import { accountArmId, accountResource } from '../../dev/estate';
import { CognitiveServicesAccountStore } from '../../shared/adapters/cognitiveServices';
import { DependencyError } from '../../shared/errors';
import { LOCAL_SUBSCRIPTION } from '../../dev/stack';
import { listenHttps } from '../../dev/tls';
import { fixedClock } from '../support/fakes';

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
      pollMs: 5,
      operationTimeoutMs: 5_000,
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

  it("maps user-assigned identities (principal and client ids) and the binding's identityClientId", async () => {
    const uai = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1';
    arm.putAccount(accountResource({
      name: 'uai', kind: 'AIServices', key: { vaultUri: VAULT, name: 'cmk', version: V1, identityClientId: 'client-1' },
      identity: { type: 'SystemAssigned, UserAssigned', principalId: 'sys', tenantId: 't', userAssignedIdentities: { [uai]: { principalId: 'uai-p', clientId: 'client-1' } } },
    }));
    const account = await store.getAccount(accountArmId('uai'));
    assert.deepEqual(account?.identity?.userAssignedIdentities, { [uai]: { principalId: 'uai-p', clientId: 'client-1' } });
    assert.equal(account?.binding?.identityClientId, 'client-1');
  });

  it('an AIServices account refuses to go back to Microsoft-managed keys (ARM 400, not retryable, nothing changed); OpenAI does not', async () => {
    arm.putAccount(accountResource({ name: 'foundry', kind: 'AIServices', key: { vaultUri: VAULT, name: 'cmk', version: V1 } }));
    await assert.rejects(store.updateEncryption(accountArmId('foundry'), { keySource: 'Microsoft.CognitiveServices' }), (e: unknown) => {
      assert.ok(e instanceof DependencyError);
      assert.deepEqual([e.statusCode, e.code, e.retryable, e.notApplied], [400, 'BadRequest', false, true]);
      assert.match(e.message, /cannot be disabled for an account of kind AIServices/);
      return true;
    });
    assert.equal(arm.account(accountArmId('foundry')).properties.encryption.keySource, 'Microsoft.KeyVault');
    arm.putAccount(accountResource({ name: 'aoai-off', kind: 'OpenAI', key: { vaultUri: VAULT, name: 'cmk', version: V1 } }));
    assert.equal((await store.updateEncryption(accountArmId('aoai-off'), { keySource: 'Microsoft.CognitiveServices' })).status, 'succeeded');
  });

  it('reads one account, and undefined for one that does not exist', async () => {
    assert.equal((await store.getAccount(accountArmId('list-2')))?.binding?.keyVersion, V1);
    assert.equal(await store.getAccount(accountArmId('nope')), undefined);
  });

  it('keeps a versionless binding (keyVersion "" or absent) as a binding with keyVersion "", and the stand-in accepts both in a PATCH', async () => {
    arm.putAccount(accountResource({ name: 'latest-empty', key: { vaultUri: VAULT, name: 'cmk', version: '' } }));
    arm.putAccount(accountResource({ name: 'latest-absent', key: { vaultUri: VAULT, name: 'cmk' } }));
    for (const name of ['latest-empty', 'latest-absent']) {
      const account = await store.getAccount(accountArmId(name));
      assert.deepEqual([account?.keySource, account?.binding], ['Microsoft.KeyVault', { vaultUri: VAULT, keyName: 'cmk', keyVersion: '' }], name);
    }
    const verdict = await store.updateEncryption(accountArmId('latest-absent'), { keySource: 'Microsoft.KeyVault', binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: '' } });
    assert.equal(verdict.status, 'succeeded');
    assert.equal(arm.account(accountArmId('latest-absent')).properties.encryption.keyVaultProperties.keyVersion, '');
  });

  it('lists (across pages), reads and updates encryption scopes; the PUT sends the scope back with only keyVersion changed', async () => {
    const account = accountArmId('list-4');
    const scopeId = (name: string) => `${account}/encryptionScopes/${name}`;
    for (const name of ['p1', 'p2', 'p3']) {
      arm.putScope({ id: scopeId(name), name, properties: { keySource: 'Microsoft.KeyVault', state: 'Enabled', provisioningState: 'Succeeded', keyVaultProperties: { keyVaultUri: VAULT, keyName: 'cmk', keyVersion: V1, identityClientId: 'c1' } } });
    }
    const listed = await store.listEncryptionScopes(account);
    assert.deepEqual(listed.map((s) => [s.name, s.binding?.keyVersion, s.provisioningState]), [['p1', V1, 'Succeeded'], ['p2', V1, 'Succeeded'], ['p3', V1, 'Succeeded']]);
    assert.deepEqual(await store.listEncryptionScopes(accountArmId('nope')), []);
    assert.equal(await store.getEncryptionScope(account, 'nope'), undefined);
    const verdict = await store.updateEncryptionScope(account, 'p2', { keySource: 'Microsoft.KeyVault', binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: V2, identityClientId: 'c1' } });
    assert.deepEqual([verdict.status, verdict.status === 'succeeded' && verdict.scope?.binding?.keyVersion], ['succeeded', V2]);
    const stored = arm.scope(scopeId('p2')).properties;
    assert.deepEqual([stored.state, stored.keyVaultProperties], ['Enabled', { keyVaultUri: VAULT, keyName: 'cmk', keyVersion: V2, identityClientId: 'c1' }]);
    assert.equal((await store.getEncryptionScope(account, 'p1'))?.binding?.keyVersion, V1, 'the other scopes are untouched');
  });

  it('follows a scope PUT answered 202 with polling headers like an account update, and a busy account refuses it', async () => {
    const { arm: async, answered, clock } = await onClock({ scopePutAnswer: 'async' });
    try {
      const s = new CognitiveServicesAccountStore({ credential: localCredential, endpoint: async.url, pollMs: 5, operationTimeoutMs: 5_000, clientOptions: { tlsOptions: { ca: async.ca } } });
      const account = accountArmId('scoped');
      async.putAccount(accountResource({ name: 'scoped', key: { vaultUri: VAULT, name: 'cmk', version: V1 } }));
      async.putScope({ id: `${account}/encryptionScopes/p1`, name: 'p1', properties: { keySource: 'Microsoft.KeyVault', keyVaultProperties: { keyVaultUri: VAULT, keyName: 'cmk', keyVersion: V1 } } });
      const change = { keySource: 'Microsoft.KeyVault' as const, binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: V2 } };
      const put = answered('PUT');
      const scopeUpdate = s.updateEncryptionScope(account, 'p1', change);
      await put;
      clock.advance(OPERATION_MS);
      const verdict = await scopeUpdate;
      assert.deepEqual([verdict.status, verdict.status === 'succeeded' && verdict.scope?.binding?.keyVersion], ['succeeded', V2]);
      assert.ok(async.requests.some((r) => /operationResults/i.test(r.path)), 'followed the operation');
      const patch = answered('PATCH');
      const accountUpdate = s.updateEncryption(account, change);
      await patch;
      await assert.rejects(s.updateEncryptionScope(account, 'p1', change), (e: unknown) =>
        e instanceof DependencyError && e.code === 'AccountProvisioningStateInvalid' && e.retryable && e.statusCode === 400);
      clock.advance(OPERATION_MS);
      assert.equal((await accountUpdate).status, 'succeeded');
    } finally {
      await async.close();
    }
  });

  it('a busy account refuses the PATCH with a retryable, not-applied error', async () => {
    const { arm: slow, answered, clock } = await onClock();
    try {
      const s = new CognitiveServicesAccountStore({ credential: localCredential, endpoint: slow.url, pollMs: 5, operationTimeoutMs: 5_000, clientOptions: { tlsOptions: { ca: slow.ca } } });
      slow.putAccount(accountResource({ name: 'busy', key: { vaultUri: VAULT, name: 'cmk', version: V1 } }));
      const change = { keySource: 'Microsoft.KeyVault' as const, binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: V2 } };
      const patch = answered('PATCH');
      const first = s.updateEncryption(accountArmId('busy'), change);
      await patch;
      await assert.rejects(s.updateEncryption(accountArmId('busy'), change), (e: unknown) =>
        e instanceof DependencyError && e.code === 'AccountProvisioningStateInvalid' && e.retryable && e.notApplied && e.statusCode === 400);
      clock.advance(OPERATION_MS);
      assert.equal((await first).status, 'succeeded');
    } finally {
      await slow.close();
    }
  });

  for (const [knob, expected] of [[{ updateAnswer: 'sync' }, true], [{ finalResult: 'no-content' }, false], [{ finalResult: 'empty' }, false]] as Array<[ArmStandInOptions, boolean]>) {
    it(`reads ARM's other recorded answers: ${JSON.stringify(knob)}`, async () => {
      const other = await startArmStandIn({ ...knob, operationMs: 5, throttle: false });
      try {
        const s = new CognitiveServicesAccountStore({ credential: localCredential, endpoint: other.url, pollMs: 2, operationTimeoutMs: 5_000, clientOptions: { tlsOptions: { ca: other.ca } } });
        other.putAccount(accountResource({ name: 'knob', key: { vaultUri: VAULT, name: 'cmk', version: V1 } }));
        const verdict = await s.updateEncryption(accountArmId('knob'), { keySource: 'Microsoft.KeyVault', binding: { vaultUri: VAULT, keyName: 'cmk', keyVersion: V2 } });
        assert.equal(verdict.status, 'succeeded');
        assert.equal(verdict.status === 'succeeded' && verdict.account !== undefined, expected, 'the account only when the answer carried it');
        assert.equal(other.account(accountArmId('knob')).properties.encryption.keyVaultProperties.keyVersion, V2);
      } finally {
        await other.close();
      }
    });
  }

  it('never follows an operation URL off the configured ARM endpoint (the bearer token stays home)', async () => {
    const asked: string[] = [];
    const elsewhere = await listenHttps((req, res) => {
      asked.push(`${req.method} elsewhere`);
      req.resume();
      res.end('{"status":"Succeeded"}');
    });
    const rogue = await listenHttps((req, res) => {
      asked.push(`${req.method} at ARM_ENDPOINT`);
      req.resume();
      res.writeHead(202, { 'azure-asyncoperation': `${elsewhere.url}steal?api-version=1&sig=secret`, 'content-type': 'application/json' });
      res.end('{}');
    });
    try {
      const s = new CognitiveServicesAccountStore({ credential: localCredential, endpoint: rogue.url, pollMs: 2, operationTimeoutMs: 1_000, clientOptions: { tlsOptions: { ca: rogue.ca } } });
      await assert.rejects(s.updateEncryption(accountArmId('x'), { keySource: 'Microsoft.CognitiveServices' }), (e: unknown) =>
        e instanceof DependencyError && e.code === 'untrusted-url' && !e.retryable && e.message.includes(elsewhere.url.replace(/\/$/, '')) && !e.message.includes('secret')
        && /^\S.*: refused to send a request to /.test(e.message));
      assert.deepEqual(asked, ['PATCH at ARM_ENDPOINT'], 'only the PATCH; nothing reached the operation URL');
    } finally {
      await rogue.close();
      await elsewhere.close();
    }
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

const OPERATION_MS = 150;

/** An ARM stand-in whose operations end only when the test moves its clock, and a wait for its next answer to a method. */
async function onClock(options: ArmStandInOptions = {}) {
  const clock = fixedClock();
  const waits: Array<{ method: string; done: () => void }> = [];
  const arm = await startArmStandIn({
    operationMs: OPERATION_MS, throttle: false, now: clock.now, ...options,
    onAnswer: (r) => {
      const i = waits.findIndex((w) => w.method === r.method);
      if (i >= 0) waits.splice(i, 1)[0]?.done();
    },
  });
  return { arm, clock, answered: (method: string) => new Promise<void>((done) => waits.push({ method, done })) };
}
