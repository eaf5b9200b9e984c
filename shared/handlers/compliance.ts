import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { services } from '../app';
import type { SEVERITIES } from '../domain/findings';
import { actorOf, apiQuery, problemResponse, refusalProblem, validate } from '../http/problem';
import { httpSchemas } from '../http/schemas';
import { queueSweep } from '../usecases/sweepOnce';

/** GET /api/compliance: the latest sweep's summary and the stored findings, optionally of one severity. */
export async function getCompliance(request: HttpRequest): Promise<HttpResponseInit> {
  const raw = apiQuery(request);
  const query = raw.ok ? validate(httpSchemas().complianceQuery, raw.value) : raw;
  if (!query.ok) return problemResponse(query.problem);
  const s = services();
  const severity = query.value.severity as (typeof SEVERITIES)[number] | undefined;
  const [sweep, findings] = await Promise.all([s.sweeps.latest(), s.findings.list(severity ? { severity } : {})]);
  return { status: 200, jsonBody: { sweep: sweep ?? null, findings } };
}

/** POST /api/compliance/sweeps: runs a sweep now through the queue; 409 while one runs. */
export async function startSweep(request: HttpRequest): Promise<HttpResponseInit> {
  const s = services();
  const sweepId = s.newId();
  const result = await queueSweep(sweepId, actorOf(request, s.config), s);
  if (!result.queued) {
    const problem = refusalProblem({ code: 'sweep-running', detail: `Sweep ${result.runningSweepId} is running` });
    return problemResponse({ ...problem, extensions: { runningSweepId: result.runningSweepId } });
  }
  return { status: 202, headers: { Location: '/api/compliance' }, jsonBody: { sweepId, status: 'queued', location: '/api/compliance' } };
}
