// The event catalogue as written (one JSON object per event, the level from the catalogue), the metrics events stand
// for, and telemetry switched off: no OpenTelemetry loaded, spans are plain calls.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvocationContext } from '@azure/functions';
import { invocationLogger } from '../../shared/logging';
import { formatEvent, levelOf, parseEvent } from '../../shared/telemetry/catalogue';
import { METRICS } from '../../shared/telemetry/metrics';
import { telemetry, telemetryReady } from '../../shared/telemetry/runtime';
import { loadFunctions } from '../../dev/registry';
import { projectRoot } from '../support/fixtures';
import { installInMemoryTelemetry, pointWith, type InMemoryTelemetry } from '../support/telemetry';

describe('log events', () => {
  it('an event is one JSON object with its name, fields without a value left out', () => {
    assert.equal(formatEvent('sweep.skipped', { sweepId: 's1', runningSweepId: undefined }), '{"event":"sweep.skipped","sweepId":"s1"}');
    assert.deepEqual(parseEvent('{"event":"sweep.skipped","sweepId":"s1"}'), { event: 'sweep.skipped', fields: { sweepId: 's1' } });
    assert.equal(parseEvent("Executed 'rotationWorker' (Failed)"), undefined, 'a host line is not an event');
    assert.equal(parseEvent('{"event":"no.such-event"}'), undefined, 'only catalogue names are events');
  });

  it('the catalogue sets the level; a failed rotation is an error, any other outcome information', () => {
    assert.equal(levelOf('rotation.finished', { status: 'failed' }), 'error');
    assert.equal(levelOf('rotation.finished', { status: 'succeeded' }), 'info');
    // A failed sweep is an error too: it judged nothing, and only its alert says so.
    assert.equal(levelOf('sweep.done', { status: 'failed' }), 'error');
    assert.equal(levelOf('sweep.done', { status: 'partial' }), 'info');
    assert.equal(levelOf('finding.critical', {}), 'error');
    assert.equal(levelOf('rotation.deferred', {}), 'warn');
  });

  it('the invocation logger writes the event as the message alone (no extra arguments to flatten) at its level', () => {
    const lines: Array<{ level: string; args: unknown[] }> = [];
    const context = new InvocationContext({ invocationId: 'i', functionName: 'rotationWorker', logHandler: (level, ...args) => lines.push({ level, args }) });
    invocationLogger(context).event('rotation.finished', { jobId: 'j1', status: 'failed', reason: 'the operation ended Failed', bindingLagSeconds: undefined });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.level, 'error');
    assert.equal(lines[0]?.args.length, 1);
    assert.deepEqual(JSON.parse(String(lines[0]?.args[0])), { event: 'rotation.finished', jobId: 'j1', status: 'failed', reason: 'the operation ended Failed' });
  });
});

describe('telemetry switched off (no APPLICATIONINSIGHTS_CONNECTION_STRING)', () => {
  it('starts nothing, and a span is the call itself', async () => {
    assert.equal(await telemetryReady({}), undefined);
    assert.equal(await telemetry().span('x', {}, undefined, async () => 42), 42);
    assert.equal(telemetry().traceparent(), undefined);
  });

  it('an invocation loads no OpenTelemetry or Azure Monitor module', () => {
    const script = `
      const { InvocationContext } = require('@azure/functions');
      const { traced } = require(${JSON.stringify(join(projectRoot(), 'dist', 'shared', 'logging.js'))});
      const context = new InvocationContext({ invocationId: 'i', functionName: 'f', logHandler: () => {} });
      traced(context, { name: 'cmk.test', attributes: {} }, async (log) => log.event('sweep.past-due', {})).then(() => {
        process.stdout.write(JSON.stringify(Object.keys(require.cache)));
      });`;
    const env = { ...process.env, APPLICATIONINSIGHTS_CONNECTION_STRING: '' };
    const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env })) as string[];
    assert.deepEqual(loaded.filter((p) => /node_modules[\\/](@opentelemetry|@azure[\\/]monitor-opentelemetry)[\\/]/.test(p)), []);
  });
});

describe('metrics from events', () => {
  let t: InMemoryTelemetry;
  before(() => {
    t = installInMemoryTelemetry();
  });
  after(() => t.stop());
  const sweep = (sweepId: string, status: string, findingsByCode: Record<string, number>, versions: Array<[string, number]>) => {
    for (const [keyVersion, accounts] of versions) telemetry().record({ event: 'sweep.key-version', fields: { sweepId, vaultUri: 'https://kv/', keyName: 'cmk', keyVersion, accounts } });
    telemetry().record({ event: 'sweep.done', fields: { sweepId, status, findingsByCode } });
  };

  it('a sweep sets the gauges; a finding or version the next sweep no longer has drops to 0; a failed sweep changes nothing', async () => {
    sweep('s1', 'completed', { 'key-disabled': 2, 'version-drift': 1 }, [['v1', 3], ['v2', 1]]);
    assert.equal(pointWith(await t.points(METRICS.findings), { code: 'key-disabled', severity: 'critical' })?.value, 2);
    assert.equal(pointWith(await t.points(METRICS.boundAccounts), { keyVersion: 'v1' })?.value, 3);
    sweep('s2', 'completed', { 'version-drift': 1 }, [['v2', 4]]);
    assert.equal(pointWith(await t.points(METRICS.findings), { code: 'key-disabled' })?.value, 0, 'fixed: back to 0');
    assert.equal(pointWith(await t.points(METRICS.findings), { code: 'version-drift', severity: 'warning' })?.value, 1);
    assert.equal(pointWith(await t.points(METRICS.boundAccounts), { keyVersion: 'v1' })?.value, 0);
    assert.equal(pointWith(await t.points(METRICS.boundAccounts), { keyVersion: 'v2' })?.value, 4);
    sweep('s3', 'failed', {}, [['v3', 9]]);
    assert.equal(pointWith(await t.points(METRICS.boundAccounts), { keyVersion: 'v3' }), undefined);
    assert.equal(pointWith(await t.points(METRICS.boundAccounts), { keyVersion: 'v2' })?.value, 4);
  });

  it('a graceful shutdown (the appTerminate hook) exports the metrics still waiting for the next export', async () => {
    telemetry().record({ event: 'rotation.outcome-unknown', fields: { trigger: 'event', kind: 'switch-key' } });
    const waiting = () => pointWith(t.exported(METRICS.rotations), { outcome: 'outcome-unknown', trigger: 'event', kind: 'switch-key' });
    assert.equal(waiting(), undefined, 'not exported yet');
    const { appTerminate } = loadFunctions();
    assert.equal(appTerminate.length, 1);
    await appTerminate[0]?.();
    assert.equal(waiting()?.value, 1);
  });

  it('an unknown outcome counts as a rotation of its own outcome', async () => {
    telemetry().record({ event: 'rotation.outcome-unknown', fields: { trigger: 'sweep', kind: 'rebind' } });
    assert.equal(pointWith(await t.points(METRICS.rotations), { outcome: 'outcome-unknown', trigger: 'sweep' })?.value, 1);
  });
});
