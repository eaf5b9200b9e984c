import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { toDependencyError } from '../../shared/adapters/azureErrors';
import { DependencyError } from '../../shared/errors';

// The one classification of Azure's errors, by status and error code together, through the SDKs' own RestError:
// whether trying again can help, and whether the service refused (so nothing changed).

function restError(statusCode: number | undefined, o: { code?: string; details?: unknown; headers?: Record<string, string> } = {}): RestError {
  const request = createPipelineRequest({ url: 'https://management.azure.com/x' });
  const response = statusCode === undefined ? undefined : { request, status: statusCode, headers: createHttpHeaders(o.headers ?? {}) };
  const error = new RestError(`answered ${statusCode ?? 'nothing'}`, { ...(o.code ? { code: o.code } : {}), ...(statusCode ? { statusCode } : {}), request, ...(response ? { response } : {}) });
  if (o.details) error.details = o.details;
  return error;
}

// The status-and-code table is in errorModel.test.ts; these are the parts of an error besides its class.
describe('toDependencyError', () => {
  it('takes the error code from Table Storage\'s details.errorCode and ARM\'s details.error.code before the RestError\'s own', () => {
    assert.equal(toDependencyError(restError(409, { details: { errorCode: 'EntityAlreadyExists' } }), 'x').code, 'EntityAlreadyExists');
    assert.equal(toDependencyError(restError(400, { code: 'BadRequest', details: { error: { code: 'AnotherOperationInProgress' } } }), 'x').retryable, true);
  });

  it('keeps the service\'s wait: Retry-After in seconds or as a date, and retry-after-ms', () => {
    const wait = (headers: Record<string, string>) => toDependencyError(restError(429, { headers }), 'x').retryAfterMs;
    assert.equal(wait({ 'retry-after': '12' }), 12_000);
    assert.equal(wait({ 'retry-after-ms': '250', 'retry-after': '12' }), 250);
    assert.equal(wait({ 'x-ms-retry-after-ms': '40' }), 40);
    assert.equal(wait({ 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }), 0, 'a date already past is no wait');
    assert.equal(wait({}), undefined);
  });

  it('names what failed and which dependency, and passes a DependencyError through as it is', () => {
    const e = toDependencyError(restError(503), 'reading key cmk', 'key-vault');
    assert.deepEqual([e.message, e.dependency, e instanceof DependencyError], ['reading key cmk: answered 503', 'key-vault', true]);
    assert.equal(toDependencyError(e, 'again'), e);
  });

  it('rethrows anything that is not an Azure error: a bug stays a bug', () => {
    const bug = new TypeError('cannot read properties of undefined');
    assert.throws(() => toDependencyError(bug, 'x'), (thrown: unknown) => thrown === bug);
  });
});

describe('status and error code together', () => {
  it('a 412 is busy only when its code says another operation is in progress', () => {
    const facts412 = (code: string) => { const e = toDependencyError(restError(412, { code }), 'x'); return { retryable: e.retryable, notApplied: e.notApplied }; };
    assert.deepEqual(facts412('AnotherOperationInProgress'), { retryable: true, notApplied: true });
    assert.deepEqual(facts412('ConditionNotMet'), { retryable: false, notApplied: true });
  });

  it('502 and a timed-out connection are retryable with the outcome unknown', () => {
    for (const error of [restError(502, { code: 'BadGateway' }), restError(undefined, { code: 'ETIMEDOUT' })]) {
      const e = toDependencyError(error, 'x');
      assert.deepEqual({ retryable: e.retryable, notApplied: e.notApplied }, { retryable: true, notApplied: false });
    }
  });
});
