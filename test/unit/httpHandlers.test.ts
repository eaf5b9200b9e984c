import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { withProblems } from '../../shared/http/problem';
import { parseJob } from '../../shared/messages/rotationJobs';
import { DependencyError } from '../../shared/errors';
import { loadFunctions } from '../../dev/registry';
import { changeEncryption, createRotation, getRotation, listRotations } from '../../shared/handlers/rotations';
import { getCompliance } from '../../shared/handlers/compliance';
import { services, useServices, type Services } from '../../shared/app';
import { accountId, boundAccount, FakeDiscovery, FakeKeyStore, hex, keyVersion, rebindDeps, VAULT } from '../support/fakes';

function post(path: string, body: unknown, headers: Record<string, string> = {}): HttpRequest {
  return new HttpRequest({ method: 'POST', url: `http://localhost/api/${path}`, body: { string: typeof body === 'string' ? body : JSON.stringify(body) }, headers });
}

function get(path: string): HttpRequest {
  return new HttpRequest({ method: 'GET', url: `http://localhost/api/${path}` });
}

describe('HTTP handlers with real HttpRequest objects and in-memory fakes', () => {
  let deps: ReturnType<typeof rebindDeps>;
  let ids = 0;

  beforeEach(() => {
    deps = rebindDeps();
    deps.keys.add(keyVersion(hex(1)), keyVersion(hex(2), { createdOn: new Date('2026-02-01T00:00:00Z') }));
    deps.accounts.put(boundAccount('a1', hex(1)), boundAccount('a2', hex(1)));
    const isAllowedVault = (uri: string) => new URL(uri).hostname.endsWith('.vault.azure.net');
    const keys = Object.assign(deps.keys as FakeKeyStore, { isAllowedVault });
    useServices({ ...deps, keys, isAllowedVault, config: { trustClientPrincipal: true }, discovery: new FakeDiscovery(deps.accounts), optOutTag: 'cmk-rotator:opt-out', newId: () => `job-${String(++ids).padStart(8, '0')}` } as unknown as Services);
  });
  afterEach(() => useServices(undefined));

  it('queues one rebind job per bound account, records the actor, and points at each job', async () => {
    const res = await createRotation(post('rotations', { vaultUri: VAULT, keyName: 'cmk' }, { 'x-ms-client-principal-name': 'ops@contoso.com' }));
    assert.equal(res.status, 202);
    const jobs = (res.jsonBody as { jobs: Array<{ jobId: string; location: string }> }).jobs;
    assert.equal(jobs.length, 2);
    assert.deepEqual(res.headers, { Location: `/api/rotations/${jobs[0]?.jobId}` });
    assert.deepEqual(deps.queue.jobs.map((j) => j.job.kind), ['rebind', 'rebind']);
    assert.deepEqual([...deps.ledger.rows.values()].map((r) => [r.status, r.actor, r.trigger]), [['queued', 'ops@contoso.com', 'manual'], ['queued', 'ops@contoso.com', 'manual']]);
  });

  it('records function-key as the actor when App Service authentication sent no principal', async () => {
    await createRotation(post('rotations', { accountId: accountId('a1') }));
    assert.equal([...deps.ledger.rows.values()][0]?.actor, 'function-key');
  });

  it('ignores a principal header when App Service authentication is off (anyone could send it)', async () => {
    useServices({ ...services(), config: { trustClientPrincipal: false } } as unknown as Services);
    await createRotation(post('rotations', { accountId: accountId('a1') }, { 'x-ms-client-principal-name': 'mallory@evil.example' }));
    assert.equal([...deps.ledger.rows.values()][0]?.actor, 'function-key');
  });

  it('cuts a principal name longer than a job carries, marked, so the job it queues is one a worker takes', async () => {
    const name = `${'x'.repeat(300)}@contoso.com`;
    await createRotation(post('rotations', { accountId: accountId('a1') }, { 'x-ms-client-principal-name': name }));
    const actor = [...deps.ledger.rows.values()][0]?.actor ?? '';
    assert.deepEqual([actor.length, actor.endsWith('…'), name.startsWith(actor.slice(0, -1))], [256, true, true]);
    const [queued] = deps.queue.jobs;
    assert.deepEqual(parseJob(JSON.stringify(queued?.job)).ok, true, 'the message passes the worker\'s schema');
  });

  it('answers a throttled Azure dependency with 429 problem+json and writes nothing', async () => {
    deps.accounts.getAccount = async () => {
      throw new DependencyError('TooManyRequests', 'ARM throttled the read', { retryable: true, statusCode: 429, retryAfterMs: 12_000, dependency: 'arm' });
    };
    const res = await withProblems(createRotation)(post('rotations', { accountId: accountId('a1') }), new InvocationContext());
    assert.equal(res.status, 429);
    assert.equal(JSON.parse(String(res.body)).code, 'dependency-throttled');
    assert.equal((res.headers as Record<string, string>)['Retry-After'], '12', "ARM's own wait");
    assert.equal(deps.ledger.writes.length + deps.queue.jobs.length, 0);
  });

  it('answers Table Storage being unavailable with 503 problem+json and Retry-After, not a bare 500', async () => {
    deps.ledger.historyPage = async () => {
      throw new DependencyError('ServerBusy', 'reading the ledger: the server is busy', { retryable: true, statusCode: 503, dependency: 'storage' });
    };
    const res = await withProblems(listRotations)(get(`rotations?accountId=${encodeURIComponent(accountId('a1'))}`), new InvocationContext());
    assert.equal(res.status, 503);
    assert.equal((res.headers as Record<string, string>)['Content-Type'], 'application/problem+json');
    assert.equal(JSON.parse(String(res.body)).code, 'storage-unavailable');
    assert.ok(Number((res.headers as Record<string, string>)['Retry-After']) >= 1);
  });

  it('rotateKey whose jobs cannot be queued afterwards answers 502 rotated-not-queued naming the version made, never "try again"', async () => {
    const rotated = deps.keys.versions.length;
    const enqueue = deps.queue.enqueue.bind(deps.queue);
    let sends = 0;
    deps.queue.enqueue = async (job) => {
      if (++sends > 1) throw new DependencyError('ServerBusy', 'sending the message: the server is busy', { retryable: true, statusCode: 503, dependency: 'storage' });
      return enqueue(job);
    };
    const res = await withProblems(createRotation)(post('rotations', { vaultUri: VAULT, keyName: 'cmk', rotateKey: true }), new InvocationContext());
    const made = deps.keys.versions[rotated]?.version;
    assert.equal(deps.keys.versions.length, rotated + 1, 'rotated once');
    const body = JSON.parse(String(res.body));
    assert.deepEqual([res.status, body.code, body.keyVersion, (res.headers as Record<string, string>)['Retry-After']], [502, 'rotated-not-queued', made, undefined]);
    assert.match(body.detail, new RegExp(`ask for keyVersion ${made} without rotateKey`));
  });

  it('dryRun returns the plan and writes nothing', async () => {
    const res = await createRotation(post('rotations', { accountId: accountId('a1'), dryRun: true }));
    assert.equal(res.status, 200);
    assert.deepEqual((res.jsonBody as { plan: unknown[] }).plan, [{ accountId: accountId('a1'), fromVersion: hex(1), toVersion: hex(2), decision: 'patch' }]);
    assert.equal(deps.ledger.writes.length + deps.queue.jobs.length, 0);
  });

  const invalid: Array<[string, unknown, string, string]> = [
    ['malformed JSON', '{', 'malformed-json', ''],
    ['an unknown field', { accountId: accountId('a1'), extra: 1 }, 'invalid-request', 'extra'],
    ['accountId and vaultUri together', { accountId: accountId('a1'), vaultUri: VAULT, keyName: 'cmk' }, 'invalid-request', 'accountId'],
    ['nothing to target', {}, 'invalid-request', 'accountId'],
    ['a version that is not hex', { accountId: accountId('a1'), keyVersion: 'zz' }, 'invalid-request', 'keyVersion'],
    ['keyVersion with rotateKey', { accountId: accountId('a1'), keyVersion: hex(2), rotateKey: true }, 'invalid-request', 'keyVersion'],
    ['an http vault URI', { vaultUri: 'http://kv-one.vault.azure.net/', keyName: 'cmk' }, 'invalid-request', 'vaultUri'],
    ['a vault outside the allowed suffixes', { vaultUri: 'https://kv.evil.net/', keyName: 'cmk' }, 'vault-not-allowed', 'vaultUri'],
    ['a vault URI with a user name and password', { vaultUri: 'https://ops:hunter2@kv-one.vault.azure.net/', keyName: 'cmk' }, 'invalid-request', 'vaultUri'],
    ['a key id for a vault URI', { vaultUri: `${VAULT}keys/cmk/${hex(2)}`, keyName: 'cmk' }, 'invalid-request', 'vaultUri'],
    ['a vault URI with a query', { vaultUri: `${VAULT}?api-version=7.5`, keyName: 'cmk' }, 'invalid-request', 'vaultUri'],
    ['a non-boolean dryRun', { accountId: accountId('a1'), dryRun: 'yes' }, 'invalid-request', 'dryRun'],
    ['an encryption scope without its account', { vaultUri: VAULT, keyName: 'cmk', encryptionScope: 'p1' }, 'invalid-request', 'encryptionScope'],
    ['an encryption scope name with a slash', { accountId: accountId('a1'), encryptionScope: 'p1/../x' }, 'invalid-request', 'encryptionScope'],
  ];
  for (const [what, body, code, field] of invalid) {
    it(`400 ${code} for ${what}, nothing written`, async () => {
      const res = await createRotation(post('rotations', body));
      assert.equal(res.status, 400);
      assert.deepEqual(res.headers, { 'Content-Type': 'application/problem+json' });
      const problem = JSON.parse(String(res.body));
      assert.equal(problem.code, code);
      assert.equal(problem.type, `urn:cmk-rotator:problem:${code}`);
      if (field) assert.ok(problem.errors.some((e: { field: string }) => e.field === field), JSON.stringify(problem));
      assert.equal(deps.ledger.writes.length + deps.queue.jobs.length + deps.accounts.patches.length, 0);
    });
  }

  it('a vault URI with a password is refused without repeating it', async () => {
    const res = await createRotation(post('rotations', { vaultUri: 'https://ops:hunter2@kv-one.vault.azure.net/', keyName: 'cmk' }));
    assert.equal(res.status, 400);
    assert.doesNotMatch(String(res.body), /hunter2/);
  });

  it('queues the vault as its origin, however the caller wrote it', async () => {
    const res = await createRotation(post('rotations', { vaultUri: 'https://KV-ONE.vault.azure.net:443', keyName: 'cmk' }));
    assert.equal(res.status, 202);
    assert.deepEqual(deps.queue.jobs.map((j) => ('vaultUri' in j.job ? j.job.vaultUri : undefined)), [VAULT, VAULT]);
  });

  it('a body of many long unknown fields is answered 400 naming 20 of them, each cut: the answer does not grow with the input', async () => {
    const body = { accountId: accountId('a1'), ...Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`${String(i).padStart(3, '0')}${'x'.repeat(1_000)}`, 1])) };
    const res = await createRotation(post('rotations', body));
    assert.equal(res.status, 400);
    const problem = JSON.parse(String(res.body)) as { detail: string; errors: Array<{ field: string }> };
    assert.equal(problem.errors.length, 20);
    assert.ok(problem.errors.every((e) => e.field.length === 100 && e.field.endsWith('…')), problem.errors[0]?.field);
    assert.match(problem.detail, /; and 480 more$/);
    assert.ok(String(res.body).length < 10_000, `${String(res.body).length} characters`);
    assert.equal(deps.ledger.writes.length + deps.queue.jobs.length, 0);
  });

  it('disable CMK needs the exact account name', async () => {
    const res = await changeEncryption(post('accounts/encryption', { accountId: accountId('a1'), keySource: 'Microsoft.CognitiveServices', confirm: 'A1' }));
    assert.equal(res.status, 400);
    assert.equal(deps.ledger.writes.length, 0);
    const ok = await changeEncryption(post('accounts/encryption', { accountId: accountId('a1'), keySource: 'Microsoft.CognitiveServices', confirm: 'a1' }));
    assert.equal(ok.status, 202);
    assert.equal(deps.queue.jobs[0]?.job.kind, 'disable-cmk');
  });

  it('a query parameter given twice is a 400 naming it, not the last value read silently', async () => {
    await createRotation(post('rotations', { accountId: accountId('a2') }));
    const [one, two] = [encodeURIComponent(accountId('a1')), encodeURIComponent(accountId('a2'))];
    const twice = await listRotations(get(`rotations?accountId=${one}&accountId=${two}`));
    assert.equal(twice.status, 400, JSON.stringify(twice.jsonBody ?? twice.body));
    const problem = JSON.parse(String(twice.body));
    assert.equal(problem.code, 'invalid-request');
    assert.deepEqual(problem.errors.map((e: { field: string }) => e.field), ['accountId']);
    const limits = await listRotations(get(`rotations?accountId=${two}&limit=1&limit=50`));
    assert.equal(limits.status, 400);
    assert.deepEqual(JSON.parse(String(limits.body)).errors.map((e: { field: string }) => e.field), ['limit']);
    const severities = await getCompliance(get('compliance?severity=critical&severity=info'));
    assert.equal(severities.status, 400);
    assert.deepEqual(JSON.parse(String(severities.body)).errors.map((e: { field: string }) => e.field), ['severity']);
    // The function key in the query is not an API field, once or twice.
    const keyed = await listRotations(get(`rotations?accountId=${two}&code=k1&code=k2`));
    assert.equal(keyed.status, 200);
  });

  it('404 for an unknown job, 200 with attempts for a known one', async () => {
    const missing = await getRotation(new HttpRequest({ method: 'GET', url: 'http://localhost/api/rotations/job-99999999', params: { jobId: 'job-99999999' } }));
    assert.equal(missing.status, 404);
    await createRotation(post('rotations', { accountId: accountId('a1') }));
    const jobId = deps.queue.jobs[0]?.job.jobId ?? '';
    const found = await getRotation(new HttpRequest({ method: 'GET', url: `http://localhost/api/rotations/${jobId}`, params: { jobId } }));
    assert.equal(found.status, 200);
    assert.equal((found.jsonBody as { attempts: number; status: string }).attempts, 0);
  });
});

describe('function registrations', () => {
  it('validates the settings when the app starts, naming the bad one', async () => {
    const { appStart } = loadFunctions();
    assert.equal(appStart.length, 1);
    const saved = { ...process.env };
    useServices(undefined);
    process.env.AzureWebJobsStorage = 'UseDevelopmentStorage=true';
    process.env.SUBSCRIPTION_IDS = 'not-a-guid';
    try {
      await assert.rejects(async () => appStart[0]?.(), /SUBSCRIPTION_IDS has "not-a-guid"/);
    } finally {
      process.env = saved;
      useServices(undefined);
    }
  });

  it('registers every HTTP function with authLevel function', () => {
    const { http } = loadFunctions();
    const routes = [...http.values()].map((o) => `${o.methods?.join(',')} ${o.route}`);
    for (const route of ['POST rotations', 'GET rotations/{jobId}', 'POST accounts/encryption', 'DELETE accounts/pin', 'GET compliance']) assert.ok(routes.includes(route), `${route} is served: ${routes.join('; ')}`);
    for (const [name, options] of http) assert.equal(options.authLevel, 'function', `${name} is registered with authLevel ${options.authLevel}`);
  });
  it('registers the Event Grid function and the queue worker on rotation-jobs', () => {
    const { eventGrid, storageQueue } = loadFunctions();
    assert.ok(eventGrid.has('keyVaultEvents'));
    assert.equal(storageQueue.get('rotationWorker')?.queueName, 'rotation-jobs');
    assert.equal(storageQueue.get('rotationWorker')?.connection, 'AzureWebJobsStorage');
  });
});
