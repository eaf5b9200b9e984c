import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { accountArmId } from '../../dev/estate';
import type { KeyVaultStandIn } from '../../dev/keyVaultStandIn';
import { startLocalStack, type LocalStack } from '../../dev/stack';
import { api, boundScenario, readAccounts, versionsOf } from '../support/localStack';

describe('manual operations over HTTP through the dev host', () => {
  let stack: LocalStack;
  let vault: KeyVaultStandIn;

  before(async () => {
    stack = await startLocalStack();
    vault = await stack.addVault({ name: 'kv-manual' });
  });
  after(() => stack.stop());

  /** Everything a request could change: ledger rows, accounts as ARM stores them, key versions, queue. */
  async function snapshot(ids: string[]): Promise<string> {
    await stack.settle();
    const rows = await stack.services.ledger.all();
    return JSON.stringify({ rows, accounts: ids.map((id) => stack.arm.account(id)), keyRequests: vault.requests.filter((r) => r.method !== 'GET').length, events: vault.events.length });
  }

  it('rejects a call without the function key (401) and accepts the code query parameter', async () => {
    assert.equal((await api(stack, 'GET', `/api/rotations?accountId=${encodeURIComponent(accountArmId('x'))}`, undefined, { key: null })).status, 401);
    assert.equal((await api(stack, 'GET', `/api/rotations?accountId=${encodeURIComponent(accountArmId('x'))}`, undefined, { key: 'wrong' })).status, 401);
    const viaQuery = await fetch(`${stack.host.url}/api/rotations?accountId=${encodeURIComponent(accountArmId('x'))}&code=${stack.host.functionKey}`);
    assert.equal(viaQuery.status, 200);
  });

  it('dryRun answers the plan and changes nothing at all', async () => {
    const { ids, v1 } = await boundScenario(stack, vault, 'cmk-dry', ['aoai-dry-1', 'aoai-dry-2']);
    const { version: v2 } = await vault.createKey('cmk-dry', { publish: false });
    const before = await snapshot(ids);
    const res = await api(stack, 'POST', '/api/rotations', { vaultUri: vault.vaultUri, keyName: 'cmk-dry', dryRun: true });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.plan.map((p: any) => [p.accountId, p.fromVersion, p.toVersion, p.decision]), ids.map((id) => [id, v1, v2, 'patch']));
    assert.equal(await snapshot(ids), before);
  });

  it('rotateKey creates exactly one version and one PATCH per account, though the version event also arrives', async () => {
    const { ids } = await boundScenario(stack, vault, 'cmk-rot', ['aoai-rot-1', 'aoai-rot-2']);
    const eventsBefore = vault.events.length;
    const res = await api(stack, 'POST', '/api/rotations', { vaultUri: vault.vaultUri, keyName: 'cmk-rot', rotateKey: true }, { headers: { 'x-ms-client-principal-name': 'alice@contoso.com' } });
    assert.equal(res.status, 202);
    assert.equal(res.json.jobs.length, 2);
    assert.equal(res.headers.get('location'), res.json.jobs[0].location);
    await stack.settle();

    assert.equal(vault.events.length - eventsBefore, 1, 'one new version, one event');
    const v2 = (vault.events.at(-1)?.event as any).data.Version;
    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v2, v2]);
    assert.deepEqual(ids.map((id) => stack.arm.patchCount(id)), [1, 1]);
    const status = await api(stack, 'GET', res.json.jobs[0].location);
    assert.equal(status.status, 200);
    assert.deepEqual([status.json.trigger, status.json.actor], ['manual', 'alice@contoso.com']);
    // Whichever job reached the account first (this one, or the new version's event job) made its one PATCH; the
    // other found the account current, after one wait if it met the first one's lease. Each account has exactly
    // one row that moved it.
    assert.ok([1, 2].includes(status.json.attempts), `attempts ${status.json.attempts}`);
    assert.ok(['succeeded', 'already-current'].includes(status.json.status), status.json.status);
    for (const id of ids) {
      const history = await api(stack, 'GET', `/api/rotations?accountId=${encodeURIComponent(id)}`);
      const moved = history.json.rotations.filter((r: any) => r.status === 'succeeded' && r.toVersion === v2);
      assert.equal(moved.length, 1, JSON.stringify(history.json.rotations.map((r: any) => [r.trigger, r.status])));
    }
  });

  it('force moves an account to an older usable version and says so', async () => {
    const { ids, v1 } = await boundScenario(stack, vault, 'cmk-force', ['aoai-force']);
    const { version: v2 } = await vault.createKey('cmk-force', { publish: false });
    stack.arm.putAccount({ ...stack.arm.account(ids[0] ?? ''), properties: { ...stack.arm.account(ids[0] ?? '').properties, encryption: { keySource: 'Microsoft.KeyVault', keyVaultProperties: { keyName: 'cmk-force', keyVaultUri: vault.vaultUri, keyVersion: v2 } } } });
    const unforced = await api(stack, 'POST', '/api/rotations', { accountId: ids[0], keyVersion: v1 });
    await stack.settle();
    assert.equal((await api(stack, 'GET', unforced.json.jobs[0].location)).json.status, 'skipped');
    const forced = await api(stack, 'POST', '/api/rotations', { accountId: ids[0], keyVersion: v1, force: true });
    await stack.settle();
    const job = await api(stack, 'GET', forced.json.jobs[0].location);
    assert.equal(job.json.status, 'succeeded');
    assert.match(job.json.reason, /forced downgrade/);
    assert.deepEqual(Object.keys(job.json).filter((k) => k.startsWith('odata') || ['partitionKey', 'rowKey', 'etag', 'timestamp'].includes(k)), [], 'no storage metadata in the answer');
    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v1]);
  });

  it('disables CMK only with the exact account name, and then encryption is absent', async () => {
    const { ids } = await boundScenario(stack, vault, 'cmk-off', ['aoai-off']);
    const id = ids[0] ?? '';
    const before = await snapshot(ids);
    for (const confirm of [undefined, 'AOAI-OFF', 'aoai-of']) {
      const res = await api(stack, 'POST', '/api/accounts/encryption', { accountId: id, keySource: 'Microsoft.CognitiveServices', ...(confirm ? { confirm } : {}) });
      assert.equal(res.status, 400);
      assert.equal(res.json.code, 'invalid-request');
      assert.ok(res.json.errors.some((e: any) => e.field === 'confirm'));
    }
    assert.equal(await snapshot(ids), before);
    const res = await api(stack, 'POST', '/api/accounts/encryption', { accountId: id, keySource: 'Microsoft.CognitiveServices', confirm: 'aoai-off' });
    assert.equal(res.status, 202);
    await stack.settle();
    assert.deepEqual(stack.arm.account(id).properties.encryption, { keySource: 'Microsoft.CognitiveServices' });
    assert.equal((await api(stack, 'GET', res.json.jobs[0].location)).json.status, 'succeeded');
  });

  it('switches to another key in the same vault; a key in another vault is a 400 that writes nothing', async () => {
    const { ids } = await boundScenario(stack, vault, 'cmk-from', ['aoai-switch']);
    const { version: to } = await vault.createKey('cmk-to', { publish: false });
    const elsewhere = await stack.addVault({ name: 'kv-other' });
    await elsewhere.createKey('cmk-to', { publish: false });
    const before = await snapshot(ids);
    const bad = await api(stack, 'POST', '/api/accounts/encryption', { accountId: ids[0], keyName: 'cmk-to', vaultUri: elsewhere.vaultUri });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'other-vault');
    assert.equal(await snapshot(ids), before);

    const ok = await api(stack, 'POST', '/api/accounts/encryption', { accountId: ids[0], keyName: 'cmk-to' });
    assert.equal(ok.status, 202);
    await stack.settle();
    const [account] = await readAccounts(stack, ids);
    assert.deepEqual([account?.binding?.keyName, account?.binding?.keyVersion, account?.binding?.vaultUri], ['cmk-to', to, vault.vaultUri]);
  });

  it('pages an account history newest first with a continuation token', async () => {
    const { ids } = await boundScenario(stack, vault, 'cmk-hist', ['aoai-hist']);
    for (let i = 0; i < 3; i++) await api(stack, 'POST', '/api/rotations', { accountId: ids[0] });
    await stack.settle();
    const q = `/api/rotations?accountId=${encodeURIComponent(ids[0] ?? '')}&limit=2`;
    const first = await api(stack, 'GET', q);
    assert.equal(first.status, 200);
    assert.equal(first.json.rotations.length, 2);
    assert.ok(first.json.continuationToken);
    const second = await api(stack, 'GET', `${q}&continuationToken=${encodeURIComponent(first.json.continuationToken)}`);
    assert.equal(second.json.rotations.length, 1);
    const all = [...first.json.rotations, ...second.json.rotations];
    const queued = all.map((r: any) => r.queuedAt);
    assert.deepEqual(queued, [...queued].sort().reverse());
  });

  describe('every 4xx names its code and writes nothing', () => {
    const id = () => accountArmId('aoai-4xx');
    before(async () => {
      await boundScenario(stack, vault, 'cmk-4xx', ['aoai-4xx']);
    });
    const cases: Array<[string, string, string, unknown, number, string, string?]> = [
      ['malformed JSON', 'POST', '/api/rotations', '{"accountId":', 400, 'malformed-json'],
      ['an unknown field', 'POST', '/api/rotations', { accountId: '@id', colour: 'blue' }, 400, 'invalid-request', 'colour'],
      ['a resource id that is not an account', 'POST', '/api/rotations', { accountId: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s' }, 400, 'invalid-request', 'accountId'],
      // Ids ARM itself refuses (400 InvalidSubscriptionId, a bad name): the caller's field, not a dependency's failure.
      ['an account id whose subscription is not a GUID', 'POST', '/api/rotations', { accountId: '/subscriptions/not-a-guid/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/a1' }, 400, 'invalid-request', 'accountId'],
      ['an account id whose group ends in a dot', 'DELETE', '/api/accounts/pin', { accountId: '/subscriptions/5a6e7c1d-0000-4000-8000-00000000c0de/resourceGroups/rg./providers/Microsoft.CognitiveServices/accounts/a1' }, 400, 'invalid-request', 'accountId'],
      ['an account name with a character ARM refuses', 'GET', `/api/rotations?accountId=${encodeURIComponent('/subscriptions/5a6e7c1d-0000-4000-8000-00000000c0de/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a#1')}`, undefined, 400, 'invalid-request', 'accountId'],
      ['a vault host outside KEY_VAULT_HOST_SUFFIXES', 'POST', '/api/rotations', { vaultUri: 'https://evil.example.com/', keyName: 'cmk-4xx' }, 400, 'vault-not-allowed', 'vaultUri'],
      ['a version that is not 32 hex characters', 'POST', '/api/rotations', { accountId: '@id', keyVersion: 'v2' }, 400, 'invalid-request', 'keyVersion'],
      ['an unknown account', 'POST', '/api/rotations', { accountId: accountArmId('nobody') }, 404, 'account-not-found'],
      ['a version the key does not have', 'POST', '/api/rotations', { accountId: '@id', keyVersion: 'f'.repeat(32) }, 404, 'key-version-not-found'],
      ['an unknown job', 'GET', '/api/rotations/00000000-0000-4000-8000-000000000000', undefined, 404, 'job-not-found'],
      ['a job id with a malformed escape', 'GET', '/api/rotations/%E0%A4%A', undefined, 400, 'invalid-request', 'jobId'],
      ['history without accountId', 'GET', '/api/rotations?limit=5', undefined, 400, 'invalid-request', 'accountId'],
      ['a limit out of range', 'GET', '/api/rotations?accountId=@id&limit=1000', undefined, 400, 'invalid-request', 'limit'],
      ['a limit in hex', 'GET', '/api/rotations?accountId=@id&limit=0x10', undefined, 400, 'invalid-request', 'limit'],
      ['a limit in exponent form', 'GET', '/api/rotations?accountId=@id&limit=1e1', undefined, 400, 'invalid-request', 'limit'],
      ['a continuation token that is not one', 'GET', '/api/rotations?accountId=@id&continuationToken=not-a-token', undefined, 400, 'invalid-request', 'continuationToken'],
      ['a continuation token whose row key is not a string', 'GET', `/api/rotations?accountId=@id&continuationToken=${Buffer.from(JSON.stringify({ nextPartitionKey: 'p', nextRowKey: 7 })).toString('base64')}`, undefined, 400, 'invalid-request', 'continuationToken'],
      ['an accountId of 600 characters', 'POST', '/api/rotations', { accountId: `/subscriptions/${'x'.repeat(600)}` }, 400, 'invalid-request', 'accountId'],
      ['a reason of 600 characters', 'POST', '/api/rotations', { accountId: '@id', force: true, reason: 'r'.repeat(600) }, 400, 'invalid-request', 'reason'],
      ['a confirm with a key switch, where it means nothing', 'POST', '/api/accounts/encryption', { accountId: '@id', keyName: 'cmk-4xx', confirm: 'zzz' }, 400, 'invalid-request', 'confirm'],
      ['switch and disable at once', 'POST', '/api/accounts/encryption', { accountId: '@id', keyName: 'x', keySource: 'Microsoft.CognitiveServices', confirm: 'aoai-4xx' }, 400, 'invalid-request', 'keyName'],
      ['an unusable key to switch to', 'POST', '/api/accounts/encryption', { accountId: '@id', keyName: 'no-such-key' }, 409, 'key-not-usable', 'keyName'],
    ];
    for (const [what, method, path, body, status, code, field] of cases) {
      it(`${what}: ${status} ${code}`, async () => {
        const fill = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll('@id', id()));
        const before = await snapshot([id()]);
        const res = await api(stack, method, path.replace('@id', encodeURIComponent(id())), typeof body === 'string' || body === undefined ? body : fill(body));
        assert.equal(res.status, status);
        assert.equal(res.headers.get('content-type'), 'application/problem+json');
        assert.equal(res.json.code, code);
        assert.equal(res.json.status, status);
        assert.ok(res.json.type && res.json.title && res.json.detail);
        if (field) assert.ok(res.json.errors?.some((e: any) => e.field === field), JSON.stringify(res.json));
        assert.ok(JSON.stringify(res.json).length < 2_000, 'the answer does not echo an unbounded input');
        assert.equal(await snapshot([id()]), before);
      });
    }
  });
});
