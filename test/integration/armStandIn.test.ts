import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { request } from 'node:https';
import { basename } from 'node:path';
import { test } from 'node:test';
import { CognitiveServicesManagementClient, type Account } from '@azure/arm-cognitiveservices';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { startArmStandIn, type ArmStandIn, type ArmStandInOptions } from '../../dev/armStandIn';
import { localCredential } from '../../dev/credential';
import { listenHttps, selfSignedCertificate } from '../../dev/tls';
import { fixtureFiles, fixturesDir, readFixture } from '../support/fixtures';

const sub = '00000000-1111-2222-3333-444444444444';
const fast = { updateIntervalInMs: 1 };
const bearer = { authorization: 'Bearer x' };
const accountPath = (rg: string, name: string): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.CognitiveServices/accounts/${name}`;
const clientOptions = (url: string) => ({
  endpoint: url,
  tlsOptions: { ca: selfSignedCertificate().cert },
  retryOptions: { retryDelayInMs: 5, maxRetryDelayInMs: 50 },
});
const csClient = (url: string, subscriptionId = sub) =>
  new CognitiveServicesManagementClient(localCredential, subscriptionId, clientOptions(url));
const kvClient = (url: string, subscriptionId = sub) =>
  new KeyVaultManagementClient(localCredential, subscriptionId, clientOptions(url));

const vaultKey = { keyName: 'cmk', keyVaultUri: 'https://kv1.vault.azure.net/' };
const encryption = (keyVersion: string) => ({
  keySource: 'Microsoft.KeyVault',
  keyVaultProperties: { ...vaultKey, keyVersion } as Record<string, string>,
});
const encryptionTo = (keyVersion: string): Account => ({ properties: { encryption: encryption(keyVersion) } });

function cmkAccount(rg: string, name: string, keyVersion = 'v1') {
  return {
    id: accountPath(rg, name), name, type: 'Microsoft.CognitiveServices/accounts', location: 'eastus', kind: 'OpenAI',
    identity: { type: 'SystemAssigned', principalId: 'p', tenantId: 't' },
    properties: {
      provisioningState: 'Succeeded', endpoint: `https://${name}.openai.azure.com/`, encryption: encryption(keyVersion),
    } as Record<string, unknown>,
  };
}

async function withStandIn(options: ArmStandInOptions, body: (standIn: ArmStandIn) => Promise<void>): Promise<void> {
  const standIn = await startArmStandIn(options);
  try {
    await body(standIn);
  } finally {
    await standIn.close();
  }
}

interface RawAnswer { status: number; headers: Record<string, string | string[] | undefined>; body: any }

function raw(url: string, method: string, headers: Record<string, string> = {}, body?: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, ca: selfSignedCertificate().cert }, (res) => {
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

/** Field names and value types, recursively; the values themselves are ignored. */
type Shape = string | Shape[] | { [key: string]: Shape };
function shapeOf(value: unknown): Shape {
  if (value === null) return 'null';
  if (value instanceof Date) return 'Date';
  if (Array.isArray(value)) return value.map(shapeOf);
  if (typeof value !== 'object') return typeof value;
  const shape: { [key: string]: Shape } = {};
  for (const [key, field] of Object.entries(value).sort(([a], [b]) => a.localeCompare(b))) {
    if (field !== undefined) shape[key] = shapeOf(field);
  }
  return shape;
}

async function collect<T extends { id?: string }>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all.sort((a, b) => (a.id ?? '').toLowerCase().localeCompare((b.id ?? '').toLowerCase()));
}

// ---------- 1. Contract against the REST examples ----------

interface Example {
  operationId?: string;
  parameters: Record<string, any>;
  responses?: Record<string, { body?: any }>;
}
interface Contract {
  /** The example response the SDK's final result is compared with. */
  status: string;
  seed(standIn: ArmStandIn, body: any): void;
  call(url: string, p: Record<string, any>): Promise<unknown>;
}

const seedOne = (standIn: ArmStandIn, body: object): void => standIn.putAccount(body);
const seedList = (standIn: ArmStandIn, body: { value: object[] }): void =>
  body.value.forEach((account) => standIn.putAccount(account));
const contracts: Record<string, Contract> = {
  Accounts_Get: {
    status: '200', seed: seedOne,
    call: (url, p) => csClient(url, p['subscriptionId']).accounts.get(p['resourceGroupName'], p['accountName']),
  },
  Accounts_List: {
    status: '200', seed: seedList, call: (url, p) => collect(csClient(url, p['subscriptionId']).accounts.list()),
  },
  Accounts_ListByResourceGroup: {
    status: '200', seed: seedList,
    call: (url, p) => collect(csClient(url, p['subscriptionId']).accounts.listByResourceGroup(p['resourceGroupName'])),
  },
  // The final result of an update is the 200 body; the 202 body is only the first answer.
  Accounts_Update: {
    status: '200', seed: seedOne,
    call: (url, p) => csClient(url, p['subscriptionId'])
      .accounts.beginUpdateAndWait(p['resourceGroupName'], p['accountName'], p['account'], fast),
  },
  // A PUT of a new account answers 201, so the 201 example is the one to match.
  Accounts_Create: {
    status: '201', seed: () => undefined,
    call: (url, p) => csClient(url, p['subscriptionId'])
      .accounts.beginCreateAndWait(p['resourceGroupName'], p['accountName'], p['account'], fast),
  },
  Vaults_Get: {
    status: '200', seed: (standIn, body) => standIn.putVault(body),
    call: (url, p) => kvClient(url, p['subscriptionId']).vaults.get(p['resourceGroupName'], p['vaultName']),
  },
};
// Older examples carry no operationId.
const operationByFile: Record<string, string> = {
  'CreateAccount.json': 'Accounts_Create', 'CreateAccountMin.json': 'Accounts_Create', 'GetAccount.json': 'Accounts_Get',
  'ListAccountsByResourceGroup.json': 'Accounts_ListByResourceGroup', 'getVault.json': 'Vaults_Get',
  'ListAccountsBySubscription.json': 'Accounts_List', 'UpdateAccount.json': 'Accounts_Update',
};

/** Serves one example response verbatim, whatever is asked, and remembers what was asked. */
async function exampleServer(status: string, body: unknown) {
  const asked: string[] = [];
  const server = await listenHttps((req, res) => {
    asked.push(`${req.method} ${new URL(req.url ?? '/', 'https://x').pathname}`.toLowerCase());
    req.resume();
    res.writeHead(Number(status), { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  return { ...server, asked };
}

test('contract: the SDK reads stand-in answers with the same shape as the REST examples', async (t) => {
  const examples = readdirSync(fixturesDir)
    .filter((folder) => /^(cognitiveservices|keyvault-mgmt)-/.test(folder))
    .flatMap((folder) => fixtureFiles(folder))
    .map((file) => ({ file, example: readFixture<Example>(file) }))
    .filter(({ example }) => example.responses !== undefined);
  const covered: string[] = [];
  for (const { file, example } of examples) {
    const operation = example.operationId ?? operationByFile[basename(file)];
    assert.ok(operation, `${file}: unknown operation; map it in operationByFile`);
    const contract = contracts[operation];
    const name = `${file} (${operation})`;
    if (!contract) {
      await t.test(name, { skip: 'the stand-in does not implement this operation' }, () => undefined);
      continue;
    }
    await t.test(name, async () => {
      const answer = example.responses?.[contract.status] ?? example.responses?.['200'];
      assert.ok(answer?.body, `${file} has a response body`);
      const p = example.parameters;
      const server = await exampleServer(contract.status, answer.body);
      try {
        const expected = await contract.call(server.url, p);
        await withStandIn({}, async (standIn) => {
          contract.seed(standIn, structuredClone(answer.body));
          const actual = await contract.call(standIn.url, p);
          assert.deepEqual(shapeOf(actual), shapeOf(expected));
          const first = standIn.requests[0];
          assert.equal(`${first?.method} ${first?.path}`.toLowerCase(), server.asked[0], 'same operation called');
        });
      } finally {
        await server.close();
      }
      covered.push(file);
    });
  }
  assert.ok(covered.length > 0, 'at least one example is covered');
  t.diagnostic(`covered: ${covered.join(', ')}`);
});

test('an account without properties.encryption has no encryption through the SDK (no default keySource)', async () => {
  await withStandIn({}, async (standIn) => {
    const plain = cmkAccount('rg', 'plain');
    delete plain.properties['encryption'];
    standIn.putAccount(plain);
    const account = await csClient(standIn.url).accounts.get('rg', 'plain');
    assert.equal(account.properties?.provisioningState, 'Succeeded');
    assert.equal(account.properties?.encryption, undefined);
  });
});

// ---------- 2. Behaviour ----------

test('lists page through absolute nextLinks; ids match case-insensitively and keep their casing', async () => {
  await withStandIn({ pageSize: 2 }, async (standIn) => {
    for (let i = 0; i < 5; i++) standIn.putAccount(cmkAccount(i < 3 ? 'rg-A' : 'rg-b', `acct${i}`));
    const cs = csClient(standIn.url);
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
    const poller = await csClient(standIn.url).accounts.beginUpdate('rg', 'oai', encryptionTo('v2'), fast);
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
    const cs = csClient(standIn.url);
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
    const cs = csClient(standIn.url);
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
    const cs = csClient(standIn.url);
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
    const cs = csClient(standIn.url);
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
    const kv = kvClient(standIn.url, example.parameters['subscriptionId']);
    const vault = await kv.vaults.get('SAMPLE-resource-group', 'sample-vault');
    assert.equal(vault.properties.vaultUri, 'https://sample-vault.vault.azure.net');
    const keyPermissions = vault.properties.accessPolicies?.[0]?.permissions.keys ?? [];
    assert.deepEqual(keyPermissions.filter((k) => /wrapkey/i.test(k)), ['wrapKey', 'unwrapKey']);
    await assert.rejects(kv.vaults.get('sample-resource-group', 'other'), (e) => restError(e, 404));
  });
});
