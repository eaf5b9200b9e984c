import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ArmStandIn } from '../../dev/armStandIn';
import {
  accountPath, bearer, cmkAccount, collect, csClient, encryption, fast, manualClock, raw, restError, sub, withStandIn,
} from '../support/armTestKit';

// Behaviour of the stand-in's accounts/encryptionScopes; its contract with the REST examples is in armStandIn.contract.test.ts.

const scopePath = (account: string, name: string) => `${accountPath('rg', account)}/encryptionScopes/${name}`;
const url = (standIn: { url: string }, path: string) => `${standIn.url}${path.slice(1)}?api-version=2026-03-01`;
const scopeBody = (keyVersion?: string) => {
  const vault = encryption(keyVersion ?? '').keyVaultProperties;
  if (keyVersion === undefined) delete vault['keyVersion'];
  return { properties: { keySource: 'Microsoft.KeyVault', keyVaultProperties: { ...vault, identityClientId: 'c1' }, state: 'Enabled' } };
};
const put = (standIn: { url: string }, account: string, name: string, body: unknown) =>
  raw(url(standIn, scopePath(account, name)), 'PUT', { ...bearer, 'content-type': 'application/json' }, JSON.stringify(body));

function seed(standIn: ArmStandIn, account: string, scopes: string[], keyVersion = 'v1'): void {
  standIn.putAccount(cmkAccount('rg', account));
  for (const name of scopes) standIn.putScope({ id: scopePath(account, name), name, ...scopeBody(keyVersion) });
}

test('LIST pages through absolute nextLinks (and empty pages that still carry one); GET reads one; both 404 as ARM does', async () => {
  await withStandIn({ pageSize: 2, emptyPages: true }, async (standIn) => {
    seed(standIn, 'acct', ['s1', 's2', 's3', 's4', 's5']);
    seed(standIn, 'other', ['s9']);
    const scopes = csClient(standIn).encryptionScopes;
    const listed = await collect(scopes.list('rg', 'acct'));
    assert.deepEqual(listed.map((s) => s.name), ['s1', 's2', 's3', 's4', 's5']);
    assert.equal(listed[0]?.type, 'Microsoft.CognitiveServices/accounts/encryptionScopes');
    assert.ok(standIn.requests.filter((r) => /encryptionScopes$/i.test(r.path)).length >= 6, 'followed nextLink through empty pages');
    assert.equal((await scopes.get('rg', 'ACCT', 'S2')).properties?.keyVaultProperties?.keyVersion, 'v1');
    await assert.rejects(scopes.get('rg', 'acct', 'nope'), (e) => restError(e, 404) && e.code === 'ResourceNotFound');
    await assert.rejects(collect(scopes.list('rg', 'no-account')), (e) => restError(e, 404));
  });
});

test('PUT replaces the scope whole (200; 201 when new), accepts a versionless key ("" or absent), refuses a missing keyName', async () => {
  await withStandIn({}, async (standIn) => {
    seed(standIn, 'acct', ['s1']);
    const replaced = await put(standIn, 'acct', 's1', { properties: { keySource: 'Microsoft.KeyVault', keyVaultProperties: encryption('v2').keyVaultProperties } });
    assert.equal(replaced.status, 200);
    assert.deepEqual(standIn.scope(scopePath('acct', 's1')).properties.keyVaultProperties, encryption('v2').keyVaultProperties, 'identityClientId not merged');
    assert.equal(standIn.scope(scopePath('acct', 's1')).properties.provisioningState, 'Succeeded');
    assert.equal((await put(standIn, 'acct', 'latest', scopeBody(''))).status, 201);
    assert.equal(standIn.scope(scopePath('acct', 'latest')).properties.keyVaultProperties.keyVersion, '');
    assert.equal((await put(standIn, 'acct', 'absent', scopeBody())).status, 201);
    assert.equal('keyVersion' in standIn.scope(scopePath('acct', 'absent')).properties.keyVaultProperties, false);
    const noName = scopeBody('v3') as { properties: { keyVaultProperties: Record<string, string> } };
    delete noName.properties.keyVaultProperties['keyName'];
    const refused = await put(standIn, 'acct', 's1', noName);
    assert.deepEqual([refused.status, refused.body.error.code], [400, 'BadRequest']);
    assert.match(refused.body.error.message, /'properties\.keyVaultProperties\.keyName' is required/);
    assert.equal(standIn.scope(scopePath('acct', 's1')).properties.keyVaultProperties.keyVersion, 'v2', 'a refused PUT changes nothing');
    assert.deepEqual(standIn.scopeWrites.map((w) => [w.status, w.keyVersion]), [[200, 'v2'], [201, ''], [201, undefined], [400, 'v3']]);
  });
});

test('a scope of a busy account refuses PUT and DELETE with 400 AccountProvisioningStateInvalid, as the account refuses a PATCH', async () => {
  const clock = manualClock();
  await withStandIn({ now: clock.now, operationMs: 300 }, async (standIn) => {
    seed(standIn, 'acct', ['s1']);
    const patch = await raw(url(standIn, accountPath('rg', 'acct')), 'PATCH', { ...bearer, 'content-type': 'application/json' }, JSON.stringify({ properties: { encryption: encryption('v2') } }));
    assert.equal(patch.status, 202);
    for (const answer of [await put(standIn, 'acct', 's1', scopeBody('v2')), await raw(url(standIn, scopePath('acct', 's1')), 'DELETE', bearer)]) {
      assert.deepEqual([answer.status, answer.body.error.code], [400, 'AccountProvisioningStateInvalid']);
      assert.match(answer.body.error.message, /in state Accepted/);
    }
    clock.advance(301);
    assert.equal((await put(standIn, 'acct', 's1', scopeBody('v2'))).status, 200);
  });
});

test('DELETE answers 202 with a lower-case azure-asyncoperation header and no body (as recorded); the scope reads Deleting, then 404', async () => {
  const clock = manualClock();
  await withStandIn({ now: clock.now, operationMs: 300 }, async (standIn) => {
    seed(standIn, 'acct', ['s1', 's2']);
    const answer = await raw(url(standIn, scopePath('acct', 's1')), 'DELETE', bearer);
    assert.deepEqual([answer.status, answer.body, answer.headers['location']], [202, undefined, undefined]);
    const status = String(answer.headers['azure-asyncoperation']);
    assert.match(status, new RegExp(`/subscriptions/${sub}/providers/Microsoft.CognitiveServices/locations/EASTUS/operationResults/[0-9a-f-]{36}\\?api-version=2026-03-01$`));
    assert.equal(standIn.scope(scopePath('acct', 's1')).properties.provisioningState, 'Deleting');
    assert.equal((await raw(status, 'GET', bearer)).body.status, 'Accepted');
    clock.advance(301);
    assert.equal((await raw(status, 'GET', bearer)).body.status, 'Succeeded');
    assert.equal(standIn.scope(scopePath('acct', 's1')), undefined);
    assert.equal((await raw(url(standIn, scopePath('acct', 's1')), 'DELETE', bearer)).status, 204, 'deleting what is gone is 204');
  });
  await withStandIn({ operationMs: 5 }, async (standIn) => {
    seed(standIn, 'acct', ['s1']);
    await csClient(standIn).encryptionScopes.beginDeleteAndWait('rg', 'acct', 's1', fast);
    assert.equal(standIn.scope(scopePath('acct', 's1')), undefined, 'the SDK follows the operation to its end');
  });
});

test('scopePutAnswer async: 202 with Azure-AsyncOperation and Location, no Retry-After; Accepted -> Updating -> Succeeded, then the scope', async () => {
  const clock = manualClock();
  await withStandIn({ now: clock.now, operationMs: 300, scopePutAnswer: 'async' }, async (standIn) => {
    seed(standIn, 'acct', ['s1']);
    const accepted = await put(standIn, 'acct', 's1', scopeBody('v2'));
    assert.deepEqual([accepted.status, accepted.headers['retry-after'], accepted.body.properties.provisioningState], [202, undefined, 'Accepted']);
    const status = String(accepted.headers['azure-asyncoperation']);
    assert.equal(accepted.headers['location'], `${status}&operationResultResponseType=Location`);
    assert.equal(standIn.scope(scopePath('acct', 's1')).properties.keyVaultProperties.keyVersion, 'v1', 'not applied before the operation ends');
    assert.equal(standIn.scope(scopePath('acct', 's1')).properties.provisioningState, 'Accepted');
    clock.advance(150);
    assert.equal((await raw(status, 'GET', bearer)).body.status, 'Updating');
    assert.equal((await raw(`${status}&operationResultResponseType=Location`, 'GET', bearer)).status, 202);
    clock.advance(151);
    assert.equal((await raw(status, 'GET', bearer)).body.status, 'Succeeded');
    const result = await raw(`${status}&operationResultResponseType=Location`, 'GET', bearer);
    assert.deepEqual([result.status, result.body.properties.keyVaultProperties.keyVersion, result.body.properties.provisioningState], [200, 'v2', 'Succeeded']);
  });
});
