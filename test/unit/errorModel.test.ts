import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createDefaultHttpClient, createHttpHeaders, createPipelineRequest, RestError, type PipelineResponse } from '@azure/core-rest-pipeline';
import { statusOf, toDependencyError } from '../../shared/adapters/azureErrors';
import type { FindingRecord, SweepSummary } from '../../shared/domain/findings';
import { DependencyError } from '../../shared/errors';
import type { FindingStore, StoredVerdicts, SweepStore } from '../../shared/ports';
import { runSweep, type SweepDeps } from '../../shared/usecases/sweep';
import {
  boundAccount, FakeAccountStore, FakeDiscovery, FakeKeyStore, FakeRoleGrants, FakeVaultDirectory, fixedClock, hex, keyVersion, MemoryLedger, MemoryPins, MemoryQueue, MemoryRotationClaims, silentLogger,
} from '../support/fakes';

/** A RestError as the SDKs throw it: status, code, the answer's headers, and `details` where the SDK parsed the body. */
function restError(status: number, code: string | undefined, options: { headers?: Record<string, string>; details?: unknown } = {}): RestError {
  const request = createPipelineRequest({ url: 'https://management.azure.com/x' });
  const response: PipelineResponse = { request, status, headers: createHttpHeaders(options.headers ?? {}) };
  const error = new RestError(`the service answered ${status}`, { statusCode: status, ...(code ? { code } : {}), request, response });
  if (options.details) error.details = options.details;
  return error;
}

/** What the SDKs' HTTP client really throws when nothing listens, or the server drops the connection. */
async function networkError(behaviour: 'refuse' | 'reset'): Promise<unknown> {
  const server: Server = createServer((req) => req.socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  if (behaviour === 'refuse') await new Promise((resolve) => server.close(resolve));
  try {
    await createDefaultHttpClient().sendRequest(createPipelineRequest({ url: `http://127.0.0.1:${port}/`, allowInsecureConnection: true }));
    return undefined;
  } catch (error) {
    return error;
  } finally {
    if (behaviour === 'reset') await new Promise((resolve) => server.close(resolve));
  }
}

describe('Azure errors become one domain error, classified by status and code', () => {
  const cases: Array<{ name: string; error: () => RestError; code: string; retryable: boolean; notApplied: boolean; retryAfterMs?: number }> = [
    { name: '429 with Retry-After', error: () => restError(429, 'TooManyRequests', { headers: { 'retry-after': '7' } }), code: 'TooManyRequests', retryable: true, notApplied: true, retryAfterMs: 7_000 },
    { name: '408 timeout', error: () => restError(408, 'RequestTimeout'), code: 'RequestTimeout', retryable: true, notApplied: false },
    { name: '409 Conflict', error: () => restError(409, 'Conflict'), code: 'Conflict', retryable: true, notApplied: true },
    { name: '400 AccountProvisioningStateInvalid (busy)', error: () => restError(400, 'AccountProvisioningStateInvalid'), code: 'AccountProvisioningStateInvalid', retryable: true, notApplied: true },
    { name: '400 other', error: () => restError(400, 'InvalidRequestContent'), code: 'InvalidRequestContent', retryable: false, notApplied: true },
    { name: '404', error: () => restError(404, 'ResourceNotFound'), code: 'ResourceNotFound', retryable: false, notApplied: true },
    { name: '503', error: () => restError(503, 'ServerBusy'), code: 'ServerBusy', retryable: true, notApplied: false },
    { name: 'a Tables single-entity error (code only in details.errorCode)', error: () => restError(412, undefined, { details: { errorCode: 'UpdateConditionNotSatisfied' } }), code: 'UpdateConditionNotSatisfied', retryable: false, notApplied: true },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const e = toDependencyError(c.error(), 'reading', 'arm');
      assert.ok(e instanceof DependencyError);
      assert.deepEqual(
        { code: e.code, retryable: e.retryable, notApplied: e.notApplied, retryAfterMs: e.retryAfterMs, dependency: e.dependency },
        { code: c.code, retryable: c.retryable, notApplied: c.notApplied, retryAfterMs: c.retryAfterMs, dependency: 'arm' },
      );
      assert.match(e.message, /^reading: the service answered/);
    });
  }

  for (const behaviour of ['refuse', 'reset'] as const) {
    it(`a ${behaviour === 'refuse' ? 'refused' : 'reset'} connection is a RestError with a code and no status: retryable`, async () => {
      const raw = await networkError(behaviour);
      assert.ok(raw instanceof RestError, 'the SDK throws a RestError');
      const e = toDependencyError(raw, 'queueing', 'storage');
      assert.equal(e.code, behaviour === 'refuse' ? 'ECONNREFUSED' : 'ECONNRESET');
      assert.equal(e.statusCode, undefined);
      assert.equal(statusOf(raw), undefined);
      assert.equal(e.retryable, true);
      assert.equal(e.notApplied, false, 'a lost connection may have delivered the request');
    });
  }

  it('a bug (a TypeError, or an object that merely looks like an HTTP error) is rethrown as it is', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'id')");
    assert.throws(() => toDependencyError(bug, 'reading'), (thrown) => thrown === bug);
    const lookalike = Object.assign(new Error('not from an SDK'), { statusCode: 503 });
    assert.throws(() => toDependencyError(lookalike, 'reading'), (thrown) => thrown === lookalike);
    assert.equal(statusOf(lookalike), undefined);
  });
});

class MemoryFindings implements FindingStore {
  async *verdicts(): AsyncIterable<StoredVerdicts> {
    yield* [];
  }
  async replaceForAccount(): Promise<boolean> {
    return true;
  }
  async upsert(): Promise<void> {}
  async list(): Promise<FindingRecord[]> {
    return [];
  }
  async removeVerdicts(): Promise<number> {
    return 0;
  }
}

class MemorySweeps implements Pick<SweepStore, 'record'> {
  readonly rows: SweepSummary[] = [];
  async record(summary: SweepSummary): Promise<void> {
    this.rows.push(structuredClone(summary));
  }
}

/** A sweep over one account whose key reads fail with `failure`. */
function sweepWhoseKeyReadsFail(failure: Error): { deps: SweepDeps; sweeps: MemorySweeps } {
  const clock = fixedClock();
  const accounts = new FakeAccountStore().put(boundAccount('ai-one', hex(1)));
  const keys = new FakeKeyStore().add(keyVersion(hex(1)));
  keys.getKeyVersion = async () => {
    throw failure;
  };
  const sweeps = new MemorySweeps();
  const grants = new FakeRoleGrants();
  const deps: SweepDeps = {
    discovery: new FakeDiscovery(accounts), accounts, keys, findings: new MemoryFindings(), ledger: new MemoryLedger(clock), queue: new MemoryQueue(), clock,
    newId: () => 'id-1', optOutTag: 'cmk-rotator:opt-out', policy: { allowedKeySizes: [2048], expiryMarginMs: 0 }, nearExpiryDays: 30,
    isAllowedVault: () => true, vaultDirectory: () => new FakeVaultDirectory(), roleGrants: () => grants, sweeps: sweeps as unknown as SweepStore,
    pins: new MemoryPins(), rotationClaims: new MemoryRotationClaims(clock), sweepMode: 'report', nearExpiryAction: 'notify',
  };
  return { deps, sweeps };
}

describe('a sweep tells Azure trouble from a bug', () => {
  it('Key Vault unavailable (a DependencyError) makes the sweep partial', async () => {
    const { deps } = sweepWhoseKeyReadsFail(new DependencyError('ServiceUnavailable', 'reading key cmk: busy', { retryable: true, statusCode: 503, dependency: 'key-vault' }));
    const summary = await runSweep('sweep-1', 'timer', deps, silentLogger());
    assert.equal(summary.status, 'partial');
    assert.match(summary.errors.join('\n'), /reading key cmk: busy/);
  });

  it("a bug in the sweep's key reader is not turned into a partial sweep: it goes up, and the run is recorded failed", async () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'version')");
    const { deps, sweeps } = sweepWhoseKeyReadsFail(bug);
    await assert.rejects(runSweep('sweep-1', 'timer', deps, silentLogger()), (thrown) => thrown === bug);
    assert.equal(sweeps.rows.at(-1)?.status, 'failed');
  });

  it('a bug in writing the running row fails the run and goes up after the last row is written; Table Storage refusing it does not stop the sweep', async () => {
    const outage = new DependencyError('ServerBusy', 'recording the sweep summary: busy', { retryable: true, statusCode: 503, dependency: 'storage' });
    for (const failure of [new TypeError('summary.errors is not iterable'), outage]) {
      const { deps, sweeps } = sweepWhoseKeyReadsFail(outage);
      const record = sweeps.record.bind(sweeps);
      let calls = 0;
      sweeps.record = async (summary) => (++calls === 1 ? Promise.reject(failure) : record(summary));
      const run = runSweep('sweep-1', 'timer', deps, silentLogger());
      if (failure === outage) assert.equal((await run).status, 'partial');
      else {
        await assert.rejects(run, (thrown) => thrown === failure);
        const last = sweeps.rows.at(-1);
        assert.deepEqual([last?.status, last?.errors.at(-1)], ['failed', 'writing the running row: summary.errors is not iterable'], 'the last row still replaces the running one');
      }
    }
  });
});
