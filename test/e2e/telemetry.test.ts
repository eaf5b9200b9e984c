// Telemetry of a demo rotation through the dev host, with in-memory exporters in place of Azure Monitor: the metrics
// (rotations by outcome and trigger, duration, binding lag, findings, bound accounts by version) and the trace that
// links the Key Vault event to the fan-out and each rebind by job id.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import { KeyClient } from '@azure/keyvault-keys';
import { localCredential } from '../../dev/credential';
import { seedDevEstate, type DemoEstate } from '../../dev/estate';
import type { KeyVaultStandIn } from '../../dev/keyVaultStandIn';
import { startLocalStack, type LocalStack } from '../../dev/stack';
import { METRICS } from '../../shared/telemetry/metrics';
import { installInMemoryTelemetry, pointWith, type InMemoryTelemetry } from '../support/telemetry';

let stack: LocalStack;
let vault: KeyVaultStandIn;
let estate: DemoEstate & { broken: string };
let telemetry: InMemoryTelemetry;
let v2 = '';
let rotatedAt = 0;

before(async () => {
  telemetry = installInMemoryTelemetry();
  stack = await startLocalStack();
  vault = await stack.addVault({ name: 'kv-telemetry' });
  estate = await seedDevEstate(vault, stack.arm);
  const client = new KeyClient(vault.vaultUri, localCredential, { disableChallengeResourceVerification: true, tlsOptions: { ca: vault.ca } });
  const rotated = await client.rotateKey('cmk');
  v2 = rotated.properties.version ?? '';
  rotatedAt = rotated.properties.createdOn?.getTime() ?? 0;
  await stack.settle();
});
after(async () => {
  await stack?.stop();
  await telemetry?.stop();
});

describe('telemetry of a demo rotation (in-memory exporters)', () => {
  test('rotations by outcome and trigger, and their duration', async () => {
    const rotations = await telemetry.points(METRICS.rotations);
    assert.equal(pointWith(rotations, { outcome: 'succeeded', trigger: 'event', kind: 'rebind' })?.value, estate.bound.length);
    assert.equal(rotations.filter((p) => p.attributes.outcome === 'failed').length, 0);
    const duration = pointWith(await telemetry.points(METRICS.rotationDuration), { outcome: 'succeeded', trigger: 'event' })?.value as Histogram;
    assert.equal(duration.count, estate.bound.length);
    assert.ok((duration.sum ?? 0) > 0);
  });

  test('binding lag: one value per rotated account, from the version\'s creation to the account verified on it', async () => {
    const lag = pointWith(await telemetry.points(METRICS.bindingLag), { trigger: 'event', key: 'cmk' })?.value as Histogram;
    assert.equal(lag.count, estate.bound.length);
    // Key Vault's created has one-second resolution; no verification can come before the version existed.
    assert.ok((lag.min ?? -1) >= 0);
    assert.ok((lag.max ?? Infinity) <= (Date.now() - rotatedAt) / 1000 + 1, `lag ${lag.max} s is at most the time since the rotation`);
    const events = stack.host.logs.filter((l) => l.event === 'rotation.finished' && l.fields.status === 'succeeded');
    assert.deepEqual(events.map((e) => typeof e.fields.bindingLagSeconds).sort(), estate.bound.map(() => 'number'));
  });

  test('the trace links the Key Vault event to its fan-out and each rebind, by job id', () => {
    const spans = telemetry.spans();
    const event = spans.find((s) => s.name === 'cmk.key-event' && s.attributes['cmk.key.name'] === 'cmk');
    assert.ok(event, `spans: ${spans.map((s) => s.name).join(', ')}`);
    const fanOut = spans.find((s) => s.name === 'cmk.fan-out' && s.attributes['cmk.job.id'] === event.attributes['cmk.job.id']);
    assert.ok(fanOut, 'the fan-out span carries the job id the event queued');
    assert.equal(fanOut.spanContext().traceId, event.spanContext().traceId);
    assert.equal(fanOut.parentSpanContext?.spanId, event.spanContext().spanId);
    const rebinds = spans.filter((s) => s.name === 'cmk.rebind' && s.attributes['cmk.job.parent_id'] === fanOut.attributes['cmk.job.id']);
    assert.deepEqual(rebinds.map((s) => s.attributes['cmk.account.id']).sort(), [...estate.bound].sort());
    for (const rebind of rebinds) {
      assert.equal(rebind.spanContext().traceId, event.spanContext().traceId);
      assert.equal(rebind.parentSpanContext?.spanId, fanOut.spanContext().spanId);
    }
  });

  test('a sweep sets the findings by severity and code and the bound accounts by key version', async () => {
    await stack.host.runTimer('complianceSweep');
    const findings = await telemetry.points(METRICS.findings);
    assert.equal(pointWith(findings, { code: 'key-disabled', severity: 'critical' })?.value, 1);
    const bound = await telemetry.points(METRICS.boundAccounts);
    assert.equal(pointWith(bound, { key: 'cmk', keyVersion: v2 })?.value, estate.bound.length);
    assert.equal(pointWith(bound, { key: 'legacy-cmk' })?.value, 1);
  });
});
