import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ResourceGraphClient } from '@azure/arm-resourcegraph';
import { startArmStandIn, type ArmStandIn } from '../../dev/armStandIn';
import { localCredential } from '../../dev/credential';
import { accountArmId, accountResource } from '../../dev/estate';
import { listenHttps } from '../../dev/tls';
import { CognitiveServicesAccountStore } from '../../shared/adapters/cognitiveServices';
import { ResourceGraphAccounts } from '../../shared/adapters/resourceGraph';
import { ScopedDiscovery } from '../../shared/adapters/scopeDiscovery';
import { DependencyError } from '../../shared/errors';
import { startAzurite } from '../../dev/azurite';
import { TableScopeIndex } from '../../shared/adapters/tables/scopeIndex';
import { TableStorage } from '../../shared/adapters/tables/storage';
import { accountKey } from '../../shared/domain/accounts';
import type { AccountState } from '../../shared/domain/model';
import { readFixture } from '../support/fixtures';
import { shapeOf } from '../support/shape';

const SUB = '5a6e7c1d-0000-4000-8000-00000000c0de';
const OTHER_SUB = '6b7f8d2e-0000-4000-8000-00000000beef';
const VAULT = 'https://kv-graph.vault.azure.net/';
const V1 = 'a'.repeat(32);

interface Example { parameters: { query: { query: string; subscriptions: string[]; options?: Record<string, unknown> } }; responses: { '200': { body: { data: Array<Record<string, unknown>> } } } }

const client = (server: { url: string; ca: string }) =>
  new ResourceGraphClient(localCredential, { endpoint: server.url, credentials: { scopes: [`${server.url}.default`] }, tlsOptions: { ca: server.ca } });

describe('contract: the SDK reads the Resource Graph stand-in like the recorded service', () => {
  for (const name of ['ResourcesBasicQuery', 'ResourcesFirstPageQuery', 'ResourcesNextPageQuery', 'ResourcesRandomPageQuery']) {
    it(`resourcegraph-2024-04-01/${name}.json`, async () => {
      const example = readFixture<Example>(`resourcegraph-2024-04-01/${name}.json`);
      const { query, subscriptions, options } = example.parameters.query;
      const recorded = await listenHttps((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(example.responses['200'].body));
      });
      const standIn = await startArmStandIn({ throttle: false });
      try {
        // The stand-in holds the example's rows, and enough more for a page at $skip 10.
        const rows = example.responses['200'].body.data;
        for (let i = 0; i < 15; i++) for (const row of rows) standIn.putGraphResource({ ...row, id: `${String(row['id'])}-${i}`, name: `${String(row['name'])}test${i}` });
        const sdkOptions = (options ?? {}) as { $skip?: number; $top?: number; $skipToken?: string };
        const ask = { skip: sdkOptions.$skip, top: sdkOptions.$top ?? (sdkOptions.$skipToken ? 3 : undefined) };
        // A $skipToken is the service's own: the stand-in's comes from its first page.
        const token = sdkOptions.$skipToken ? (await client(standIn).resources({ query, subscriptions, options: { top: 3 } })).skipToken : undefined;
        const request = (tokenValue?: string) => ({ query, subscriptions, options: { ...(ask.skip !== undefined ? { skip: ask.skip } : {}), ...(ask.top !== undefined && !tokenValue ? { top: ask.top } : {}), ...(tokenValue ? { skipToken: tokenValue } : {}) } });
        const expected = await client(recorded).resources(request(sdkOptions.$skipToken));
        const actual = await client(standIn).resources(request(token));
        assert.deepEqual(shapeOf(actual, { arrays: 'distinct' }), shapeOf(expected, { arrays: 'distinct' }));
        assert.equal(actual.count, expected.count);
      } finally {
        await Promise.all([recorded.close(), standIn.close()]);
      }
    });
  }
});

describe('the Resource Graph stand-in indexes what ARM holds now', () => {
  it('answers a query asked again from the accounts as they are: one added or changed in between is seen', async () => {
    const arm = await startArmStandIn({ throttle: false });
    try {
      const discovery = new ResourceGraphAccounts({
        credential: localCredential, endpoint: arm.url, subscriptionIds: [SUB], managementGroupIds: [], clientOptions: { tlsOptions: { ca: arm.ca } },
      });
      const names = async (keyName: string) => {
        const found: string[] = [];
        for await (const page of discovery.boundTo({ vaultUri: VAULT, keyName })) found.push(...page.map((a) => a.name));
        return found;
      };
      assert.deepEqual(await names('late-cmk'), []);
      arm.putAccount(accountResource({ name: 'late-one', key: { vaultUri: VAULT, name: 'late-cmk', version: V1 } }));
      assert.deepEqual(await names('late-cmk'), ['late-one']);
      arm.putAccount(accountResource({ name: 'late-one', key: { vaultUri: VAULT, name: 'moved-cmk', version: V1 } }));
      assert.deepEqual([await names('late-cmk'), await names('moved-cmk')], [[], ['late-one']]);
    } finally {
      await arm.close();
    }
  });
});

describe('ResourceGraphAccounts: the real ResourceGraphClient against the stand-in', () => {
  let arm: ArmStandIn;
  const clientOptions = () => ({ tlsOptions: { ca: arm.ca }, retryOptions: { retryDelayInMs: 5, maxRetries: 2 } });
  // Scopes are listed through ARM with the real Cognitive Services client, against the same stand-in.
  const scopes = () => new CognitiveServicesAccountStore({ credential: localCredential, endpoint: arm.url, pollMs: 5, operationTimeoutMs: 1_000, clientOptions: clientOptions() });
  const discovery = (o: Partial<ConstructorParameters<typeof ResourceGraphAccounts>[0]> = {}) => new ResourceGraphAccounts({
    credential: localCredential, endpoint: arm.url, subscriptionIds: [SUB], managementGroupIds: [], pageSize: 2,
    clientOptions: clientOptions(), ...o,
  });
  const collect = async (pages: AsyncIterable<Array<{ name: string }>>) => {
    const names: string[] = [];
    for await (const page of pages) names.push(...page.map((a) => a.name));
    return names.sort();
  };

  before(async () => {
    arm = await startArmStandIn({ throttle: false, graph: { quota: 3, windowMs: 300, managementGroups: { 'mg-ai': [OTHER_SUB] } } });
    const key = (name: string, vaultUri = VAULT) => ({ vaultUri, name, version: V1 });
    arm.putAccount(accountResource({ name: 'bound-slash', key: key('cmk') }));
    arm.putAccount(accountResource({ name: 'bound-noslash', key: key('CMK', 'https://KV-GRAPH.vault.azure.net') }));
    arm.putAccount(accountResource({ name: 'bound-port', key: key('cmk', 'https://kv-graph.vault.azure.net:443/') }));
    arm.putAccount(accountResource({ name: 'other-key', key: key('billing') }));
    arm.putAccount(accountResource({ name: 'other-vault', key: key('cmk', 'https://kv-else.vault.azure.net/') }));
    arm.putAccount(accountResource({ name: 'managed-keys' }));
    arm.putAccount({ ...accountResource({ name: 'in-mg', key: key('cmk') }), id: `/subscriptions/${OTHER_SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/in-mg` });
  });
  after(() => arm.close());

  it('finds exactly the accounts bound to the key, across pages, whatever the casing, slash or default port of the vault URI', async () => {
    assert.deepEqual(await collect(discovery().boundTo({ vaultUri: VAULT, keyName: 'cmk' })), ['bound-noslash', 'bound-port', 'bound-slash']);
  });

  it('every CMK-bound account for the sweep, every account when asked, and management groups too, once each', async () => {
    assert.deepEqual(await collect(discovery().cmkAccounts()), ['bound-noslash', 'bound-port', 'bound-slash', 'other-key', 'other-vault']);
    assert.deepEqual(await collect(discovery().allAccounts()), ['bound-noslash', 'bound-port', 'bound-slash', 'managed-keys', 'other-key', 'other-vault']);
    const withGroup = await collect(discovery({ managementGroupIds: ['mg-ai'] }).boundTo({ vaultUri: VAULT, keyName: 'cmk' }));
    assert.deepEqual(withGroup, ['bound-noslash', 'bound-port', 'bound-slash', 'in-mg']);
  });

  it('a sweep finds encryption scopes through ARM (Resource Graph does not index them), in accounts bound elsewhere or not at all', async () => {
    // A subscription of its own, so the other tests' estate is unchanged.
    const sub = '7c8e9f3a-0000-4000-8000-00000000cafe';
    const id = (name: string) => accountArmId(name).replace(SUB, sub);
    const key = (name: string) => ({ vaultUri: VAULT, name, version: V1 });
    arm.putAccount({ ...accountResource({ name: 'scoped-mmk' }), id: id('scoped-mmk') });
    arm.putAccount({ ...accountResource({ name: 'scoped-billing', key: key('billing') }), id: id('scoped-billing') });
    arm.putAccount({ ...accountResource({ name: 'scoped-none' }), id: id('scoped-none') });
    const scope = (account: string, name: string, keyVaultProperties: object) => ({
      id: `${id(account)}/encryptionScopes/${name}`, name, properties: { keySource: 'Microsoft.KeyVault', keyVaultProperties, state: 'Enabled', provisioningState: 'Succeeded' },
    });
    arm.putScope(scope('scoped-mmk', 'project-a', { keyVaultUri: 'https://KV-GRAPH.vault.azure.net', keyName: 'cmk', keyVersion: V1 }));
    arm.putScope(scope('scoped-billing', 'project-b', { keyVaultUri: VAULT, keyName: 'billing', keyVersion: V1 }));
    const graphRows = await client(arm).resources({ query: "resources | where type =~ 'microsoft.cognitiveservices/accounts/encryptionscopes'", subscriptions: [sub] });
    assert.equal(graphRows.count, 0, 'the stand-in, like Resource Graph, holds no scope rows');
    const azurite = await startAzurite();
    try {
      const index = new TableScopeIndex(new TableStorage({ connectionString: azurite.connectionString }));
      const inSub = new ScopedDiscovery(discovery({ subscriptionIds: [sub] }), { lister: scopes(), index });
      assert.deepEqual(await collect(inSub.boundTo({ vaultUri: VAULT, keyName: 'cmk' })), [], 'no sweep has indexed a scope yet');
      // The sweep's discovery lists every account's scopes and keeps the accounts with a Key Vault binding anywhere; it records them.
      const found: AccountState[] = [];
      for await (const page of inSub.cmkAccounts()) found.push(...page);
      assert.deepEqual(found.map((a) => [a.name, a.encryptionScopes?.map((s) => s.name)]).sort(), [['scoped-billing', ['project-b']], ['scoped-mmk', ['project-a']]]);
      for (const account of found) await index.record(account, new Map());
      // An event's discovery: accounts by their own binding from Resource Graph, scopes from the index.
      const pages: AccountState[][] = [];
      for await (const page of inSub.boundTo({ vaultUri: VAULT, keyName: 'cmk' })) pages.push(page);
      assert.deepEqual(pages.flat().map((a) => [a.name, a.encryptionScopes?.map((s) => [s.name, s.binding?.keyName])]), [['scoped-mmk', [['project-a', 'cmk']]]]);
      assert.deepEqual(await collect(inSub.boundTo({ vaultUri: VAULT, keyName: 'billing' })), ['scoped-billing', 'scoped-billing'], 'the account by its own binding and by its scope');
      // A scope moved to Microsoft-managed keys leaves the index at the next sweep.
      const stored = await index.stored();
      const billing = found.find((a) => a.name === 'scoped-billing') as AccountState;
      assert.equal(await index.record({ ...billing, encryptionScopes: [] }, stored.get(accountKey(billing.id)) ?? new Map()), true);
      assert.deepEqual(await collect(inSub.boundTo({ vaultUri: VAULT, keyName: 'billing' })), ['scoped-billing']);
      assert.equal(await index.record(found.find((a) => a.name === 'scoped-mmk') as AccountState, (await index.stored()).get(accountKey(id('scoped-mmk'))) ?? new Map()), false, 'unchanged: no write');
      await index.removeAccountsNotIn(new Set(), await index.stored());
      assert.deepEqual(await collect(inSub.boundTo({ vaultUri: VAULT, keyName: 'cmk' })), []);
      // ENCRYPTION_SCOPES=off: no scope is listed, and only accounts' own bindings are found.
      const listings = () => arm.requests.filter((r) => /encryptionScopes$/i.test(r.path)).length;
      const before = listings();
      assert.deepEqual(await collect(new ScopedDiscovery(discovery({ subscriptionIds: [sub] })).cmkAccounts()), ['scoped-billing']);
      assert.equal(listings(), before);
    } finally {
      await azurite.stop();
    }
  });

  it('waits for the quota window instead of collecting 429s (x-ms-user-quota-remaining / -resets-after)', async () => {
    // A new adapter knows nothing of the window the previous test's queries may have spent: start in a fresh one.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = arm.requests.length;
    // Seven pages at two rows each with a quota of three queries per 300 ms.
    const names = await collect(discovery({ pageSize: 1 }).cmkAccounts());
    assert.equal(names.length, 5);
    assert.equal(arm.requests.slice(before).filter((r) => r.status === 429).length, 0);
  });

  it('an answer cut short with no $skipToken (paging impossible or disabled) is an error, never a complete list', async () => {
    const limited = await client(arm).resources({ query: `${"resources | where type =~ 'microsoft.cognitiveservices/accounts'"} | project id, name | limit 3`, subscriptions: [SUB], options: { top: 2 } });
    assert.deepEqual([limited.count, limited.resultTruncated, limited.skipToken], [2, 'true', undefined], 'a query that limits rows is not paged');
    const unpaged = await startArmStandIn({ throttle: false, graph: { paging: false } });
    try {
      for (const name of ['a', 'b', 'c']) unpaged.putAccount(accountResource({ name, key: { vaultUri: VAULT, name: 'cmk', version: V1 } }));
      const cut = (e: unknown) => e instanceof DependencyError && e.code === 'resource-graph-truncated' && !e.retryable && e.dependency === 'resource-graph' && /2 of 3 rows/.test(e.message);
      const accounts = discovery({ endpoint: unpaged.url, clientOptions: { tlsOptions: { ca: unpaged.ca } } });
      await assert.rejects(collect(accounts.cmkAccounts()), cut);
      await assert.rejects(collect(accounts.boundTo({ vaultUri: VAULT, keyName: 'cmk' })), cut);
      assert.deepEqual(await collect(discovery({ endpoint: unpaged.url, clientOptions: { tlsOptions: { ca: unpaged.ca } }, pageSize: 3 }).cmkAccounts()), ['a', 'b', 'c'], 'all on one page: complete');
    } finally {
      await unpaged.close();
    }
  });

  it('a management group past the subscriptions one query may span (x-ms-tenant-subscription-limit-hit) is an error, never a complete list', async () => {
    const wide = await startArmStandIn({ throttle: false, graph: { subscriptionLimit: 1, managementGroups: { 'mg-wide': [SUB, OTHER_SUB], 'mg-one': [OTHER_SUB] } } });
    try {
      wide.putAccount(accountResource({ name: 'in-sub', key: { vaultUri: VAULT, name: 'cmk', version: V1 } }));
      wide.putAccount({ ...accountResource({ name: 'in-other', key: { vaultUri: VAULT, name: 'cmk', version: V1 } }), id: accountArmId('in-other').replace(SUB, OTHER_SUB) });
      const over = (groups: string[]) => discovery({ endpoint: wide.url, clientOptions: { tlsOptions: { ca: wide.ca } }, subscriptionIds: [], managementGroupIds: groups });
      await assert.rejects(collect(over(['mg-wide']).cmkAccounts()),
        (e: unknown) => e instanceof DependencyError && e.code === 'resource-graph-subscription-limit' && !e.retryable && e.dependency === 'resource-graph');
      assert.deepEqual(await collect(over(['mg-one']).cmkAccounts()), ['in-other'], 'within the limit: complete');
    } finally {
      await wide.close();
    }
  });

  it('a 429 without Retry-After (another caller spent the quota) waits for the reset its quota headers name', async () => {
    const busy = await startArmStandIn({ throttle: false, graph: { quota: 2, windowMs: 400, retryAfter: false } });
    try {
      busy.putAccount(accountResource({ name: 'only', key: { vaultUri: VAULT, name: 'cmk', version: V1 } }));
      const other = client(busy);
      for (let i = 0; i < 2; i++) await other.resources({ query: 'resources | project id', subscriptions: [SUB] });
      await assert.rejects(other.resources({ query: 'resources | project id', subscriptions: [SUB] }),
        (e: any) => e.statusCode === 429 && e.response.headers.get('retry-after') === undefined && e.response.headers.get('x-ms-user-quota-remaining') === '0');
      const accounts = discovery({ endpoint: busy.url, clientOptions: { tlsOptions: { ca: busy.ca }, retryOptions: { retryDelayInMs: 5, maxRetries: 2 } } });
      assert.deepEqual(await collect(accounts.cmkAccounts()), ['only']);
      assert.ok(busy.requests.filter((r) => r.status === 429).length >= 2, 'refused first');
    } finally {
      await busy.close();
    }
  });

  it('refuses a query it cannot evaluate with 400 InvalidQuery, a DependencyError that is not retried', async () => {
    await assert.rejects(client(arm).resources({ query: 'resources | summarize count() by type', subscriptions: [SUB] }), (e: any) => e.statusCode === 400 && e.code === 'InvalidQuery');
    arm.fail({ method: 'POST', path: /ResourceGraph/, status: 403, code: 'AuthorizationFailed' });
    await assert.rejects(collect(discovery().cmkAccounts()), (e: unknown) => e instanceof DependencyError && e.statusCode === 403 && !e.retryable && e.dependency === 'resource-graph');
  });
});
