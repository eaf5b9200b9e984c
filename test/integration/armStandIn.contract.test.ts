import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { test } from 'node:test';
import type { ArmStandIn, ArmStandInOptions } from '../../dev/armStandIn';
import { listenHttps } from '../../dev/tls';
import { authClient, cmkAccount, collect, csClient, fast, kvClient, withStandIn, type Example, type Server } from '../support/armTestKit';
import { fixtureFiles, fixturesDir, readFixture } from '../support/fixtures';
import { shapeOf } from '../support/shape';

// Contract against the REST examples: the SDK must read the stand-in's answers as it reads the service's.

interface Contract {
  /** The example response the SDK's final result is compared with. */
  status: string;
  /** The example answer has no body (a DELETE's 204). */
  bodiless?: boolean;
  /** The stand-in's knobs for the answer the example shows. */
  options?: ArmStandInOptions;
  seed(standIn: ArmStandIn, body: any): void;
  call(server: Server, p: Record<string, any>): Promise<unknown>;
}

const seedOne = (standIn: ArmStandIn, body: object): void => standIn.putAccount(body);
const seedList = (standIn: ArmStandIn, body: { value: object[] }): void =>
  body.value.forEach((account) => standIn.putAccount(account));
/** A scope's parent account, with the id the example's scope names. */
const seedParent = (standIn: ArmStandIn, scopeId: string): void =>
  standIn.putAccount({ ...cmkAccount('rg', 'parent'), id: scopeId.replace(/\/encryptionScopes\/[^/]+$/i, '') });
const scopeIdOf = (p: Record<string, any>): string =>
  `/subscriptions/${p['subscriptionId']}/resourceGroups/${p['resourceGroupName']}/providers/Microsoft.CognitiveServices/accounts/${p['accountName']}/encryptionScopes/${p['encryptionScopeName'] ?? 'encryptionScopeName'}`;
const scopes = (server: Server, p: Record<string, any>) => csClient(server, p['subscriptionId']).encryptionScopes;
const contracts: Record<string, Contract> = {
  EncryptionScopes_Get: {
    status: '200', seed: (standIn, body) => { seedParent(standIn, body.id); standIn.putScope(body); },
    call: (server, p) => scopes(server, p).get(p['resourceGroupName'], p['accountName'], p['encryptionScopeName']),
  },
  EncryptionScopes_List: {
    status: '200',
    seed: (standIn, body) => { seedParent(standIn, body.value[0].id); body.value.forEach((scope: object) => standIn.putScope(scope)); },
    call: (server, p) => collect(scopes(server, p).list(p['resourceGroupName'], p['accountName'])),
  },
  // A PUT of a new scope answers 201, so the 201 example is the one to match.
  EncryptionScopes_CreateOrUpdate: {
    status: '201', seed: () => undefined,
    call: async (server, p) => {
      if ('putScope' in server) seedParent(server as ArmStandIn, scopeIdOf(p));
      return scopes(server, p).createOrUpdate(p['resourceGroupName'], p['accountName'], p['encryptionScopeName'], p['encryptionScope']);
    },
  },
  // DELETE's 204; its 202 (the stand-in's default) is checked in scopeStandIn.test.ts.
  EncryptionScopes_Delete: {
    status: '204', bodiless: true, options: { scopeDeleteAnswer: 'sync' }, seed: () => undefined,
    call: async (server, p) => {
      if ('putScope' in server) {
        seedParent(server as ArmStandIn, scopeIdOf(p));
        (server as ArmStandIn).putScope({ id: scopeIdOf(p), name: p['encryptionScopeName'], properties: { keySource: 'Microsoft.CognitiveServices', state: 'Enabled' } });
      }
      return scopes(server, p).beginDeleteAndWait(p['resourceGroupName'], p['accountName'], p['encryptionScopeName'], fast);
    },
  },
  Accounts_Get: {
    status: '200', seed: seedOne,
    call: (server, p) => csClient(server, p['subscriptionId']).accounts.get(p['resourceGroupName'], p['accountName']),
  },
  Accounts_List: {
    status: '200', seed: seedList, call: (server, p) => collect(csClient(server, p['subscriptionId']).accounts.list()),
  },
  Accounts_ListByResourceGroup: {
    status: '200', seed: seedList,
    call: (server, p) => collect(csClient(server, p['subscriptionId']).accounts.listByResourceGroup(p['resourceGroupName'])),
  },
  // The final result of an update is the 200 body; the 202 body is only the first answer.
  Accounts_Update: {
    status: '200', seed: seedOne,
    call: (server, p) => csClient(server, p['subscriptionId'])
      .accounts.beginUpdateAndWait(p['resourceGroupName'], p['accountName'], p['account'], fast),
  },
  // A PUT of a new account answers 201, so the 201 example is the one to match.
  Accounts_Create: {
    status: '201', seed: () => undefined,
    call: (server, p) => csClient(server, p['subscriptionId'])
      .accounts.beginCreateAndWait(p['resourceGroupName'], p['accountName'], p['account'], fast),
  },
  Vaults_Get: {
    status: '200', seed: (standIn, body) => standIn.putVault(body),
    call: (server, p) => kvClient(server, p['subscriptionId']).vaults.get(p['resourceGroupName'], p['vaultName']),
  },
  ManagedHsms_Get: {
    status: '200', seed: (standIn, body) => standIn.putManagedHsm(body),
    call: (server, p) => kvClient(server, p['subscriptionId']).managedHsms.get(p['resourceGroupName'], p['name']),
  },
  // The first page only: the example's nextLink points at management.azure.com, which a test must never call.
  ManagedHsms_ListBySubscription: {
    status: '200', seed: (standIn, body) => body.value.forEach((hsm: object) => standIn.putManagedHsm(hsm)),
    call: async (server, p) => (await kvClient(server, p['subscriptionId']).managedHsms.listBySubscription().byPage().next()).value,
  },
  RoleAssignments_ListForScope: {
    status: '200', seed: (standIn, body) => body.value.forEach((a: object) => standIn.putRoleAssignment(a)),
    call: (server, p) => collect(authClient(server).roleAssignments.listForScope(p['scope'])),
  },
  RoleAssignments_ListForResourceGroup: {
    status: '200', seed: (standIn, body) => body.value.forEach((a: object) => standIn.putRoleAssignment(a)),
    call: (server, p) => collect(authClient(server, p['subscriptionId']).roleAssignments.listForResourceGroup(p['resourceGroupName'])),
  },
  // The example's roleId is a placeholder, not a path: the id of the definition it answers is asked for instead.
  RoleDefinitions_GetById: {
    status: '200', seed: (standIn, body) => standIn.putRoleDefinition(body),
    call: (server) => authClient(server).roleDefinitions.getById('subscriptions/subID/providers/Microsoft.Authorization/roleDefinitions/roleDefinitionId'),
  },
  RoleDefinitions_Get: {
    status: '200', seed: (standIn, body) => standIn.putRoleDefinition(body),
    call: (server, p) => authClient(server).roleDefinitions.get(p['scope'], p['roleDefinitionId']),
  },
};
// Older examples carry no operationId.
const operationByFile: Record<string, string> = {
  'CreateAccount.json': 'Accounts_Create', 'CreateAccountMin.json': 'Accounts_Create', 'GetAccount.json': 'Accounts_Get',
  'ListAccountsByResourceGroup.json': 'Accounts_ListByResourceGroup', 'getVault.json': 'Vaults_Get',
  'ListAccountsBySubscription.json': 'Accounts_List', 'UpdateAccount.json': 'Accounts_Update',
  'ListEncryptionScopes.json': 'EncryptionScopes_List',
  'RoleAssignments_ListForScope.json': 'RoleAssignments_ListForScope', 'GetRoleDefinitionById.json': 'RoleDefinitions_GetById',
  'GetRoleDefinitionByName.json': 'RoleDefinitions_Get',
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
    .filter((folder) => /^(cognitiveservices|keyvault-mgmt|authorization)-/.test(folder))
    .flatMap((folder) => fixtureFiles(folder))
    .map((file) => ({ file, example: readFixture<Example>(file) }))
    .filter(({ example }) => example.responses !== undefined);
  const covered: string[] = [];
  for (const { file, example } of examples) {
    const operation = example.operationId ?? operationByFile[basename(file)];
    assert.ok(operation, `${file}: unknown operation; map it in operationByFile`);
    const contract = contracts[operation];
    // Only examples of operations the stand-in serves are vendored; a new one needs its contract here.
    assert.ok(contract, `${file}: the stand-in has no contract for ${operation}`);
    await t.test(`${file} (${operation})`, async () => {
      const answer = example.responses?.[contract.status] ?? example.responses?.['200'];
      assert.ok(answer?.body || contract.bodiless, `${file} has a response body`);
      const p = example.parameters;
      const server = await exampleServer(contract.status, answer?.body);
      try {
        const expected = await contract.call(server, p);
        await withStandIn(contract.options ?? {}, async (standIn) => {
          contract.seed(standIn, structuredClone(answer?.body));
          const actual = await contract.call(standIn, p);
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
    const account = await csClient(standIn).accounts.get('rg', 'plain');
    assert.equal(account.properties?.provisioningState, 'Succeeded');
    assert.equal(account.properties?.encryption, undefined);
  });
});
