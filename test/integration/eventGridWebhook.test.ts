import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { serveEventGrid } from '../../dev/eventGridWebhook';

describe("the dev host's Event Grid webhook, as the Functions host's Event Grid extension answers", () => {
  let server: Server;
  let hook: string;
  let invoked: unknown[] = [];
  before(async () => {
    const functions = { keyVaultEvents: async (event: unknown) => void invoked.push(event) };
    server = createServer((req, res) => void serveEventGrid(req, res, new URL(req.url ?? '/', 'http://localhost'), functions, () => () => undefined));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/runtime/webhooks/eventgrid?functionName=keyVaultEvents`;
  });
  beforeEach(() => {
    invoked = [];
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const event = { id: 'e1', source: '/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v', type: 'Microsoft.KeyVault.KeyNewVersionCreated', specversion: '1.0', data: {} };

  it('answers a notification whose body does not parse with 500 (Event Grid sends it again), not 400 (dead-lettered at once)', async () => {
    const res = await fetch(hook, { method: 'POST', headers: { 'aeg-event-type': 'Notification' }, body: '{' });
    assert.equal(res.status, 500);
    assert.deepEqual(invoked, []);
  });

  it('refuses a POST without aeg-event-type (400) whatever its content type, running nothing', async () => {
    const res = await fetch(hook, { method: 'POST', headers: { 'Content-Type': 'application/cloudevents-batch+json; charset=utf-8' }, body: JSON.stringify([event]) });
    assert.equal(res.status, 400);
    assert.deepEqual(invoked, []);
  });

  it('runs each event of a CloudEvents notification and answers 202', async () => {
    const res = await fetch(hook, {
      method: 'POST',
      headers: { 'Content-Type': 'application/cloudevents-batch+json; charset=utf-8', 'aeg-event-type': 'Notification' },
      body: JSON.stringify([event]),
    });
    assert.equal(res.status, 202);
    assert.deepEqual(invoked, [event]);
  });
});
