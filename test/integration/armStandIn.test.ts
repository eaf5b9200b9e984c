import assert from 'node:assert/strict';
import { request } from 'node:https';
import { test } from 'node:test';
import type { Account } from '@azure/arm-cognitiveservices';
import { localCa } from '../../dev/tls';
import {
  accountPath, cmkAccount, collect, csClient, encryption, fast, kvClient, sub, withStandIn, type Example,
} from '../support/armTestKit';
import { readFixture } from '../support/fixtures';

// Behaviour of the ARM stand-in; its contract with the REST examples is in armStandIn.contract.test.ts.

const bearer = { authorization: 'Bearer x' };
const encryptionTo = (keyVersion: string): Account => ({ properties: { encryption: encryption(keyVersion) } });

interface RawAnswer { status: number; headers: Record<string, string | string[] | undefined>; body: any }

async function raw(url: string, method: string, headers: Record<string, string> = {}, body?: string): Promise<RawAnswer> {
  const ca = await localCa();
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, ca }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The SDKs' RestError, matched by name: @azure/core-rest-pipeline is not a direct dependency. */
function restError(e: unknown, statusCode: number): e is Error & { statusCode: number; code?: string } {
  return e instanceof Error && e.name === 'RestError' && (e as { statusCode?: number }).statusCode === statusCode;
}

test('lists page through absolute nextLinks; ids match case-insensitively and keep their casing', async () => {
  await withStandIn({ pageSize: 2 }, async (standIn) => {
    for (let i = 0; i < 5; i++) standIn.putAccount(cmkAccount(i < 3 ? 'rg-A' : 'rg-b', `acct${i}`));
    const cs = csClient(standIn);
    const all = await collect(cs.accounts.list());
    assert.deepEqual(all.map((a) => a.name), ['acct0', 'acct1', 'acct2', 'acct3', 'acct4']);
    assert.equal(standIn.requests.filter((r) => r.path.endsWith('/accounts')).length, 3);
    const inGroup = await collect(cs.accounts.listByResourceGroup('RG-a'));
    assert.deepEqual(inGroup.map((a) => a.name), ['acct0', 'acct1', 'acct2']);
    const listUrl = `${standIn.url}subscriptions/${sub}/providers/Microsoft.CognitiveServices/accounts`;
    const first = await raw(`${listUrl}?api-version=2025-09-01`, 'GET', bearer);
    assert.ok(String(first.body.nextLink).startsWith(`${standIn.url}subscriptions/`));
    assert.equal((await cs.accounts.get('RG-A', 'ACCT0')).id, accountPath('rg-A', 'acct0'));
  });
});

test('beginUpdate changes only keyVersion: Accepted while polling, Succeeded after, one PATCH', async () => {
  await withStandIn({ lroPolls: 2 }, async (standIn) => {
    const id = accountPath('rg', 'oai');
    standIn.putAccount(cmkAccount('rg', 'oai', 'v1'));
    const before = standIn.account(id);
    const poller = await csClient(standIn).accounts.beginUpdate('rg', 'oai', encryptionTo('v2'), fast);
    assert.equal(standIn.account(id).properties.provisioningState, 'Accepted');
    const result = await poller.pollUntilDone();
    assert.equal(result.properties?.encryption?.keyVaultProperties?.keyVersion, 'v2');
    assert.equal(result.properties?.provisioningState, 'Succeeded');
    before.properties.encryption.keyVaultProperties.keyVersion = 'v2';
    assert.deepEqual(standIn.account(id), before);
    assert.equal(standIn.patchCount(id.toUpperCase()), 1);
    const polls = standIn.requests.filter((r) => /operationStatuses/.test(r.path));
    assert.equal(polls.length, 3, 'two InProgress answers, then Succeeded');
  });
});

test('a second update while one runs is refused with 409', async () => {
  await withStandIn({ lroPolls: 2 }, async (standIn) => {
    standIn.putAccount(cmkAccount('rg', 'oai', 'v1'));
    const cs = csClient(standIn);
    const running = await cs.accounts.beginUpdate('rg', 'oai', encryptionTo('v2'), fast);
    const second = cs.accounts.beginUpdateAndWait('rg', 'oai', encryptionTo('v3'), fast);
    await assert.rejects(second, (e) => restError(e, 409));
    assert.equal((await running.pollUntilDone()).properties?.encryption?.keyVaultProperties?.keyVersion, 'v2');
    assert.deepEqual(standIn.requests.filter((r) => r.method === 'PATCH').map((r) => r.status), [202, 409]);
  });
});

test('failLro: the SDK throws, nothing is applied and the account shows Failed', async () => {
  await withStandIn({ lroPolls: 1 }, async (standIn) => {
    const id = accountPath('rg', 'oai');
    standIn.putAccount(cmkAccount('rg', 'oai', 'v1'));
    standIn.failLro(id, { code: 'KeyVaultAccessForbidden', message: 'The identity cannot unwrap the key.' });
    const cs = csClient(standIn);
    const update = cs.accounts.beginUpdateAndWait('rg', 'oai', encryptionTo('v2'), fast);
    await assert.rejects(update, /KeyVaultAccessForbidden/);
    const after = standIn.account(id);
    assert.equal(after.properties.provisioningState, 'Failed');
    assert.equal(after.properties.encryption.keyVaultProperties.keyVersion, 'v1');
    const next = await cs.accounts.beginUpdateAndWait('rg', 'oai', encryptionTo('v3'), fast);
    assert.equal(next.properties?.encryption?.keyVaultProperties?.keyVersion, 'v3', 'only the next update fails');
  });
});

test('encryption is replaced whole; Microsoft.CognitiveServices removes it; bad settings are refused', async () => {
  await withStandIn({}, async (standIn) => {
    const id = accountPath('rg', 'oai');
    const seeded = cmkAccount('rg', 'oai');
    const bound = encryption('v1');
    bound.keyVaultProperties['identityClientId'] = 'c1';
    seeded.properties['encryption'] = bound;
    standIn.putAccount(seeded);
    const cs = csClient(standIn);
    await cs.accounts.beginUpdateAndWait('rg', 'oai', encryptionTo('v1'), fast);
    const replaced = standIn.account(id).properties.encryption.keyVaultProperties;
    assert.equal(replaced.identityClientId, undefined, 'not merged');
    const missing = encryptionTo('v2');
    delete missing.properties?.encryption?.keyVaultProperties?.keyVersion;
    await assert.rejects(cs.accounts.beginUpdateAndWait('rg', 'oai', missing, fast), (e) =>
      restError(e, 400) && /keyVaultProperties\.keyVersion/.test(e.message));
    assert.equal(standIn.account(id).properties.encryption.keyVaultProperties.keyVersion, 'v1');
    const managed: Account = { properties: { encryption: { keySource: 'Microsoft.CognitiveServices' } } };
    const result = await cs.accounts.beginUpdateAndWait('rg', 'oai', managed, fast);
    assert.equal(result.properties?.encryption, undefined);
    assert.equal('encryption' in standIn.account(id).properties, false);
    assert.equal(standIn.account(id).properties.endpoint, 'https://oai.openai.azure.com/');
  });
});

test('faults: a 429 with retry-after-ms and a reset are retried by the SDK; 404 is a RestError', async () => {
  await withStandIn({}, async (standIn) => {
    standIn.putAccount(cmkAccount('rg', 'oai'));
    standIn.fail({ method: 'GET', path: /\/accounts\/oai$/i, status: 429, retryAfterMs: 10 });
    standIn.fail({ method: 'GET', path: /\/accounts\/oai$/i, reset: true });
    const cs = csClient(standIn);
    assert.equal((await cs.accounts.get('rg', 'oai')).name, 'oai');
    assert.deepEqual(standIn.requests.map((r) => r.status), [429, 0, 200]);
    await assert.rejects(cs.accounts.get('rg', 'missing'), (e) => restError(e, 404) && e.code === 'ResourceNotFound');
  });
});

test('throttling: writes beyond the bucket get 429, Retry-After and retry-after-ms; refill follows the clock', async () => {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const options = { now: () => new Date(clock), throttle: { timeScale: 10, writes: { burst: 3, perSecond: 1 } } };
  await withStandIn(options, async (standIn) => {
    standIn.putAccount(cmkAccount('rg', 'oai'));
    const url = `${standIn.url}${accountPath('rg', 'oai').slice(1)}?api-version=2025-09-01`;
    const patch = (): Promise<RawAnswer> =>
      raw(url, 'PATCH', { ...bearer, 'content-type': 'application/json' }, JSON.stringify({ tags: { a: 'b' } }));
    const answers: RawAnswer[] = [];
    for (let i = 0; i < 5; i++) answers.push(await patch());
    assert.deepEqual(answers.map((a) => a.status), [202, 409, 409, 429, 429], 'refused writes spend tokens too');
    const remaining = answers.map((a) => a.headers['x-ms-ratelimit-remaining-subscription-writes']);
    assert.deepEqual(remaining, ['2', '1', '0', '0', '0']);
    const throttled = answers[3];
    assert.equal(throttled?.body.error.code, 'TooManyRequests');
    assert.equal(throttled?.headers['retry-after-ms'], '100', 'one token at 1/s, ten times faster');
    assert.equal(throttled?.headers['retry-after'], '1');
    const read = await raw(url, 'GET', bearer);
    assert.equal(read.status, 200, 'reads have their own bucket');
    assert.equal(read.headers['x-ms-ratelimit-remaining-subscription-reads'], '249');
    clock += 100;
    assert.notEqual((await patch()).status, 429);
  });
});

test('authentication and api-version are required', async () => {
  await withStandIn({}, async (standIn) => {
    const path = `${standIn.url}${accountPath('rg', 'oai').slice(1)}`;
    const anonymous = await raw(`${path}?api-version=2025-09-01`, 'GET');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error.code, 'AuthenticationFailed');
    const unversioned = await raw(path, 'GET', bearer);
    assert.equal(unversioned.status, 400);
    assert.equal(unversioned.body.error.code, 'MissingApiVersionParameter');
  });
});

test('vaults.get through KeyVaultManagementClient returns the stored vault', async () => {
  await withStandIn({}, async (standIn) => {
    const example = readFixture<Example>('keyvault-mgmt-2026-02-01/getVault.json');
    standIn.putVault(example.responses?.['200']?.body);
    const kv = kvClient(standIn, example.parameters['subscriptionId']);
    const vault = await kv.vaults.get('SAMPLE-resource-group', 'sample-vault');
    assert.equal(vault.properties.vaultUri, 'https://sample-vault.vault.azure.net');
    const keyPermissions = vault.properties.accessPolicies?.[0]?.permissions.keys ?? [];
    assert.deepEqual(keyPermissions.filter((k) => /wrapkey/i.test(k)), ['wrapKey', 'unwrapKey']);
    await assert.rejects(kv.vaults.get('sample-resource-group', 'other'), (e) => restError(e, 404));
  });
});
