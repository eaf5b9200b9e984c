import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, test } from 'node:test';
import type { KeyClient, KeyRotationPolicyProperties } from '@azure/keyvault-keys';
import type { KeyVaultStandIn } from '../../dev/keyVaultStandIn';
import { listenHttps } from '../../dev/tls';
import { fixtureFiles, fixturesDir, readFixture } from '../support/fixtures';
import { keyClient, vault } from '../support/keyVaultTestKit';
import { shapeOf, type Shape } from '../support/shape';

// Contract against the recorded service responses; behaviour is in keyVaultStandIn.test.ts, events in
// keyVaultStandIn.events.test.ts.

// The spec examples were recorded before api 7.1 added recoverableDays; the live service sends it.
const NEWER_THAN_FIXTURES = new Set(['recoverableDays']);
/** Arrays are their distinct element shapes: a page of the stand-in need not hold as many items as the example's. */
const shape = (value: unknown): Shape => shapeOf(value, { arrays: 'distinct', ignoreKeys: NEWER_THAN_FIXTURES });

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
      const standInClient = keyClient(standIn.vaultUri, standIn.ca, bodies);
      const name = (fx.parameters['key-name'] as string | undefined) ?? 'first-key';

      const expected = await scenario.run(keyClient(recorded.url, recorded.ca), { name, version: fx.parameters['key-version'] }, fx);
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
