import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { services } from '../app';
import type { RotationRecord } from '../domain/model';
import { actorOf, apiQuery, problemResponse, readJsonBody, refusalProblem, validate } from '../http/problem';
import { httpSchemas } from '../http/schemas';
import { invocationLogger } from '../logging';
import { requestEncryptionChange, requestRotation, type ManualDeps, type QueuedJob } from '../usecases/manual';
import type { Result } from '../usecases/refusals';
import { planRotation } from '../usecases/rotationPlan';

// Manual operations (DESIGN §6): parse and validate, call one use case, map the result.

const deps = (): ManualDeps => services();

function accepted(result: Result<QueuedJob[]>): HttpResponseInit {
  if (!result.ok) return problemResponse(refusalProblem(result.refusal));
  const jobs = result.value.map((j) => ({ ...j, location: `/api/rotations/${j.jobId}` }));
  return { status: 202, headers: jobs[0] ? { Location: jobs[0].location } : {}, jsonBody: { jobs } };
}

export async function createRotation(request: HttpRequest): Promise<HttpResponseInit> {
  const body = await readJsonBody(request);
  const req = body.ok ? validate(httpSchemas().rotationRequest, body.value) : body;
  if (!req.ok) return problemResponse(req.problem);
  if (req.value.dryRun) {
    const plan = await planRotation(req.value, actorOf(request, services().config), deps());
    return plan.ok ? { status: 200, jsonBody: { dryRun: true, plan: plan.value } } : problemResponse(refusalProblem(plan.refusal));
  }
  return accepted(await requestRotation(req.value, actorOf(request, services().config), deps()));
}

export async function changeEncryption(request: HttpRequest): Promise<HttpResponseInit> {
  const body = await readJsonBody(request);
  const req = body.ok ? validate(httpSchemas().encryptionRequest, body.value) : body;
  if (!req.ok) return problemResponse(req.problem);
  const result = await requestEncryptionChange(req.value, actorOf(request, services().config), deps());
  return accepted(result.ok ? { ok: true, value: [result.value] } : result);
}

export async function getRotation(request: HttpRequest): Promise<HttpResponseInit> {
  const params = validate(httpSchemas().jobIdParam, { jobId: request.params.jobId });
  if (!params.ok) return problemResponse(params.problem);
  const rows = await services().ledger.job(params.value.jobId);
  if (!rows.length) return problemResponse(refusalProblem({ code: 'job-not-found', detail: `No job ${params.value.jobId}` }));
  return { status: 200, jsonBody: rows.length === 1 ? jobView(rows[0] as RotationRecord) : { jobId: params.value.jobId, accounts: rows.map(jobView) } };
}

export async function listRotations(request: HttpRequest): Promise<HttpResponseInit> {
  const raw = apiQuery(request);
  const query = raw.ok ? validate(httpSchemas().historyQuery, raw.value) : raw;
  if (!query.ok) return problemResponse(query.problem);
  const page = await services().ledger.historyPage(query.value.accountId, query.value.limit, query.value.continuationToken);
  return { status: 200, jsonBody: { rotations: page.rows.map(jobView), ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}) } };
}

/** DELETE /api/accounts/pin: a person releases the account to events and sweeps again (§2a). */
export async function releasePin(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const body = await readJsonBody(request);
  const req = body.ok ? validate(httpSchemas().pinRequest, body.value) : body;
  if (!req.ok) return problemResponse(req.problem);
  const { accountId, encryptionScope } = req.value;
  const released = await services().pins.release(accountId, undefined, encryptionScope);
  const what = encryptionScope ? `Encryption scope ${encryptionScope} of ${accountId}` : accountId;
  if (!released) return problemResponse(refusalProblem({ code: 'pin-not-found', detail: `${what} is not pinned`, field: encryptionScope ? 'encryptionScope' : 'accountId' }));
  invocationLogger(context).event('pin.released', {
    accountId: released.accountId, encryptionScope: released.encryptionScope, keyVersion: released.keyVersion, pinnedBy: released.actor, releasedBy: actorOf(request, services().config),
  });
  return { status: 200, jsonBody: { released } };
}

/** A ledger row as the API shows it: `attempts` is how many times the job has run. */
function jobView(row: RotationRecord) {
  const { attempt, ...rest } = row;
  return { ...rest, attempts: attempt };
}
