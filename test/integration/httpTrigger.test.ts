import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { HttpFunctionOptions } from '@azure/functions';
import { compileRoutes, serveHttp } from '../../dev/httpTrigger';

describe("the dev host's HTTP trigger", () => {
  let server: Server;
  let base: string;
  const functionKey = 'test-key';
  const functions = new Map<string, HttpFunctionOptions>([
    // No authLevel: @azure/functions registers it as anonymous, and so the Functions host serves it without a key.
    ['health', { route: 'health', methods: ['GET'], handler: async () => ({ status: 200, jsonBody: { ok: true } }) }],
    ['secret', { route: 'secret', methods: ['GET'], authLevel: 'function', handler: async () => ({ status: 200, jsonBody: { ok: true } }) }],
  ]);
  before(async () => {
    const routes = compileRoutes(functions);
    server = createServer((req, res) => void serveHttp(req, res, new URL(req.url ?? '/', 'http://localhost'), routes, functionKey, () => () => undefined));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('treats a route registered without authLevel as anonymous, as @azure/functions registers it', async () => {
    assert.equal((await fetch(`${base}/api/health`)).status, 200);
  });

  it('asks for the function key on an authLevel function route', async () => {
    assert.equal((await fetch(`${base}/api/secret`)).status, 401);
    assert.equal((await fetch(`${base}/api/secret`, { headers: { 'x-functions-key': functionKey } })).status, 200);
    assert.equal((await fetch(`${base}/api/secret?code=${functionKey}`)).status, 200);
  });
});
