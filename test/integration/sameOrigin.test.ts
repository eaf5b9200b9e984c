import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { startArmStandIn, type ArmStandIn } from '../../dev/armStandIn';
import { accountResource } from '../../dev/estate';
import { startKeyVaultStandIn } from '../../dev/keyVaultStandIn';
import { LOCAL_SUBSCRIPTION } from '../../dev/stack';
import { listenHttps, loopbackAgent } from '../../dev/tls';
import { ArmRoleGrants } from '../../shared/adapters/authorization';
import { CognitiveServicesAccountStore } from '../../shared/adapters/cognitiveServices';
import { KeyVaultKeyStore } from '../../shared/adapters/keyVault';
import { KeyVaultManagementDirectory } from '../../shared/adapters/keyVaultManagement';
import { ManagedHsmRoleGrants } from '../../shared/adapters/managedHsmRbac';
import { RefusedRequest } from '../../shared/adapters/sameOrigin';
import { DependencyError } from '../../shared/errors';

// A service that answers a list with a nextLink on another origin must not get the SDK to follow it: the other
// server (same certificate, so the SDK could reach it) hears nothing, and no token is even fetched for it.

const PRINCIPAL = '66666666-aaaa-4bbb-8ccc-000000000006';
const VAULT_ID = `/subscriptions/${LOCAL_SUBSCRIPTION}/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-home`;

/** Tokens that are already expired, so the SDK's authentication policy asks for one on every request it signs. */
class CountingCredential implements TokenCredential {
  tokens = 0;
  async getToken(): Promise<AccessToken> {
    this.tokens += 1;
    return { token: 'short-lived', expiresOnTimestamp: Date.now() };
  }
}

/** The other origin: a local HTTPS server that answers an empty list and remembers every request. */
async function elsewhere() {
  const heard: string[] = [];
  const server = await listenHttps((req, res) => {
    heard.push(`${req.method} ${req.url} ${req.headers.authorization ? 'with' : 'without'} a token`);
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"value":[]}');
  });
  return { ...server, heard, origin: server.url.replace(/\/$/, '') };
}

/** The refusal: not retryable, naming the other origin and nothing of the link's path or query. */
function refusedFor(origin: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof DependencyError, `a DependencyError, not ${String(e)}`);
    assert.equal(e.code, 'untrusted-url');
    assert.equal(e.retryable, false);
    assert.ok(e.message.includes(origin), e.message);
    // Named by what it was for: the adapter's operation comes first.
    assert.match(e.message, /^\S.*: refused to send a request to /);
    assert.ok(!(e instanceof RefusedRequest), 'the adapter named it');
    assert.doesNotMatch(e.message, /skiptoken|\?|api-version/i);
    return true;
  };
}

describe('every client calls only its own endpoint: a nextLink to another origin is refused before a token or a connection', () => {
  let other: Awaited<ReturnType<typeof elsewhere>>;
  before(async () => {
    other = await elsewhere();
  });
  after(() => other.close());

  it('KeyClient: listing key versions stops at the page that points elsewhere', async () => {
    const vault = await startKeyVaultStandIn({ name: 'kv-home', versionsPageSize: 1, nextLinkBase: other.url });
    try {
      await vault.createKey('cmk', { publish: false });
      await vault.createKey('cmk', { publish: false });
      const credential = new CountingCredential();
      const keys = new KeyVaultKeyStore({ credential, allowedHostSuffixes: ['127.0.0.1:*'], clientOptions: { disableChallengeResourceVerification: true, tlsOptions: { ca: vault.ca } } });
      await assert.rejects(keys.listVersions(vault.vaultUri, 'cmk'), refusedFor(other.origin));
      assert.deepEqual(other.heard, []);
      assert.equal(credential.tokens, vault.requests.filter((r) => r.authorized).length, 'a token for each request the vault received, none for the refused one');
    } finally {
      await vault.close();
    }
  });

  it('Managed HSM local RBAC: a role list pointing elsewhere is refused', async () => {
    const hsm = await startKeyVaultStandIn({ name: 'hsm-home', managedHsm: true, nextLinkBase: other.url });
    try {
      hsm.assignRole(PRINCIPAL, 'Managed HSM Crypto User', '/keys');
      const credential = new CountingCredential();
      const grants = new ManagedHsmRoleGrants({
        credential, isAllowedHost: () => true, clientOptions: { agent: loopbackAgent(hsm.ca), disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } },
      });
      await assert.rejects(grants.read(hsm.vaultUri, PRINCIPAL), refusedFor(other.origin));
      assert.deepEqual(other.heard, []);
      assert.equal(credential.tokens, hsm.requests.filter((r) => r.authorized).length);
    } finally {
      await hsm.close();
    }
  });

  describe('ARM: every list answers first with an empty page whose nextLink is on the other origin', () => {
    let arm: ArmStandIn;
    let credential: CountingCredential;
    const options = () => ({ credential, endpoint: arm.url, clientOptions: { tlsOptions: { ca: arm.ca }, retryOptions: { maxRetries: 0 } } });
    before(async () => {
      arm = await startArmStandIn({ throttle: false, emptyPages: true, nextLinkBase: other.url });
      arm.putAccount(accountResource({ name: 'aoai-home' }));
      arm.putVault({
        id: VAULT_ID, name: 'kv-home', type: 'Microsoft.KeyVault/vaults', location: 'eastus',
        properties: { tenantId: PRINCIPAL, sku: { family: 'A', name: 'standard' }, vaultUri: 'https://kv-home.vault.azure.net/', accessPolicies: [] },
      });
      arm.assignRole(PRINCIPAL, 'Key Vault Crypto User', VAULT_ID);
    });
    after(() => arm.close());

    const lists: Array<[string, () => Promise<unknown>]> = [
      ['the Cognitive Services client (accounts)', async () => {
        for await (const _ of new CognitiveServicesAccountStore({ ...options(), pollMs: 1, operationTimeoutMs: 1_000 }).listAccounts(LOCAL_SUBSCRIPTION)) break;
      }],
      ['the Key Vault management client (vaults)', () => new KeyVaultManagementDirectory({ ...options(), subscriptionIds: [LOCAL_SUBSCRIPTION] }).findVault('https://kv-home.vault.azure.net/')],
      ['the authorization client (role assignments)', () => new ArmRoleGrants(options()).read(VAULT_ID, PRINCIPAL)],
    ];
    for (const [client, list] of lists) {
      it(client, async () => {
        credential = new CountingCredential();
        const sent = arm.requests.length;
        await assert.rejects(list(), refusedFor(other.origin));
        assert.deepEqual(other.heard, []);
        assert.ok(arm.requests.length > sent, 'the first page came from ARM');
        assert.equal(credential.tokens, arm.requests.length - sent, 'a token for each request ARM received, none for the refused one');
      });
    }
  });
});
