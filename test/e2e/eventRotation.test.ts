import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KeyClient } from '@azure/keyvault-keys';
import { localCredential } from '../../dev/credential';
import { seedDemoEstate } from '../../dev/estate';
import type { KeyVaultStandIn } from '../../dev/keyVaultStandIn';
import { startLocalStack, type LocalStack } from '../../dev/stack';
import { readFixture } from '../support/fixtures';
import { boundScenario, postEvents, readAccounts, versionsOf } from '../support/localStack';

describe('Key Vault events through the dev host (Azurite, stand-ins over HTTPS)', () => {
  let stack: LocalStack;
  let vault: KeyVaultStandIn;

  before(async () => {
    stack = await startLocalStack();
    vault = await stack.addVault({ name: 'kv-e2e' });
  });
  after(() => stack.stop());

  const patches = (ids: string[]) => ids.map((id) => stack.arm.patchCount(id));

  it('the demo scenario: a rotated key reaches the three bound accounts and nothing else', async () => {
    const estate = await seedDemoEstate(vault, stack.arm);
    const untouchedBefore = estate.untouched.map((id) => stack.arm.account(id));
    const client = new KeyClient(vault.vaultUri, localCredential, { disableChallengeResourceVerification: true, tlsOptions: { ca: vault.ca } });
    const v2 = (await client.rotateKey('cmk')).properties.version;
    await stack.settle();

    const bound = await readAccounts(stack, estate.bound);
    assert.deepEqual(versionsOf(bound), [v2, v2, v2]);
    assert.deepEqual(bound.map((a) => a?.provisioningState), ['Succeeded', 'Succeeded', 'Succeeded']);
    assert.deepEqual(patches(estate.bound), [1, 1, 1]);
    assert.deepEqual(estate.untouched.map((id) => stack.arm.account(id)), untouchedBefore);
    assert.deepEqual(patches(estate.untouched), [0, 0]);

    for (const id of estate.bound) {
      const [row, ...older] = await stack.services.ledger.history(id, 10);
      assert.equal(older.length, 0);
      assert.equal(row?.status, 'succeeded');
      assert.equal(row?.trigger, 'event');
      assert.equal(row?.eventType, 'Microsoft.KeyVault.KeyNewVersionCreated');
      assert.equal(row?.fromVersion, estate.cmkV1);
      assert.equal(row?.toVersion, v2);
    }
  });

  it('the same event delivered twice, then in a batch of three copies, is one job per account: one PATCH, one row', async () => {
    const { ids } = await boundScenario(stack, vault, 'cmk-dup', ['aoai-dup-1', 'aoai-dup-2']);
    const { version: v2 } = await vault.createKey('cmk-dup', { publish: false });
    await vault.publish('KeyNewVersionCreated', 'cmk-dup', v2);
    const event = vault.events.at(-1)?.event;
    assert.equal((event as { data?: { Version?: string } } | undefined)?.data?.Version, v2);
    assert.equal((await postEvents(stack, [event])).status, 202);
    assert.equal((await postEvents(stack, [event, event, event])).status, 202);
    await stack.settle();

    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v2, v2]);
    assert.deepEqual(patches(ids), [1, 1]);
    for (const id of ids) {
      const rows = await stack.services.ledger.history(id, 20);
      assert.deepEqual(rows.map((r) => r.status), ['succeeded'], 'five deliveries of one event name the same job');
    }
  });

  it("an older version's event after a newer one does not downgrade", async () => {
    const { ids } = await boundScenario(stack, vault, 'cmk-order', ['aoai-order']);
    const { version: v2 } = await vault.createKey('cmk-order', { publish: false, createdOn: new Date(Date.now() - 3_600_000) });
    const { version: v3 } = await vault.createKey('cmk-order', { publish: false });
    await vault.publish('KeyNewVersionCreated', 'cmk-order', v3);
    await stack.settle();
    await vault.publish('KeyNewVersionCreated', 'cmk-order', v2);
    await stack.settle();

    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v3]);
    assert.deepEqual(patches(ids), [1]);
    const [newest] = await stack.services.ledger.history(ids[0] ?? '', 5);
    assert.equal(newest?.status, 'skipped');
    assert.equal(newest?.toVersion, v2);
    assert.match(newest?.reason ?? '', /^stale-target/);
  });

  it('one impossible event in a batch is ignored with a 2xx; the real one beside it is processed; nothing is poisoned', async () => {
    const { ids } = await boundScenario(stack, vault, 'cmk-mixed', ['aoai-mixed']);
    const { version: v2 } = await vault.createKey('cmk-mixed', { publish: false });
    await vault.publish('KeyNewVersionCreated', 'cmk-mixed', v2);
    const real = vault.events.at(-1)?.event as Record<string, any>;
    const impossible = { ...real, id: 'impossible-1', data: { ...real.data, ObjectName: 'cmk_mixed!', Id: `${vault.vaultUri}keys/cmk_mixed!/${v2}` } };
    const poisonBefore = (await stack.host.poisonMessages()).length;
    assert.equal((await postEvents(stack, [impossible, real])).status, 202);
    await stack.settle();
    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v2]);
    assert.equal((await stack.host.poisonMessages()).length, poisonBefore);
    assert.ok(stack.host.logs.some((l) => l.event === 'key-event.rejected' && /not a Key Vault key name/.test(String(l.fields.problem))));
  });

  it('a secret event and a new version of a same-named key in another vault change nothing', async () => {
    const { ids } = await boundScenario(stack, vault, 'cmk-iso', ['aoai-iso']);
    const before = stack.arm.account(ids[0] ?? '');
    const other = await stack.addVault({ name: 'kv-elsewhere' });
    const rowsBefore = (await stack.services.ledger.all()).length;

    assert.equal((await postEvents(stack, readFixture('eventgrid/keyvault-SecretNewVersionCreated.eventgrid.json'))).status, 202);
    await other.createKey('cmk-iso', { kty: 'RSA', size: 2048 });
    await stack.settle();

    assert.deepEqual(stack.arm.account(ids[0] ?? ''), before);
    assert.deepEqual(patches(ids), [0]);
    assert.equal((await stack.services.ledger.all()).length, rowsBefore, 'no ledger row for either event');
  });

  for (const [what, options, reason] of [
    ['disabled', { enabled: false }, /key-disabled/],
    ['4096-bit', { size: 4096 }, /unsupported-key-size/],
  ] as const) {
    it(`a ${what} new version is refused, the ledger says why, and the account is untouched`, async () => {
      const keyName = `cmk-${what}`;
      const { ids, v1 } = await boundScenario(stack, vault, keyName, [`aoai-${what}`]);
      const before = stack.arm.account(ids[0] ?? '');
      await vault.createKey(keyName, { kty: 'RSA', size: 2048, ...options });
      await stack.settle();

      assert.deepEqual(stack.arm.account(ids[0] ?? ''), before);
      assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v1]);
      assert.deepEqual(patches(ids), [0]);
      const [row] = await stack.services.ledger.history(ids[0] ?? '', 5);
      assert.equal(row?.status, 'refused');
      assert.match(row?.reason ?? '', reason);
    });
  }

  it('a PATCH that keeps failing with 500 is recorded, retried by the queue, and lands on a later attempt', async () => {
    const { ids } = await boundScenario(stack, vault, 'cmk-flaky', ['aoai-flaky']);
    // More 500s than the SDK's own retries, so the queue's retry has to finish the job.
    stack.arm.fail({ method: 'PATCH', path: /aoai-flaky$/i, status: 500, times: 4 });
    const { version: v2 } = await vault.createKey('cmk-flaky', { kty: 'RSA', size: 2048 });
    await stack.settle();

    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v2]);
    const [row] = await stack.services.ledger.history(ids[0] ?? '', 5);
    assert.equal(row?.status, 'succeeded');
    assert.equal(row?.attempt, 2);
    assert.equal(row?.intentAttempt, 1, 'the intent of attempt 1 is kept');
    assert.match(row?.reason ?? '', /^verified: the account reports key version/);
    assert.ok(stack.host.logs.some((l) => l.level === 'warning' && l.event === 'rotation.deferred' && /http-500|InternalServerError/.test(String(l.fields.reason))));
  });

  it('a long-running operation that ends Failed is recorded as failed, reported, and not retried', async () => {
    const { ids, v1 } = await boundScenario(stack, vault, 'cmk-lro', ['aoai-lro']);
    stack.arm.failLro(ids[0] ?? '', { code: 'KeyVaultAccessForbidden', message: 'identity cannot unwrap' });
    await vault.createKey('cmk-lro', { kty: 'RSA', size: 2048 });
    await stack.settle();

    assert.deepEqual(versionsOf(await readAccounts(stack, ids)), [v1]);
    assert.equal(stack.arm.patchCount(ids[0] ?? ''), 1);
    const [row] = await stack.services.ledger.history(ids[0] ?? '', 5);
    assert.equal(row?.status, 'failed');
    assert.match(row?.reason ?? '', /KeyVaultAccessForbidden/);
    assert.ok(stack.host.logs.some((l) => l.level === 'error' && l.event === 'rotation.finished' && l.fields.status === 'failed' && l.fields.accountId === ids[0]));
  });

  it('a malformed queue message ends in the poison queue and writes nothing', async () => {
    const rowsBefore = (await stack.services.ledger.all()).length;
    await stack.services.queue.enqueue({ kind: 'rebind', jobId: 'x' } as never);
    await stack.settle();
    const poison = await stack.host.poisonMessages();
    assert.ok(poison.some((m) => m.includes('"jobId":"x"')));
    assert.equal((await stack.services.ledger.all()).length, rowsBefore);
    assert.ok(stack.host.logs.some((l) => l.level === 'error' && l.event === 'job.malformed' && /vaultUri/.test(String(l.fields.problem))));
  });

  it('leaves an account tagged with OPT_OUT_TAG alone (unless the tag says false)', async () => {
    const { version: v1 } = await vault.createKey('cmk-optout', { kty: 'RSA', size: 2048, publish: false });
    const { accountArmId, accountResource, grantKeyAccess, principalOf } = await import('../../dev/estate');
    const key = { vaultUri: vault.vaultUri, name: 'cmk-optout', version: v1 };
    grantKeyAccess(stack.arm, vault, ['aoai-opted-out', 'aoai-opted-in'].map(principalOf));
    stack.arm.putAccount(accountResource({ name: 'aoai-opted-out', key, tags: { 'cmk-rotator:opt-out': 'true' } }));
    stack.arm.putAccount(accountResource({ name: 'aoai-opted-in', key, tags: { 'CMK-ROTATOR:OPT-OUT': 'false' } }));
    const { version: v2 } = await vault.createKey('cmk-optout', { kty: 'RSA', size: 2048 });
    await stack.settle();
    assert.deepEqual(versionsOf(await readAccounts(stack, [accountArmId('aoai-opted-out'), accountArmId('aoai-opted-in')])), [v1, v2]);
    assert.equal(stack.arm.patchCount(accountArmId('aoai-opted-out')), 0);
  });

  it('answers the Event Grid subscription handshake, and a body that is not JSON with 500 as the host does', async () => {
    const validation = await postEvents(stack, [{ id: 'v', eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', data: { validationCode: 'abc-123' } }], 'SubscriptionValidation');
    assert.equal(validation.status, 200);
    assert.deepEqual(await validation.json(), { validationResponse: 'abc-123' });
    // The header in any case, as the Functions host's Event Grid extension reads it; Unsubscribe is accepted.
    const lower = await postEvents(stack, [{ id: 'v2', eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', data: { validationCode: 'def-456' } }], 'subscriptionvalidation');
    assert.deepEqual([lower.status, await lower.json()], [200, { validationResponse: 'def-456' }]);
    assert.equal((await postEvents(stack, [], 'Unsubscribe')).status, 202);
    const bad = await fetch(stack.host.eventGridWebhook('keyVaultEvents'), { method: 'POST', headers: { 'aeg-event-type': 'Notification' }, body: '{' });
    assert.equal(bad.status, 500);
  });
});
