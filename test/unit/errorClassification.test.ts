import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { classify, DependencyError, toDependencyError } from '../../shared/errors';

// The one classification of Azure's errors, by status and error code together, through the SDKs' own RestError:
// whether trying again can help, and whether the service refused (so nothing changed).

function restError(statusCode: number | undefined, o: { code?: string; details?: unknown; headers?: Record<string, string> } = {}): RestError {
  const request = createPipelineRequest({ url: 'https://management.azure.com/x' });
  const response = statusCode === undefined ? undefined : { request, status: statusCode, headers: createHttpHeaders(o.headers ?? {}) };
  const error = new RestError(`answered ${statusCode ?? 'nothing'}`, { ...(o.code ? { code: o.code } : {}), ...(statusCode ? { statusCode } : {}), request, ...(response ? { response } : {}) });
  if (o.details) error.details = o.details;
  return error;
}

const facts = (e: DependencyError) => ({ code: e.code, retryable: e.retryable, notApplied: e.notApplied, statusCode: e.statusCode });

describe('toDependencyError', () => {
  const cases: Array<[string, RestError, { code: string; retryable: boolean; notApplied: boolean; statusCode: number | undefined }]> = [
    ['429: throttled, refused', restError(429, { code: 'TooManyRequests' }), { code: 'TooManyRequests', retryable: true, notApplied: true, statusCode: 429 }],
    ['408: timed out, outcome unknown', restError(408), { code: 'http-408', retryable: true, notApplied: false, statusCode: 408 }],
    ['500: outcome unknown', restError(500, { code: 'InternalServerError' }), { code: 'InternalServerError', retryable: true, notApplied: false, statusCode: 500 }],
    ['503: outcome unknown', restError(503), { code: 'http-503', retryable: true, notApplied: false, statusCode: 503 }],
    ['409: busy, refused', restError(409, { code: 'Conflict' }), { code: 'Conflict', retryable: true, notApplied: true, statusCode: 409 }],
    ['400 AccountProvisioningStateInvalid: busy whatever its status', restError(400, { code: 'AccountProvisioningStateInvalid' }), { code: 'AccountProvisioningStateInvalid', retryable: true, notApplied: true, statusCode: 400 }],
    ['400 of another code: refused for good', restError(400, { code: 'InvalidKeyVaultKey' }), { code: 'InvalidKeyVaultKey', retryable: false, notApplied: true, statusCode: 400 }],
    ['403: refused for good', restError(403, { code: 'Forbidden' }), { code: 'Forbidden', retryable: false, notApplied: true, statusCode: 403 }],
    ['404: refused for good', restError(404), { code: 'http-404', retryable: false, notApplied: true, statusCode: 404 }],
    ['a connection reset: retryable, outcome unknown', restError(undefined, { code: 'ECONNRESET' }), { code: 'ECONNRESET', retryable: true, notApplied: false, statusCode: undefined }],
    ['no answer and no code', restError(undefined), { code: 'network-error', retryable: true, notApplied: false, statusCode: undefined }],
  ];
  for (const [what, error, expected] of cases) {
    it(what, () => assert.deepEqual(facts(toDependencyError(error, 'reading the account', 'arm')), expected));
  }

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

describe('classify', () => {
  it('decides by status and error code together', () => {
    assert.deepEqual(classify(undefined, 'ETIMEDOUT'), { retryable: true });
    assert.deepEqual(classify(429, 'TooManyRequests'), { retryable: true, notApplied: true });
    assert.deepEqual(classify(502, 'BadGateway'), { retryable: true });
    assert.deepEqual(classify(412, 'AnotherOperationInProgress'), { retryable: true, notApplied: true });
    assert.deepEqual(classify(412, 'ConditionNotMet'), { retryable: false, notApplied: true });
  });
});
