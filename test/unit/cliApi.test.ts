// The API commands against a scripted app (io.fetch): what the CLI sends, when it stops waiting, and what it says.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../../cli/program';
import { captured } from '../support/cli';

const ACCOUNT = '/subscriptions/5a6e7c1d-0000-4000-8000-00000000c0de/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/aoai-a';
const JOB = 'job-1234abcd';
const ENV = { CMK_ROTATOR_APP: 'https://func-cmk.azurewebsites.net', CMK_ROTATOR_FUNCTION_KEY: 'SECRET-KEY' };

interface Sent {
  method: string;
  url: string;
  redirect: RequestInit['redirect'];
  signal: AbortSignal | undefined;
}

type Answer = Response | 'stall' | { fail: string };

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const row = (status: string, reason?: string) => json(200, { jobId: JOB, accountId: ACCOUNT, status, attempts: 1, ...(reason ? { reason } : {}) });
const queued = () => json(202, { jobs: [{ jobId: JOB, accountId: ACCOUNT, kind: 'rebind', status: 'queued' }] });
const notFound = () => json(404, { code: 'job-not-found', title: 'Not found', detail: `no job ${JOB}` });

/** Runs the CLI with a fetch that gives the answers in turn ('stall': no answer until the request is aborted). */
async function run(args: string[], answers: Answer[]) {
  const sent: Sent[] = [];
  const fetch = (async (url: string, init: RequestInit = {}) => {
    sent.push({ method: init.method ?? 'GET', url: String(url), redirect: init.redirect, signal: init.signal ?? undefined });
    const answer = answers.shift() ?? json(500, { code: 'script-ended' });
    // As undici fails: a TypeError whose cause carries the socket's code.
    if (typeof answer === 'object' && 'fail' in answer) throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(answer.fail), { code: answer.fail }) });
    if (answer !== 'stall') return answer;
    return new Promise<Response>((_, reject) => {
      // A socket keeps a real request's process alive (AbortSignal.timeout does not): this timer stands for it.
      const socket = setTimeout(() => reject(new Error('the request was never given up')), 10_000);
      init.signal?.addEventListener('abort', () => {
        clearTimeout(socket);
        reject(init.signal?.reason);
      });
    });
  }) as typeof globalThis.fetch;
  const stdout = captured();
  const stderr = captured();
  const code = await runCli(args, { stdout, stderr, env: ENV, fetch });
  return { code, stdout: stdout.text, stderr: stderr.text, sent };
}

describe('cmk-rotator API commands', () => {
  it('refuses a bad --interval or --timeout before anything is sent, naming the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['sweep', '--wait', '--timeout', 'abc'], /--timeout: "abc" is not a number of seconds/],
      [['sweep', '--wait', '--interval', '0'], /--interval: "0" is not a number of seconds/],
      [['rotate', '--account', ACCOUNT, '--wait', '--timeout', '-1'], /--timeout: "-1" is not a number of seconds/],
      [['pin', '--account', ACCOUNT, '--key-version', 'a'.repeat(32), '--wait', '--interval', 'soon'], /--interval: "soon" is not a number of seconds/],
      [['status', JOB, '--wait', '--timeout', ' '], /--timeout: " " is not a number of seconds/],
      // Past what a timer holds (24.8 days), Node would fire it at once.
      [['status', JOB, '--wait', '--timeout', '2200000'], /--timeout: "2200000" is not a number of seconds \(up to 2000000\)/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args, [queued()]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message);
      assert.deepEqual(r.sent, [], `${args.join(' ')}: nothing sent`);
    }
  });

  it('refuses a job id the API would not take, before anything is sent', async () => {
    for (const jobId of ['..', 'job/../../x', 'short']) {
      const r = await run(['status', jobId], [row('succeeded')]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /<jobId>: ".*" is not a job id/);
      assert.deepEqual(r.sent, []);
    }
  });

  it('stops waiting at --timeout even while a request gets no answer', async () => {
    const r = await run(['status', JOB, '--wait', '--timeout', '0.2', '--interval', '0.05'], ['stall', 'stall', 'stall', 'stall', 'stall', 'stall']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /still not finished when --timeout ran out: job-1234abcd \(the last poll: GET \/api\/rotations\/job-1234abcd: no answer/);
    assert.match(r.stderr, /GET \/api\/rotations\/job-1234abcd: no answer from https:\/\/func-cmk\.azurewebsites\.net within 1 s; trying again/);
    assert.ok(r.sent.every((s) => s.signal?.aborted), 'every stalled request was given up');
  });

  it('reports an app it cannot reach at once, and tries again over a dropped connection', async () => {
    const refused = await run(['status', JOB, '--wait', '--interval', '0.01'], [{ fail: 'ECONNREFUSED' }, row('succeeded')]);
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /GET \/api\/rotations\/job-1234abcd: cannot reach https:\/\/func-cmk\.azurewebsites\.net: fetch failed/);
    assert.equal(refused.sent.length, 1);
    for (const passing of ['ECONNRESET', 'EAI_AGAIN', 'ENETUNREACH']) {
      const r = await run(['status', JOB, '--wait', '--interval', '0.01'], [{ fail: passing }, row('succeeded')]);
      assert.equal(r.code, 0, `${passing}: ${r.stderr}`);
      assert.match(r.stderr, /cannot reach .*; trying again/);
    }
  });

  it('does not follow a redirect: the function key goes to --app only', async () => {
    const r = await run(['status', JOB], [new Response(null, { status: 302, headers: { location: 'https://login.example.com/authorize?client_id=x&code=y' } })]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /the app answered 302 \(to https:\/\/login\.example\.com\), not followed: is --app the function app's own URL\?/);
    assert.doesNotMatch(r.stderr, /client_id|authorize|SECRET/);
    assert.deepEqual(r.sent.map((s) => [s.url, s.redirect]), [[`${ENV.CMK_ROTATOR_APP}/api/rotations/${JOB}`, 'manual']]);
  });

  it('says so when a 2xx answer is not the API\'s JSON', async () => {
    const r = await run(['rotate', '--account', ACCOUNT], [new Response('<html>sign in</html>', { status: 200, headers: { 'content-type': 'text/html' } })]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /POST \/api\/rotations: the app answered 200 without JSON: is --app a cmk-rotator app\?/);
  });

  it('ends at once on a job the app does not know, even with --wait', async () => {
    const r = await run(['status', JOB, '--wait', '--interval', '0.01'], [notFound(), row('succeeded')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /job-not-found/);
    assert.equal(r.sent.length, 1);
  });

  it('waits for a job it has just queued to be readable, and out the app\'s throttling and 5xx (Retry-After)', async () => {
    const r = await run(['rotate', '--account', ACCOUNT, '--wait', '--interval', '0.01'], [
      queued(), notFound(), json(503, { code: 'storage-unavailable', title: 'Storage is unavailable' }, { 'retry-after': '0.05' }),
      json(429, { code: 'dependency-throttled', title: 'Throttled' }), row('running'), row('succeeded', 'verified'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /storage-unavailable: Storage is unavailable; trying again/);
    assert.match(r.stderr, /dependency-throttled: Throttled; trying again/);
    assert.match(r.stderr, /aoai-a: succeeded \(attempt 1\): verified/);
    assert.deepEqual(r.sent.map((s) => s.method), ['POST', 'GET', 'GET', 'GET', 'GET', 'GET']);
  });

  it('a key rotated with its jobs not all queued is exit 1, not 3: the same command again would rotate it again', async () => {
    const version = 'c'.repeat(32);
    const r = await run(['rotate', '--account', ACCOUNT, '--rotate-key', '--wait'], [
      json(502, { code: 'rotated-not-queued', title: 'The key was rotated, but its jobs were not all queued', detail: `key cmk was rotated to version ${version}`, keyVersion: version }),
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`rotated-not-queued: key cmk was rotated to version ${version}`));
    assert.deepEqual(r.sent.map((s) => s.method), ['POST'], 'not sent again');
  });

  it('ends the wait on a row whose outcome is unknown, exit 3, showing why', async () => {
    const r = await run(['status', JOB, '--wait', '--interval', '0.01'], [row('running'), row('running', 'outcome unknown: the account could not be read back')]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /aoai-a: running \(attempt 1\): outcome unknown: the account could not be read back/);
    assert.match(r.stdout, /aoai-a +- +running/);
  });

  it('sweep --wait waits out a 503 and prints the sweep\'s report; its hint without --wait is a read', async () => {
    const sweepId = 'sweep-0001';
    const report = { sweep: { sweepId, status: 'completed', startedAt: '2026-12-04T00:00:02Z', accountsSeen: 2, keysRead: 1, errors: [], findingsByCode: {}, findingsBySeverity: {} }, findings: [] };
    const previous = { ...report, sweep: { ...report.sweep, sweepId: 'sweep-0000' } };
    // The first read (the sweep before ours) waits out a 503 too.
    const r = await run(['sweep', '--wait', '--interval', '0.01'], [json(503, { code: 'storage-unavailable' }), json(200, previous), json(202, { sweepId, status: 'queued' }), json(200, previous), json(503, { code: 'storage-unavailable' }), json(200, report)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sweep-0001/);
    // A run that failed is delivered again under the same id: the wait goes on to the retry's end.
    const failedRun = { ...report, sweep: { ...report.sweep, status: 'failed', startedAt: '2026-12-04T00:00:01Z', errors: ['Key Vault unavailable'] } };
    const retried = await run(['sweep', '--wait', '--interval', '0.01'], [json(200, previous), json(202, { sweepId, status: 'queued' }), json(200, failedRun), json(200, failedRun), json(200, { ...report, sweep: { ...report.sweep, status: 'running' } }), json(200, report)]);
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(retried.stderr, /sweep sweep-0001 failed \(Key Vault unavailable\); waiting up to 60 s for the host to run it again/);
    // A sweep that began after ours had ended, before a poll saw ours end: ours will never be the latest again.
    const overtaken = await run(['sweep', '--wait', '--interval', '0.01', '--timeout', '60'], [json(200, previous), json(202, { sweepId, status: 'queued' }), json(200, { ...report, sweep: { ...report.sweep, sweepId: 'sweep-0002', status: 'running' } })]);
    assert.equal(overtaken.code, 3);
    assert.match(overtaken.stderr, /sweep sweep-0001 was followed by sweep sweep-0002 before its end was seen/);
    // A failed run seen with less --timeout left than the host's retry needs is reported as it ended, within --timeout.
    const failedWithFinding = { ...failedRun, findings: [{ accountId: ACCOUNT, code: 'key-disabled', severity: 'critical', evidence: {}, remedy: 'r', sweepId, observedAt: '2026-12-04T00:00:00Z' }] };
    const late = await run(['sweep', '--wait', '--interval', '0.05', '--timeout', '1', '--fail-on', 'critical'], [json(200, previous), json(202, { sweepId, status: 'queued' }), ...Array.from({ length: 40 }, () => json(200, failedWithFinding))]);
    assert.equal(late.code, 1, late.stderr);
    assert.doesNotMatch(late.stderr, /had not finished/);
    // The same when the poll after it gets no answer until --timeout.
    const stalled = await run(['sweep', '--wait', '--interval', '0.4', '--timeout', '1', '--fail-on', 'critical'], [json(200, previous), json(202, { sweepId, status: 'queued' }), json(200, failedWithFinding), 'stall', 'stall', 'stall']);
    assert.equal(stalled.code, 1, stalled.stderr);
    assert.match(stalled.stdout, /key-disabled/);
    // Anything but --timeout is said as it is: another sweep taking the latest row, the app refusing the key.
    const followed = await run(['sweep', '--wait', '--interval', '0.01', '--timeout', '60', '--fail-on', 'critical'], [json(200, previous), json(202, { sweepId, status: 'queued' }), json(200, failedWithFinding), json(200, { ...report, sweep: { ...report.sweep, sweepId: 'sweep-0002', status: 'running' } })]);
    assert.equal(followed.code, 3);
    assert.match(followed.stderr, /was followed by sweep sweep-0002/);
    const refused = await run(['sweep', '--wait', '--interval', '0.01', '--timeout', '60'], [json(200, previous), json(202, { sweepId, status: 'queued' }), json(200, failedWithFinding), json(401, {})]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /refused the function key/);
    const queuedOnly = await run(['sweep'], [json(202, { sweepId, status: 'queued' })]);
    assert.match(queuedOnly.stdout, /^sweep sweep-0001 queued; its report, once it has ended: GET \/api\/compliance$/m);
  });

  it('names a refused request\'s fields once', async () => {
    const r = await run(['rotate', '--account', ACCOUNT], [json(400, { code: 'invalid-request', detail: 'keyVersion: must be 32 hex characters', errors: [{ field: 'keyVersion', message: 'must be 32 hex characters' }] })]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.match(/must be 32 hex characters/g)?.length, 1, r.stderr);
  });
});
