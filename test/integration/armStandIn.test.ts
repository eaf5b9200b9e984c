import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Account } from '@azure/arm-cognitiveservices';
import {
  accountPath, bearer, cmkAccount, collect, csClient, encryption, fast, kvClient, manualClock, raw, restError, sub, withStandIn, type Example, type RawAnswer,
} from '../support/armTestKit';
import { readFixture } from '../support/fixtures';

// Behaviour of the ARM stand-in; its contract with the REST examples is in armStandIn.contract.test.ts.

const encryptionTo = (keyVersion: string): Account => ({ properties: { encryption: encryption(keyVersion) } });

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

async function patchRaw(standIn: { url: string }, rg: string, name: string, keyVersion: string): Promise<RawAnswer> {
  const url = `${standIn.url}${accountPath(rg, name).slice(1)}?api-version=2025-06-01`;
  return raw(url, 'PATCH', { ...bearer, 'content-type': 'application/json' }, JSON.stringify(encryptionTo(keyVersion)));
}

test('an update runs on the clock: 202 with the recorded polling URLs, Accepted -> Updating -> Succeeded, no Retry-After', async () => {
  const clock = manualClock();
  await withStandIn({ now: clock.now, operationMs: 300 }, async (standIn) => {
    const id = accountPath('rg', 'oai');
    standIn.putAccount(cmkAccount('rg', 'oai', 'v1'));
    const accepted = await patchRaw(standIn, 'rg', 'oai', 'v2');
    assert.equal(accepted.status, 202);
    assert.equal(accepted.headers['retry-after'], undefined);
    assert.equal(accepted.body.properties.encryption.keyVaultProperties.keyVersion, 'v2', 'the 202 body already shows the request');
    assert.equal(accepted.body.properties.provisioningState, 'Accepted');
    const status = String(accepted.headers['azure-asyncoperation']);
    assert.match(status, new RegExp(`/subscriptions/${sub}/providers/Microsoft.CognitiveServices/locations/EASTUS/operationResults/[0-9a-f-]{36}\\?api-version=2025-06-01$`));
    assert.equal(accepted.headers['location'], `${status}&operationResultResponseType=Location`);

    const poll = async () => (await raw(status, 'GET', bearer)).body.status;
    assert.equal(await poll(), 'Accepted');
    assert.equal(await poll(), 'Accepted', 'polling does not move an operation');
    assert.equal(standIn.account(id).properties.encryption.keyVaultProperties.keyVersion, 'v1', 'GET shows the old binding while it runs');
    assert.equal(standIn.account(id).properties.provisioningState, 'Accepted');
    assert.equal((await raw(String(accepted.headers['location']), 'GET', bearer)).status, 202);
    clock.advance(150);
    assert.equal(await poll(), 'Updating');
    clock.advance(150);
    const done = await raw(status, 'GET', bearer);
    assert.equal(done.body.status, 'Succeeded');
    assert.ok(done.body.endTime);
    const result = await raw(String(accepted.headers['location']), 'GET', bearer);
    assert.equal(result.status, 200);
    assert.equal(result.body.properties.encryption.keyVaultProperties.keyVersion, 'v2');
    assert.equal(standIn.account(id).properties.provisioningState, 'Succeeded');
    assert.deepEqual(standIn.patches.map((p) => [p.keyVersion, p.status]), [['v2', 202]]);
  });
});

test('the SDK follows an update to its end: only keyVersion changes, one PATCH', async () => {
  await withStandIn({ operationMs: 20 }, async (standIn) => {
    const id = accountPath('rg', 'oai');
    standIn.putAccount(cmkAccount('rg', 'oai', 'v1'));
    const before = standIn.account(id);
    const result = await csClient(standIn).accounts.beginUpdateAndWait('rg', 'oai', encryptionTo('v2'), fast);
    assert.equal(result.properties?.encryption?.keyVaultProperties?.keyVersion, 'v2');
    assert.equal(result.properties?.provisioningState, 'Succeeded');
    before.properties.encryption.keyVaultProperties.keyVersion = 'v2';
    assert.deepEqual(standIn.account(id), before);
    assert.equal(standIn.patchCount(id.toUpperCase()), 1);
  });
});

test('a busy account answers a PATCH with 400 AccountProvisioningStateInvalid, during the update and its lag', async () => {
  const clock = manualClock();
  await withStandIn({ now: clock.now, operationMs: 100, settleLagMs: 200 }, async (standIn) => {
    const id = accountPath('rg', 'oai');
    standIn.putAccount(cmkAccount('rg', 'oai', 'v1'));
    assert.equal((await patchRaw(standIn, 'rg', 'oai', 'v2')).status, 202);
    const busy = await patchRaw(standIn, 'rg', 'oai', 'v3');
    assert.equal(busy.status, 400);
    assert.equal(busy.body.error.code, 'AccountProvisioningStateInvalid');
    assert.match(busy.body.error.message, /in state Accepted$/);
    clock.advance(100);
    assert.equal(standIn.account(id).properties.encryption.keyVaultProperties.keyVersion, 'v2');
    assert.equal(standIn.account(id).properties.provisioningState, 'Accepted', 'the recorded lag after the operation');
    assert.equal((await patchRaw(standIn, 'rg', 'oai', 'v3')).status, 400);
    clock.advance(200);
    assert.equal(standIn.account(id).properties.provisioningState, 'Succeeded');
    assert.equal((await patchRaw(standIn, 'rg', 'oai', 'v3')).status, 202);
    assert.deepEqual(standIn.patches.map((p) => [p.keyVersion, p.status]), [['v2', 202], ['v3', 400], ['v3', 400], ['v3', 202]]);
  });
});

test('knobs: a PATCH answered 200 without polling headers, Retry-After when asked, a final result that is empty or 204', async () => {
  await withStandIn({ updateAnswer: 'sync' }, async (standIn) => {
    standIn.putAccount(cmkAccount('rg', 'oai', 'v1'));
    const done = await patchRaw(standIn, 'rg', 'oai', 'v2');
    assert.equal(done.status, 200);
    assert.equal(done.headers['azure-asyncoperation'], undefined);
    assert.equal(done.headers['location'], undefined);
    assert.equal(done.body.properties.provisioningState, 'Succeeded');
    assert.equal(standIn.account(accountPath('rg', 'oai')).properties.encryption.keyVaultProperties.keyVersion, 'v2');
  });
  for (const [finalResult, status, body] of [['empty', 200, undefined], ['no-content', 204, undefined]] as const) {
    await withStandIn({ finalResult, operationMs: 0, retryAfterSeconds: 3 }, async (standIn) => {
      standIn.putAccount(cmkAccount('rg', 'oai', 'v1'));
      const accepted = await patchRaw(standIn, 'rg', 'oai', 'v2');
      assert.equal(accepted.headers['retry-after'], '3');
      const result = await raw(String(accepted.headers['location']), 'GET', bearer);
      assert.equal(result.status, status);
      assert.equal(result.body, body);
    });
  }
});

test('failLro: the operation ends Failed with its error, nothing is applied and the account shows Failed', async () => {
  await withStandIn({ operationMs: 0 }, async (standIn) => {
    const id = accountPath('rg', 'oai');
    standIn.putAccount(cmkAccount('rg', 'oai', 'v1'));
    standIn.failLro(id, { code: 'KeyVaultAccessForbidden', message: 'The identity cannot unwrap the key.' });
    const accepted = await patchRaw(standIn, 'rg', 'oai', 'v2');
    const status = await raw(String(accepted.headers['azure-asyncoperation']), 'GET', bearer);
    assert.equal(status.body.status, 'Failed');
    assert.deepEqual(status.body.error, { code: 'KeyVaultAccessForbidden', message: 'The identity cannot unwrap the key.' });
    const after = standIn.account(id);
    assert.equal(after.properties.provisioningState, 'Failed');
    assert.equal(after.properties.encryption.keyVaultProperties.keyVersion, 'v1');
    const cs = csClient(standIn);
    await assert.rejects(cs.accounts.beginUpdateAndWait('rg', 'oai', encryptionTo('v2'), fast).then(() => {
      throw new Error('the next update succeeds');
    }), /the next update succeeds/, 'only the next update fails');
  });
});

test('paging: the $skiptoken is opaque, and with emptyPages an empty page still carries nextLink', async () => {
  await withStandIn({ pageSize: 2, emptyPages: true }, async (standIn) => {
    for (let i = 0; i < 3; i++) standIn.putAccount(cmkAccount('rg', `acct${i}`));
    const listUrl = `${standIn.url}subscriptions/${sub}/providers/Microsoft.CognitiveServices/accounts?api-version=2025-06-01`;
    const first = await raw(listUrl, 'GET', bearer);
    assert.deepEqual(first.body.value, []);
    const token = new URL(first.body.nextLink).searchParams.get('$skiptoken') ?? '';
    assert.ok(token && !/^\d+$/.test(token), 'not a bare offset');
    assert.equal((await raw(`${listUrl}&$skiptoken=42`, 'GET', bearer)).status, 400);
    const all = await collect(csClient(standIn).accounts.list());
    assert.deepEqual(all.map((a) => a.name), ['acct0', 'acct1', 'acct2']);
  });
});

test('nextLinkBase: nextLinks point at another base URL, path and $skiptoken kept', async () => {
  await withStandIn({ pageSize: 1, nextLinkBase: 'https://elsewhere.example:8443/' }, async (standIn) => {
    for (let i = 0; i < 2; i++) standIn.putAccount(cmkAccount('rg', `acct${i}`));
    const path = `subscriptions/${sub}/providers/Microsoft.CognitiveServices/accounts`;
    const next = new URL((await raw(`${standIn.url}${path}?api-version=2025-06-01`, 'GET', bearer)).body.nextLink);
    assert.deepEqual([next.origin, next.pathname], ['https://elsewhere.example:8443', `/${path}`]);
    assert.ok(next.searchParams.get('$skiptoken'));
  });
});

test('probabilistic faults follow the seeded random source, and are counted by kind', async () => {
  const { seededRandom } = await import('../../dev/faults');
  const run = async (seed: number): Promise<number[]> => {
    let statuses: number[] = [];
    await withStandIn({ random: seededRandom(seed), throttle: false }, async (standIn) => {
      standIn.putAccount(cmkAccount('rg', 'oai'));
      standIn.fail({ method: 'GET', status: 503, probability: 0.5, times: Infinity });
      const url = `${standIn.url}${accountPath('rg', 'oai').slice(1)}?api-version=2025-06-01`;
      for (let i = 0; i < 20; i++) await raw(url, 'GET', bearer);
      statuses = standIn.requests.map((r) => r.status);
      assert.equal(standIn.faultHits.get('503'), statuses.filter((s) => s === 503).length);
    });
    return statuses;
  };
  const a = await run(7);
  assert.deepEqual(await run(7), a);
  assert.ok(a.includes(503) && a.includes(200));
});

test('encryption is replaced whole; Microsoft.CognitiveServices leaves only its keySource; bad settings are refused', async () => {
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
    delete (missing.properties?.encryption?.keyVaultProperties as { keyName?: string } | undefined)?.keyName;
    await assert.rejects(cs.accounts.beginUpdateAndWait('rg', 'oai', missing, fast), (e) =>
      restError(e, 400) && /keyVaultProperties\.keyName/.test(e.message));
    assert.equal(standIn.account(id).properties.encryption.keyVaultProperties.keyVersion, 'v1');
    // keyVersion is optional (DESIGN §9): without it the binding is versionless, as Terraform writes it.
    const versionless = encryptionTo('v2');
    delete versionless.properties?.encryption?.keyVaultProperties?.keyVersion;
    await cs.accounts.beginUpdateAndWait('rg', 'oai', versionless, fast);
    assert.equal('keyVersion' in standIn.account(id).properties.encryption.keyVaultProperties, false);
    const managed: Account = { properties: { encryption: { keySource: 'Microsoft.CognitiveServices' } } };
    const result = await cs.accounts.beginUpdateAndWait('rg', 'oai', managed, fast);
    // As recorded (DESIGN §9): the account keeps encryption, with keySource Microsoft.CognitiveServices only.
    assert.deepEqual(result.properties?.encryption, { keySource: 'Microsoft.CognitiveServices' });
    assert.deepEqual(standIn.account(id).properties.encryption, { keySource: 'Microsoft.CognitiveServices' });
    assert.equal(standIn.account(id).properties.endpoint, 'https://oai.openai.azure.com/');
  });
});

test('mmkEncryption: absent, the other shape of Microsoft-managed keys: no encryption property at all', async () => {
  await withStandIn({ mmkEncryption: 'absent' }, async (standIn) => {
    const seeded = cmkAccount('rg', 'oai');
    seeded.properties['encryption'] = encryption('v1');
    standIn.putAccount(seeded);
    await csClient(standIn).accounts.beginUpdateAndWait('rg', 'oai', { properties: { encryption: { keySource: 'Microsoft.CognitiveServices' } } }, fast);
    assert.equal('encryption' in standIn.account(accountPath('rg', 'oai')).properties, false);
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
    assert.deepEqual(answers.map((a) => a.status), [202, 400, 400, 429, 429], 'refused writes (the account is busy) spend tokens too');
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
