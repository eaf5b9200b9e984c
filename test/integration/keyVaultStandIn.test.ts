import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { describe, test } from 'node:test';
import { localCa } from '../../dev/tls';
import { keyClient, vault } from '../support/keyVaultTestKit';

// Behaviour of the Key Vault stand-in; its contract is in keyVaultStandIn.contract.test.ts, its Event Grid
// deliveries in keyVaultStandIn.events.test.ts.

interface RawResponse { status: number; headers: IncomingHttpHeaders; body: any }
async function raw(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  const ca = await localCa();
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, ca }, (res) => {
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
    const key = await keyClient(v.vaultUri, v.ca).getKey('k1');
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
    await keyClient(v.vaultUri, v.ca).getKey('k1');
    assert.equal(v.requests.at(-1)?.apiVersion, '2025-07-01');
  });

  test('lists every version across pages with absolute nextLinks', async (t) => {
    const v = await vault(t, { versionsPageSize: 2 });
    const created = new Set<string>();
    for (let i = 0; i < 5; i++) created.add((await v.createKey('paged', { publish: false })).version);
    const listed = [];
    for await (const p of keyClient(v.vaultUri, v.ca).listPropertiesOfKeyVersions('paged')) listed.push(p.version);
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
    const client = keyClient(v.vaultUri, v.ca);
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
    const client = keyClient(v.vaultUri, v.ca);
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

  test('as recorded: the versions of a key that does not exist are 200 with an empty list; the key itself is 404', async (t) => {
    const v = await vault(t);
    const listed = await raw(`${v.vaultUri}keys/never/versions?api-version=2025-07-01`, BEARER);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body, { value: [], nextLink: null });
    const versions = [];
    for await (const p of keyClient(v.vaultUri, v.ca).listPropertiesOfKeyVersions('never')) versions.push(p);
    assert.deepEqual(versions, []);
    assert.equal((await raw(`${v.vaultUri}keys/never/?api-version=2025-07-01`, BEARER)).status, 404);
  });

  test('versions made in the same second share created; the current version is the last made, whatever the listing order', async (t) => {
    const second = new Date('2026-03-01T10:00:00.250Z');
    const v = await vault(t, { now: () => second });
    const made: string[] = [];
    for (let i = 0; i < 6; i++) made.push((await v.createKey('tied', { publish: false })).version);
    const client = keyClient(v.vaultUri, v.ca);
    const listed = [];
    for await (const p of client.listPropertiesOfKeyVersions('tied')) listed.push(p);
    assert.deepEqual(new Set(listed.map((p) => p.createdOn?.toISOString())), new Set(['2026-03-01T10:00:00.000Z']));
    assert.deepEqual(listed.map((p) => p.version), [...made].sort(), 'the listing is ordered by version id, not by creation');
    assert.equal((await client.getKey('tied')).properties.version, made.at(-1));
  });

  test('emptyPages: every page with items comes after an empty page that carries nextLink; the SDK still reads all', async (t) => {
    const v = await vault(t, { versionsPageSize: 2, emptyPages: true });
    for (let i = 0; i < 3; i++) await v.createKey('gappy', { publish: false });
    const first = await raw(`${v.vaultUri}keys/gappy/versions?api-version=2025-07-01`, BEARER);
    assert.deepEqual(first.body.value, []);
    assert.ok(first.body.nextLink);
    const versions = [];
    for await (const p of keyClient(v.vaultUri, v.ca).listPropertiesOfKeyVersions('gappy')) versions.push(p.version);
    assert.equal(versions.length, 3);
  });

  test("nextLinkBase: a list's nextLink (and a Managed HSM role list's) points at another base URL", async (t) => {
    const v = await vault(t, { versionsPageSize: 1, nextLinkBase: 'https://elsewhere.example:8443/' });
    for (let i = 0; i < 2; i++) await v.createKey('k1', { publish: false });
    const next = new URL((await raw(`${v.vaultUri}keys/k1/versions?api-version=2025-07-01`, BEARER)).body.nextLink);
    assert.deepEqual([next.origin, next.pathname], ['https://elsewhere.example:8443', '/keys/k1/versions']);
    const hsm = await vault(t, { name: 'hsm-links', managedHsm: true, nextLinkBase: 'https://elsewhere.example:8443/' });
    const roles = await raw(`https://127.0.0.1:${new URL(hsm.vaultUri).port}/providers/Microsoft.Authorization/roleDefinitions?api-version=7.5`, BEARER);
    assert.equal(roles.body.nextLink, 'https://elsewhere.example:8443/providers/Microsoft.Authorization/roleDefinitions?api-version=7.5');
  });

  test('faults: injected errors answer in the Key Vault shape, resets drop the connection, both are counted', async (t) => {
    const v = await vault(t);
    await v.createKey('k1', { publish: false });
    v.fail({ method: 'GET', path: /\/keys\/k1/, status: 429, retryAfterMs: 1500 });
    v.fail({ method: 'GET', path: /\/keys\/k1/, reset: true });
    const throttled = await raw(`${v.vaultUri}keys/k1?api-version=2025-07-01`, BEARER);
    assert.equal(throttled.status, 429);
    assert.equal(throttled.body.error.code, 'TooManyRequests');
    assert.equal(throttled.headers['retry-after'], '2');
    await assert.rejects(raw(`${v.vaultUri}keys/k1?api-version=2025-07-01`, BEARER));
    assert.equal((await raw(`${v.vaultUri}keys/k1?api-version=2025-07-01`, BEARER)).status, 200);
    assert.deepEqual([...v.faultHits], [['429', 1], ['reset', 1]]);
  });

  test('delays each response by latencyMs', async (t) => {
    const v = await vault(t, { latencyMs: 120 });
    const started = Date.now();
    await raw(`${v.vaultUri}keys?api-version=2025-07-01`, BEARER);
    assert.ok(Date.now() - started >= 115);
  });
});
