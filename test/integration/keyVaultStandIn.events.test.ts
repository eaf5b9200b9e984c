import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { KeyClient } from '@azure/keyvault-keys';
import { localCredential } from '../../dev/credential';
import { keyClient, vault } from '../support/keyVaultTestKit';

// The Key Vault stand-in's Event Grid system topic, delivered to a local webhook.

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
    const key = await keyClient(v.vaultUri, v.ca).createRsaKey('cmk', { keySize: 2048 });
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
  test('counts only 200-204 as delivered, and gives up at once on 400, 403 and 413 (DESIGN §9)', async (t) => {
    const partial = await webhook(t, [205, 204]);
    const v = await vault(t, { eventWebhook: partial.url, deliveryBackoffMs: 5 });
    await v.createKey('cmk');
    await v.deliveriesSettled();
    assert.deepEqual(partial.deliveries.map((d) => d.headers['aeg-delivery-count']), ['0', '1'], 'a 205 is tried again');
    assert.equal(v.events[0]?.outcome, 'delivered');
    for (const status of [400, 403, 413]) {
      const refusing = await webhook(t, [status, 200]);
      const w = await vault(t, { eventWebhook: refusing.url, deliveryBackoffMs: 5 });
      await w.createKey('cmk');
      await w.deliveriesSettled();
      assert.equal(refusing.deliveries.length, 1, `${status}: not retried`);
      assert.deepEqual([w.events[0]?.outcome, w.events[0]?.lastStatus], ['failed', status]);
    }
  });
  test('afterService faults: the vault rotates, the answer is lost (503 or a dropped connection), the version and its event stay', async (t) => {
    const hook = await webhook(t);
    const v = await vault(t, { name: 'cmk-lost', eventWebhook: hook.url });
    // Without the SDK's retries, which would send the rotation again.
    const client = new KeyClient(v.vaultUri, localCredential, { disableChallengeResourceVerification: true, tlsOptions: { ca: v.ca }, retryOptions: { maxRetries: 0 } });
    await client.createRsaKey('cmk', { keySize: 2048 });
    v.fail({ method: 'POST', path: /\/keys\/cmk\/rotate$/, status: 503, afterService: true });
    await assert.rejects(client.rotateKey('cmk'), (e: { statusCode?: number }) => e.statusCode === 503);
    v.fail({ method: 'POST', path: /\/keys\/cmk\/rotate$/, reset: true, afterService: true });
    await assert.rejects(client.rotateKey('cmk'), (e: { statusCode?: number }) => e.statusCode === undefined);
    const versions = [];
    for await (const p of client.listPropertiesOfKeyVersions('cmk')) versions.push(p.version);
    assert.equal(versions.length, 3, 'both rotations were made');
    await v.deliveriesSettled();
    assert.deepEqual(hook.deliveries.map((d) => d.body[0].eventType), Array(3).fill('Microsoft.KeyVault.KeyNewVersionCreated'));
    assert.deepEqual([...v.faultHits], [['503', 1], ['reset', 1]]);
    assert.deepEqual(v.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/rotate')).map((r) => r.status), [503, 0]);
  });
});
