import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NearExpiryAction } from '../../shared/config';
import { acceptKeyEvent } from '../../shared/usecases/acceptKeyEvent';
import { fixedClock, MemoryQueue, silentLogger } from '../support/fakes';

const VERSION = 'a'.repeat(32);

function event(type: string, host = 'kv.vault.azure.net') {
  return {
    id: `evt-${type}`, eventType: `Microsoft.KeyVault.${type}`, eventTime: '2026-06-01T00:00:00Z', subject: 'cmk', topic: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv',
    data: { Id: `https://${host}/keys/cmk/${VERSION}`, VaultName: 'kv', ObjectType: 'Key', ObjectName: 'cmk', Version: VERSION, NBF: null, EXP: 1900000000 },
  };
}

function deps(nearExpiryAction: NearExpiryAction = 'bind-newer') {
  return {
    queue: new MemoryQueue(),
    clock: fixedClock(),
    newId: () => 'job-00000001',
    isAllowedVault: (uri: string) => new URL(uri).hostname.endsWith('.vault.azure.net'),
    nearExpiryAction,
  };
}

describe('acceptKeyEvent: one fan-out job per key event, nothing else', () => {
  it('a new version targets that version', async () => {
    const d = deps();
    const result = await acceptKeyEvent(event('KeyNewVersionCreated'), d, silentLogger());
    assert.equal(result.outcome, 'enqueued');
    assert.deepEqual(d.queue.jobs.map((j) => [j.job.kind, 'targetVersion' in j.job ? j.job.targetVersion : undefined, 'action' in j.job ? j.job.action : undefined]), [['fan-out', VERSION, 'bind']]);
  });

  const nearExpiry: Array<[NearExpiryAction, string]> = [['bind-newer', 'bind'], ['rotate', 'rotate'], ['notify', 'notify']];
  for (const [setting, action] of nearExpiry) {
    it(`KeyNearExpiry with NEAR_EXPIRY_ACTION=${setting} asks for ${action}, with no target version`, async () => {
      const d = deps(setting);
      await acceptKeyEvent(event('KeyNearExpiry'), d, silentLogger());
      const job = d.queue.jobs[0]?.job;
      assert.equal(job?.kind === 'fan-out' && job.action, action);
      assert.equal(job?.kind === 'fan-out' && job.targetVersion, undefined);
      assert.equal(job?.kind === 'fan-out' && job.eventVersion, VERSION);
    });
  }

  it('an expiry event\'s job carries the expiry the event stated, so that the worker can tell one moved since; one past year 9999 is left out', async () => {
    const d = deps('rotate');
    await acceptKeyEvent(event('KeyNearExpiry'), d, silentLogger());
    const far = event('KeyNearExpiry');
    await acceptKeyEvent({ ...far, id: 'evt-far', data: { ...far.data, EXP: 1e15 } }, d, silentLogger());
    const jobs = d.queue.jobs.map(({ job }) => job);
    assert.deepEqual(jobs.map((job) => job.kind === 'fan-out' && job.eventExpiresOn), [new Date(1900000000 * 1000).toISOString(), undefined]);
    const { parseJob } = await import('../../shared/messages/rotationJobs');
    for (const job of jobs) assert.equal(parseJob(JSON.parse(JSON.stringify(job))).ok, true);
    // Only a rotation reads it: the jobs of the other actions carry nothing a worker of the previous release refuses.
    for (const action of ['notify', 'bind-newer'] as const) {
      const other = deps(action);
      await acceptKeyEvent(event('KeyNearExpiry'), other, silentLogger());
      assert.equal(other.queue.jobs.some(({ job }) => 'eventExpiresOn' in job), false, action);
    }
  });

  it('KeyExpired only asks for findings, whatever NEAR_EXPIRY_ACTION says', async () => {
    const d = deps('rotate');
    await acceptKeyEvent(event('KeyExpired'), d, silentLogger());
    const job = d.queue.jobs[0]?.job;
    assert.equal(job?.kind === 'fan-out' && job.action, 'expired');
  });

  it('ignores a vault outside KEY_VAULT_HOST_SUFFIXES without queueing', async () => {
    const d = deps();
    const log = silentLogger();
    const result = await acceptKeyEvent(event('KeyNewVersionCreated', 'kv.vault.evil.example'), d, log);
    assert.equal(result.outcome, 'ignored');
    assert.equal(d.queue.jobs.length, 0);
    assert.ok(log.lines.some((l) => l.level === 'warn' && l.event === 'key-event.vault-not-allowed'));
  });

  it('a malformed event queues nothing and says why', async () => {
    const d = deps();
    const result = await acceptKeyEvent({ ...event('KeyNewVersionCreated'), data: { Id: 'nope' } }, d, silentLogger());
    assert.equal(result.outcome, 'invalid');
    assert.match(result.outcome === 'invalid' ? result.problem : '', /data\.Id/);
    assert.equal(d.queue.jobs.length, 0);
  });

  it('an enqueue failure is thrown so that Event Grid delivers again', async () => {
    const d = deps();
    d.queue.enqueue = async () => {
      throw new Error('queue unavailable');
    };
    await assert.rejects(acceptKeyEvent(event('KeyNewVersionCreated'), d, silentLogger()), /queue unavailable/);
  });
});

describe('events beyond what Key Vault can produce are ignored at the edge, never a job that fails later', () => {
  const base = event('KeyNewVersionCreated');
  const withData = (data: Record<string, unknown>) => ({ ...base, data: { ...base.data, ...data } });
  const cases: Array<[string, unknown, RegExp]> = [
    ['a key name with characters Key Vault refuses', withData({ Id: `https://kv.vault.azure.net/keys/cmk_under/${VERSION}`, ObjectName: 'cmk_under' }), /not a Key Vault key name/],
    ['a key name of 128 characters', withData({ Id: `https://kv.vault.azure.net/keys/${'k'.repeat(128)}/${VERSION}`, ObjectName: 'k'.repeat(128) }), /not a Key Vault key name/],
    ['an id of 200 characters', { ...base, id: 'e'.repeat(200) }, /event id is 200 characters/],
    ['a data.Id of 600 characters', withData({ Id: `https://${'v'.repeat(520)}.vault.azure.net/keys/cmk/${VERSION}` }), /data.Id is \d+ characters/],
    ['a body of 70 KB', { ...base, padding: 'x'.repeat(70_000) }, /bytes; a Key Vault event is a few hundred/],
    ['a data.Id with a query string', withData({ Id: `https://kv.vault.azure.net/keys/cmk/${VERSION}?x=1` }), /not a key id Key Vault issues/],
  ];
  for (const [what, raw, problem] of cases) {
    it(`${what}: ignored with the reason, nothing queued`, async () => {
      const d = deps();
      const log = silentLogger();
      const result = await acceptKeyEvent(raw, d, log);
      assert.equal(result.outcome, 'invalid');
      assert.match(result.outcome === 'invalid' ? result.problem : '', problem);
      assert.equal(d.queue.jobs.length, 0);
      assert.ok(log.lines.some((l) => l.level === 'warn'));
    });
  }

  it('every event it accepts becomes a job the worker accepts (fields within the queue and Table limits)', async () => {
    const { parseJob } = await import('../../shared/messages/rotationJobs');
    const d = deps();
    for (const type of ['KeyNewVersionCreated', 'KeyNearExpiry', 'KeyExpired']) {
      const longest = { ...event(type), id: 'e'.repeat(128), data: { ...event(type).data, Id: `https://kv.vault.azure.net/keys/${'k'.repeat(127)}/${VERSION}`, ObjectName: 'k'.repeat(127) } };
      assert.equal((await acceptKeyEvent(longest, d, silentLogger())).outcome, 'enqueued');
    }
    for (const { job } of d.queue.jobs) assert.equal(parseJob(JSON.parse(JSON.stringify(job))).ok, true, JSON.stringify(job));
  });

  it('a re-delivered event names the same fan-out job (and so the same rebind jobs)', async () => {
    const d = deps();
    await acceptKeyEvent(base, d, silentLogger());
    await acceptKeyEvent(structuredClone(base), d, silentLogger());
    assert.equal(new Set(d.queue.jobs.map((j) => j.job.jobId)).size, 1);
  });
});
