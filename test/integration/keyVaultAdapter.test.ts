import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHttpHeaders, type PipelinePolicy } from '@azure/core-rest-pipeline';
import { localCredential } from '../../dev/credential';
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../../dev/keyVaultStandIn';
import { KeyVaultKeyStore } from '../../shared/adapters/keyVault';
import { DependencyError, VaultNotAllowedError } from '../../shared/errors';
import { newestUsableVersion } from '../../shared/usecases/keyVersions';

describe('KeyVaultKeyStore: the real KeyClient against the Key Vault stand-in', () => {
  let vault: KeyVaultStandIn;
  let keys: KeyVaultKeyStore;

  before(async () => {
    vault = await startKeyVaultStandIn({ name: 'kv-adapter', versionsPageSize: 2 });
    keys = new KeyVaultKeyStore({
      credential: localCredential,
      allowedHostSuffixes: ['127.0.0.1:*'],
      clientOptions: { disableChallengeResourceVerification: true, tlsOptions: { ca: vault.ca }, retryOptions: { maxRetries: 0 } },
    });
  });
  after(() => vault.close());

  it('reads a version: type, size from the modulus, operations, dates, recovery level', async () => {
    const exp = new Date('2027-01-01T00:00:00Z');
    const { version } = await vault.createKey('rsa4k', { kty: 'RSA-HSM', size: 4096, expiresOn: exp, publish: false });
    const key = await keys.getKeyVersion(vault.vaultUri, 'rsa4k', version);
    assert.equal(key?.version, version);
    assert.equal(key?.kty, 'RSA-HSM');
    assert.equal(key?.keySize, 4096);
    assert.ok(key?.keyOps.includes('wrapKey') && key.keyOps.includes('unwrapKey'));
    assert.equal(key?.expiresOn?.toISOString(), exp.toISOString());
    assert.ok(key?.createdOn instanceof Date);
    assert.equal(key?.recoveryLevel, 'Recoverable');
  });

  it('reads the latest version without a version, and undefined for a missing key or version', async () => {
    await vault.createKey('latest', { publish: false, createdOn: new Date('2026-01-01T00:00:00Z') });
    const { version: newest } = await vault.createKey('latest', { publish: false, createdOn: new Date('2026-02-01T00:00:00Z') });
    assert.equal((await keys.getKeyVersion(vault.vaultUri, 'latest'))?.version, newest);
    assert.equal(await keys.getKeyVersion(vault.vaultUri, 'no-such-key'), undefined);
    assert.equal(await keys.getKeyVersion(vault.vaultUri, 'latest', 'f'.repeat(32)), undefined);
  });

  it('lists every version across pages', async () => {
    for (let i = 0; i < 5; i++) await vault.createKey('paged', { publish: false });
    assert.equal((await keys.listVersions(vault.vaultUri, 'paged')).length, 5);
    assert.deepEqual(await keys.listVersions(vault.vaultUri, 'no-such-key'), []);
  });

  it('finds the newest usable version, passing over newer disabled and 4096-bit ones', async () => {
    const { version: good } = await vault.createKey('pick', { publish: false, createdOn: new Date('2026-01-01T00:00:00Z') });
    await vault.createKey('pick', { publish: false, size: 4096, createdOn: new Date('2026-02-01T00:00:00Z') });
    await vault.createKey('pick', { publish: false, enabled: false, createdOn: new Date('2026-03-01T00:00:00Z') });
    const found = await newestUsableVersion(keys, vault.vaultUri, 'pick', { allowedKeySizes: [2048], expiryMarginMs: 0 }, new Date('2026-06-01T00:00:00Z'));
    assert.equal(found.version?.version, good);
  });

  it('reads when a version was created once per process: it never changes', async () => {
    const { version } = await vault.createKey('aged', { publish: false, createdOn: new Date('2026-01-01T00:00:07Z') });
    const before = vault.requests.length;
    assert.equal((await keys.versionCreatedOn(vault.vaultUri, 'aged', version))?.toISOString(), '2026-01-01T00:00:07.000Z');
    assert.equal((await keys.versionCreatedOn(vault.vaultUri, 'aged', version))?.toISOString(), '2026-01-01T00:00:07.000Z');
    assert.equal(vault.requests.length - before, 1);
  });

  it('turns 403 into a DependencyError that is not retried', async () => {
    const { version } = await vault.createKey('denied', { publish: false });
    vault.denyAccess('denied');
    await assert.rejects(keys.getKeyVersion(vault.vaultUri, 'denied', version), (e: unknown) => {
      assert.ok(e instanceof DependencyError);
      assert.equal(e.statusCode, 403);
      assert.equal(e.retryable, false);
      return true;
    });
  });

  it('rotates once when the answer is lost after Key Vault made the version; sends again only when it made none', async () => {
    // The SDK's retries on, as in production: they would send the lost rotation again.
    const retried = new KeyVaultKeyStore({
      credential: localCredential,
      allowedHostSuffixes: ['127.0.0.1:*'],
      clientOptions: { disableChallengeResourceVerification: true, tlsOptions: { ca: vault.ca }, retryOptions: { maxRetries: 3, retryDelayInMs: 1, maxRetryDelayInMs: 4 } },
    });
    await vault.createKey('rot', { publish: false });
    const rotate = /\/keys\/rot\/rotate$/;
    const versions = async () => (await retried.listVersions(vault.vaultUri, 'rot')).length;
    const current = async () => (await retried.getKeyVersion(vault.vaultUri, 'rot'))?.version;
    const sends = () => vault.requests.filter((r) => r.authorized && r.method === 'POST' && rotate.test(r.path)).map((r) => r.status);

    vault.fail({ method: 'POST', path: rotate, status: 503, afterService: true });
    const afterLost503 = await retried.rotateKey(vault.vaultUri, 'rot');
    assert.deepEqual([await versions(), afterLost503.version], [2, await current()], 'one new version, and it is the one returned');
    vault.fail({ method: 'POST', path: rotate, reset: true, afterService: true });
    const afterReset = await retried.rotateKey(vault.vaultUri, 'rot');
    assert.deepEqual([await versions(), afterReset.version], [3, await current()]);
    assert.deepEqual(sends(), [503, 0], 'neither lost rotation was sent again');

    vault.fail({ method: 'POST', path: rotate, status: 503 });
    await retried.rotateKey(vault.vaultUri, 'rot');
    assert.deepEqual([await versions(), sends().slice(2)], [4, [503, 200]], 'refused before Key Vault acted: sent again, one version');

    vault.fail({ method: 'POST', path: rotate, status: 503, times: Infinity });
    await assert.rejects(retried.rotateKey(vault.vaultUri, 'rot'), (e: unknown) => e instanceof DependencyError && e.retryable && e.statusCode === 503);
    vault.clearFaults();
    assert.deepEqual([await versions(), sends().slice(4)], [4, [503, 503, 503]], 'three sends at most, and no version');

    // The rotation was made, and the key cannot be read to tell: the error says so, and nothing is sent again.
    vault.fail({ method: 'POST', path: rotate, status: 503, afterService: true });
    vault.fail({ method: 'GET', path: /\/keys\/rot\/?$/, status: 503, after: 1, times: Infinity });
    await assert.rejects(retried.rotateKey(vault.vaultUri, 'rot'), (e: unknown) => e instanceof DependencyError && e.retryable && /whether Key Vault made the version could not be read/.test(e.message));
    vault.clearFaults();
    assert.deepEqual([await versions(), sends().slice(7)], [5, [503]]);
  });

  it('waits before it looks whether a rotation answered 504 was made: Key Vault may make it after the answer', async () => {
    // Between the service and the client: the first rotation is answered 504 at once and reaches the vault 50 ms later.
    let late = 1;
    let arrived!: () => void;
    const lateArrived = new Promise<void>((resolve) => (arrived = resolve));
    const lateCommit: PipelinePolicy = {
      name: 'lateCommit',
      sendRequest: async (request, next) => {
        if (request.method !== 'POST' || !request.url.includes('/rotate') || !request.headers.has('authorization') || late-- <= 0) return next(request);
        setTimeout(() => void next(request).then(arrived, arrived), 50);
        return { request, status: 504, headers: createHttpHeaders(), bodyAsText: '{"error":{"code":"GatewayTimeout","message":"The gateway timed out."}}' };
      },
    };
    const keysLate = new KeyVaultKeyStore({
      credential: localCredential,
      allowedHostSuffixes: ['127.0.0.1:*'],
      clientOptions: {
        disableChallengeResourceVerification: true, tlsOptions: { ca: vault.ca },
        retryOptions: { maxRetries: 3, retryDelayInMs: 200, maxRetryDelayInMs: 400 }, additionalPolicies: [{ policy: lateCommit, position: 'perRetry' }],
      },
    });
    await vault.createKey('late', { publish: false });
    const rotated = await keysLate.rotateKey(vault.vaultUri, 'late');
    await lateArrived;
    const versions = await keysLate.listVersions(vault.vaultUri, 'late');
    assert.deepEqual([versions.length, rotated.version], [2, (await keysLate.getKeyVersion(vault.vaultUri, 'late'))?.version]);
  });

  it('never calls a vault outside the allowed host suffixes', async () => {
    const before = vault.requests.length;
    await assert.rejects(keys.getKeyVersion(vault.vaultUri.replace('127.0.0.1', 'localhost'), 'cmk'), VaultNotAllowedError);
    await assert.rejects(keys.getKeyVersion('https://evil.example.net/', 'cmk'), VaultNotAllowedError);
    assert.equal(vault.requests.length, before);
    assert.equal(keys.isAllowedVault('https://kv.vault.azure.net/'), false);
    const prod = new KeyVaultKeyStore({ credential: localCredential, allowedHostSuffixes: ['.vault.azure.net'] });
    assert.equal(prod.isAllowedVault('https://kv.vault.azure.net/'), true);
    assert.equal(prod.isAllowedVault('https://kv.vault.azure.net.evil.com/'), false);
    assert.equal(prod.isAllowedVault('http://kv.vault.azure.net/'), false);
    // Scheme, host and port: a vault name on another port is not the vault.
    assert.equal(prod.isAllowedVault('https://kv.vault.azure.net:8443/'), false);
    assert.equal(prod.isAllowedVault('https://kv.vault.azure.net:443/'), true, ':443 is the default port');
    assert.equal(prod.isAllowedVault('https://user:pw@kv.vault.azure.net/'), false);
    const pinned = new KeyVaultKeyStore({ credential: localCredential, allowedHostSuffixes: ['127.0.0.1:8443'] });
    assert.equal(pinned.isAllowedVault('https://127.0.0.1:8443/'), true);
    assert.equal(pinned.isAllowedVault('https://127.0.0.1:8444/'), false);
  });
});
