import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import { readdirSync } from 'node:fs';
import { describe, test, type TestContext } from 'node:test';
import { KeyClient, type KeyRotationPolicyProperties } from '@azure/keyvault-keys';
import { localCredential } from '../../dev/credential';
import { listenHttps, selfSignedCertificate } from '../../dev/tls';
import { startKeyVaultStandIn, type KeyVaultStandIn, type KeyVaultStandInOptions } from '../../dev/keyVaultStandIn';
import { fixtureFiles, fixturesDir, readFixture } from '../support/fixtures';

/** `bodies`, when given, receives every raw response body the client reads. */
function keyClient(vaultUri: string, bodies?: string[]): KeyClient {
  return new KeyClient(vaultUri, localCredential, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: selfSignedCertificate().cert },
    retryOptions: { retryDelayInMs: 10, maxRetries: 2 },
    additionalPolicies: bodies ? [{
      position: 'perCall',
      policy: {
        name: 'captureBody',
        sendRequest: async (request, next) => {
          const response = await next(request);
          bodies.push(response.bodyAsText ?? '');
          return response;
        },
      },
    }] : [],
  });
}

async function vault(t: TestContext, o: Partial<KeyVaultStandInOptions> = {}): Promise<KeyVaultStandIn> {
  const v = await startKeyVaultStandIn({ name: 'cmk-test', ...o });
  t.after(() => v.close());
  return v;
}

/** Keys and value types, recursively; Dates and byte arrays are leaves; arrays are their distinct element shapes. */
type Shape = string | Shape[] | { [key: string]: Shape };
function shape(value: unknown): Shape {
  if (value instanceof Date) return 'Date';
  if (value instanceof Uint8Array) return 'Uint8Array';
  if (Array.isArray(value)) {
    return [...new Set(value.map((v) => JSON.stringify(shape(v))))].sort().map((s) => JSON.parse(s) as Shape);
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key, v]) => v !== undefined && !NEWER_THAN_FIXTURES.has(key))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, v]) => [key, shape(v)]),
    );
  }
  return typeof value;
}
// The spec examples were recorded before api 7.1 added recoverableDays; the live service sends it.
const NEWER_THAN_FIXTURES = new Set(['recoverableDays']);

interface Fixture {
  operationId?: string;
  parameters: Record<string, any>;
  responses: { '200': { body: any } };
}
interface Run { name: string; version?: string }
interface Scenario {
  seed(v: KeyVaultStandIn, c: KeyClient, fx: Fixture): Promise<string | undefined>;
  run(c: KeyClient, r: Run, fx: Fixture): Promise<unknown>;
}

const toSdkPolicy = (wire: any): KeyRotationPolicyProperties => ({
  expiresIn: wire.attributes?.expiryTime,
  lifetimeActions: wire.lifetimeActions.map((a: any) => ({ action: a.action.type, ...a.trigger })),
});
// Seeds the state the fixture's vault was in: a key with the response's tags and key_ops.
const seedKey = async (v: KeyVaultStandIn, fx: Fixture, name = fx.parameters['key-name'] as string): Promise<string> => {
  const body = fx.responses['200'].body;
  return (await v.createKey(name, { tags: body.tags, keyOps: body.key?.key_ops, publish: false })).version;
};
const firstPage = async <T>(pages: AsyncIterableIterator<T>): Promise<T> => (await pages.next()).value as T;

const SCENARIOS: Record<string, Scenario> = {
  GetKey: { seed: (v, _c, fx) => seedKey(v, fx), run: (c, r) => c.getKey(r.name, { version: r.version }) },
  CreateKey: {
    seed: async () => undefined,
    run: (c, r, fx) => {
      const p = fx.parameters.parameters;
      return c.createKey(r.name, p.kty, { keySize: p.key_size, keyOps: p.key_ops, tags: p.tags });
    },
  },
  RotateKey: { seed: (v, _c, fx) => seedKey(v, fx), run: (c, r) => c.rotateKey(r.name) },
  UpdateKey: {
    seed: (v, _c, fx) => seedKey(v, fx),
    run: (c, r, fx) => {
      const p = fx.parameters.parameters;
      return c.updateKeyProperties(r.name, r.version ?? '', {
        keyOps: p.key_ops,
        enabled: p.attributes.enabled,
        notBefore: new Date(p.attributes.nbf * 1000),
        expiresOn: new Date(p.attributes.exp * 1000),
      });
    },
  },
  GetKeyVersions: {
    seed: async (v, _c, fx) => (await seedKey(v, fx), seedKey(v, fx)),
    run: (c, r, fx) => firstPage(c.listPropertiesOfKeyVersions(r.name).byPage({ maxPageSize: fx.parameters.maxresults })),
  },
  GetKeys: {
    seed: async (v, _c, fx) => (await seedKey(v, fx, 'first-key'), seedKey(v, fx, 'second-key')),
    run: (c, _r, fx) => firstPage(c.listPropertiesOfKeys().byPage({ maxPageSize: fx.parameters.maxresults })),
  },
  GetKeyRotationPolicy: {
    seed: async (v, c, fx) => {
      const version = await seedKey(v, fx);
      await c.updateKeyRotationPolicy(fx.parameters['key-name'], toSdkPolicy(fx.responses['200'].body));
      return version;
    },
    run: (c, r) => c.getKeyRotationPolicy(r.name),
  },
  UpdateKeyRotationPolicy: {
    seed: (v, _c, fx) => seedKey(v, fx),
    run: (c, r, fx) => c.updateKeyRotationPolicy(r.name, toSdkPolicy(fx.parameters.keyRotationPolicy)),
  },
};

const normalisedPath = (path: string): string => path.replace(/\/[0-9a-f]{32}(?=\/|$)/g, '/{version}');

describe('contract: SDK reads the stand-in like the recorded service responses', () => {
  const files = readdirSync(fixturesDir)
    .filter((dir) => /^keyvault-\d/.test(dir))
    .flatMap((dir) => fixtureFiles(dir))
    .map((file) => ({ file, fx: readFixture<Fixture>(file) }))
    .map(({ file, fx }) => ({ file, fx, op: fx.operationId ?? basename(file).replace(/-example\.json$/, '') }))
    .filter(({ op }) => op in SCENARIOS);

  test('finds fixtures for every operation the stand-in implements', () => {
    assert.ok(files.length > 0);
    assert.deepEqual(new Set(files.map((f) => f.op)), new Set(Object.keys(SCENARIOS)));
  });

  for (const { file, fx, op } of files) {
    test(file, async (t) => {
      const scenario = SCENARIOS[op]!;
      const seen: string[] = [];
      const recorded = await listenHttps((req, res) => {
        if (!req.headers.authorization) {
          res.writeHead(401, { 'WWW-Authenticate': 'Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net"' });
          res.end();
          return;
        }
        seen.push(`${req.method} ${normalisedPath(new URL(req.url ?? '/', 'https://x').pathname)}`);
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(fx.responses['200'].body));
      });
      t.after(() => recorded.close());
      const standIn = await vault(t);
      const bodies: string[] = [];
      const standInClient = keyClient(standIn.vaultUri, bodies);
      const name = (fx.parameters['key-name'] as string | undefined) ?? 'first-key';

      const expected = await scenario.run(keyClient(recorded.url), { name, version: fx.parameters['key-version'] }, fx);
      const version = await scenario.seed(standIn, standInClient, fx);
      const actual = await scenario.run(standInClient, { name, version }, fx);

      assert.deepEqual(shape(actual), shape(expected));
      // The wire itself too: the SDK turns numeric strings into Dates, so only the raw JSON shows epoch numbers.
      assert.deepEqual(shape(JSON.parse(bodies.at(-1) ?? 'null')), shape(fx.responses['200'].body));
      const last = standIn.requests.at(-1)!;
      assert.equal(last.status, 200);
      assert.equal(`${last.method} ${normalisedPath(last.path)}`, seen.at(-1));
    });
  }
});

interface RawResponse { status: number; headers: IncomingHttpHeaders; body: any }
function raw(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, ca: selfSignedCertificate().cert }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}
const BEARER = { Authorization: 'Bearer t' };

describe('Key Vault behaviour through the real KeyClient', () => {
  test('answers the token challenge, then serves the request', async (t) => {
    const v = await vault(t, { tenantId: '11111111-2222-3333-4444-555555555555' });
    const { version } = await v.createKey('k1', { publish: false });
    const key = await keyClient(v.vaultUri).getKey('k1');
    assert.equal(key.properties.version, version);
    assert.equal(key.properties.recoveryLevel, 'Recoverable');
    assert.equal(key.properties.recoverableDays, 90);
    assert.deepEqual(v.requests.map((r) => [r.status, r.authorized]), [[401, false], [200, true]]);

    const challenge = await raw(`${v.vaultUri}keys/k1?api-version=2025-07-01`);
    assert.equal(challenge.status, 401);
    assert.equal(challenge.headers['www-authenticate'], 'Bearer authorization="https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555", resource="https://vault.azure.net"');
    assert.equal(challenge.body.error.code, 'Unauthorized');
  });

  test('reads api-version percent-encoded or plain, and requires it', async (t) => {
    const v = await vault(t);
    await v.createKey('k1', { publish: false });
    assert.equal((await raw(`${v.vaultUri}keys/k1/?api%2Dversion=2025-07-01`, BEARER)).status, 200);
    assert.equal((await raw(`${v.vaultUri}keys/k1?api-version=7.5`, BEARER)).status, 200);
    const missing = await raw(`${v.vaultUri}keys/k1`, BEARER);
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.code, 'BadParameter');
    await keyClient(v.vaultUri).getKey('k1');
    assert.equal(v.requests.at(-1)?.apiVersion, '2025-07-01');
  });

  test('lists every version across pages with absolute nextLinks', async (t) => {
    const v = await vault(t, { versionsPageSize: 2 });
    const created = new Set<string>();
    for (let i = 0; i < 5; i++) created.add((await v.createKey('paged', { publish: false })).version);
    const listed = [];
    for await (const p of keyClient(v.vaultUri).listPropertiesOfKeyVersions('paged')) listed.push(p.version);
    assert.deepEqual(new Set(listed), created);
    assert.equal(listed.length, 5);
    assert.equal(v.requests.filter((r) => r.path === '/keys/paged/versions' && r.status === 200).length, 3);

    const first = await raw(`${v.vaultUri}keys/paged/versions?api-version=2025-07-01`, BEARER);
    assert.equal(first.body.value.length, 2);
    assert.ok(first.body.value.every((item: any) => item.key === undefined && /\/keys\/paged\/[0-9a-f]{32}$/.test(item.kid)));
    const next = new URL(first.body.nextLink);
    assert.equal(`${next.origin}/`, v.vaultUri);
    assert.ok(next.searchParams.get('$skiptoken'));
  });

  test('answers KeyNotFound for unknown and deleted keys, Forbidden when access is denied', async (t) => {
    const v = await vault(t);
    const client = keyClient(v.vaultUri);
    await assert.rejects(client.getKey('missing'), { name: 'RestError', statusCode: 404, code: 'KeyNotFound' });
    await v.createKey('gone', { publish: false });
    v.deleteKey('gone');
    await assert.rejects(client.getKey('gone'), { statusCode: 404, code: 'KeyNotFound' });

    await v.createKey('locked', { publish: false });
    v.denyAccess('locked');
    await assert.rejects(client.getKey('locked'), { name: 'RestError', statusCode: 403, code: 'Forbidden' });
    const denied = await raw(`${v.vaultUri}keys/locked?api-version=2025-07-01`, BEARER);
    assert.equal(denied.body.error.innererror.code, 'AccessDenied');
    v.denyAccess('locked', false);
    assert.equal((await client.getKey('locked')).name, 'locked');
  });

  test('rotate adds a version like the current one, which becomes the latest', async (t) => {
    const v = await vault(t);
    const client = keyClient(v.vaultUri);
    const original = await client.createRsaKey('rotating', { keySize: 3072, keyOps: ['wrapKey', 'unwrapKey'] });
    const rotated = await client.rotateKey('rotating');
    assert.notEqual(rotated.properties.version, original.properties.version);
    assert.match(rotated.properties.version ?? '', /^[0-9a-f]{32}$/);
    assert.deepEqual(rotated.keyOperations, ['wrapKey', 'unwrapKey']);
    assert.equal(rotated.key?.n?.length, 3072 / 8);
    assert.equal((await client.getKey('rotating')).properties.version, rotated.properties.version);

    const ec = await v.createKey('ec', { kty: 'EC', size: 384, publish: false });
    const ecKey = await client.getKey('ec');
    assert.equal(ecKey.key?.crv, 'P-384');
    assert.equal(ecKey.key?.x?.length, 48);
    assert.equal(ecKey.id, ec.kid);
  });

  test('delays each response by latencyMs', async (t) => {
    const v = await vault(t, { latencyMs: 120 });
    const started = Date.now();
    await raw(`${v.vaultUri}keys?api-version=2025-07-01`, BEARER);
    assert.ok(Date.now() - started >= 115);
  });
});

interface Delivery { headers: IncomingHttpHeaders; body: any }
async function webhook(t: TestContext, statuses: number[] = []): Promise<{ url: string; deliveries: Delivery[] }> {
  const deliveries: Delivery[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: JSON.parse(text) });
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/events`, deliveries };
}

describe('Event Grid system topic', () => {
  test('createRsaKey emits one KeyNewVersionCreated in Event Grid schema', async (t) => {
    const hook = await webhook(t);
    const v = await vault(t, { name: 'cmk-demo', eventWebhook: hook.url });
    const key = await keyClient(v.vaultUri).createRsaKey('cmk', { keySize: 2048 });
    await v.deliveriesSettled();

    assert.equal(hook.deliveries.length, 1);
    const { headers, body } = hook.deliveries[0]!;
    assert.equal(headers['aeg-event-type'], 'Notification');
    assert.match(headers['content-type'] ?? '', /^application\/json/);
    assert.ok(Array.isArray(body) && body.length === 1);
    const [event] = body;
    assert.match(event.id, /^[0-9a-f-]{36}$/);
    assert.equal(event.topic, v.armId);
    assert.equal(event.subject, 'cmk');
    assert.equal(event.eventType, 'Microsoft.KeyVault.KeyNewVersionCreated');
    assert.ok(!Number.isNaN(Date.parse(event.eventTime)));
    assert.equal(event.dataVersion, '1');
    assert.equal(event.metadataVersion, '1');
    assert.deepEqual(event.data, {
      Id: key.id, VaultName: 'cmk-demo', ObjectType: 'Key', ObjectName: 'cmk',
      Version: key.properties.version, NBF: null, EXP: null,
    });
  });

  test('emits CloudEvents 1.0 batches when configured, and expiry events on request', async (t) => {
    const hook = await webhook(t);
    const v = await vault(t, { eventWebhook: hook.url, eventSchema: 'CloudEventSchemaV1_0' });
    const expiresOn = new Date(Date.UTC(2030, 0, 1));
    const { version, kid } = await v.createKey('cmk', { expiresOn });
    await v.publish('KeyNearExpiry', 'cmk', version);
    await v.deliveriesSettled();

    assert.equal(hook.deliveries.length, 2);
    assert.match(hook.deliveries[0]!.headers['content-type'] ?? '', /^application\/cloudevents-batch\+json/);
    const types = hook.deliveries.map((d) => d.body[0].type).sort();
    assert.deepEqual(types, ['Microsoft.KeyVault.KeyNearExpiry', 'Microsoft.KeyVault.KeyNewVersionCreated']);
    const event = hook.deliveries[0]!.body[0];
    assert.equal(event.specversion, '1.0');
    assert.equal(event.source, v.armId);
    assert.equal(event.subject, 'cmk');
    assert.ok(!Number.isNaN(Date.parse(event.time)));
    assert.equal(event.data.Id, kid);
    assert.equal(event.data.EXP, expiresOn.getTime() / 1000);
  });

  test('retries a failed delivery, as Event Grid does', async (t) => {
    const hook = await webhook(t, [503, 500]);
    const v = await vault(t, { eventWebhook: hook.url, deliveryBackoffMs: 5 });
    await v.createKey('cmk');
    await v.deliveriesSettled();
    assert.deepEqual(hook.deliveries.map((d) => d.headers['aeg-delivery-count']), ['0', '1', '2']);
    assert.equal(new Set(hook.deliveries.map((d) => d.body[0].id)).size, 1);
    assert.equal(v.events[0]?.outcome, 'delivered');
  });
});
