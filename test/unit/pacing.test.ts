import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHttpHeaders, createPipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { ArmPacer } from '../../shared/adapters/pacing';

const limits = { reads: { burst: 2, perSecond: 100 }, writes: { burst: 1, perSecond: 1_000 } };
const answer = (status: number, headers: Record<string, string> = {}): PipelineResponse =>
  ({ status, headers: createHttpHeaders(headers), request: createPipelineRequest({ url: 'https://arm.example' }) });

describe('ARM pacing: a token bucket per subscription and operation type, shared by every job of the process', () => {
  it('lets the burst through, then spaces requests at the bucket rate (FIFO)', async () => {
    const pacer = new ArmPacer(limits, () => 0);
    for (let i = 0; i < 5; i++) await pacer.take('sub-a', 'reads');
    // The clock stands still: tokens 2, 1, then one more token per 1/95 s (95% of the rate: headroom) for the three beyond the burst.
    assert.equal(Math.round(pacer.waitedMs), Math.round((1 + 2 + 3) * 1000 / 95));
  });

  it('keeps subscriptions and operation types apart', async () => {
    const pacer = new ArmPacer(limits, () => 0);
    await pacer.take('sub-a', 'reads');
    await pacer.take('sub-b', 'reads');
    await pacer.take('sub-a', 'writes');
    assert.equal(pacer.waitedMs, 0);
  });

  it('never holds more than ARM says remains (the bucket is shared with the other instances), and a 429 pauses it', async () => {
    const pacer = new ArmPacer(limits, () => 0);
    pacer.observe('sub-a', 'reads', answer(200, { 'x-ms-ratelimit-remaining-subscription-reads': '0' }));
    await pacer.take('sub-a', 'reads');
    assert.equal(Math.round(pacer.waitedMs), Math.round(1000 / 95), 'no token left, one more at 95% of 100 per second');
    const paused = new ArmPacer(limits, () => 0);
    paused.observe('sub-a', 'writes', answer(429, { 'retry-after-ms': '25' }));
    await paused.take('sub-a', 'writes');
    assert.equal(paused.waitedMs, 25, "ARM's own wait");
  });

  it('as a pipeline policy, counts the request against its subscription and kind and reads the answer', async () => {
    const pacer = new ArmPacer({ reads: { burst: 1, perSecond: 1_000 }, writes: { burst: 1, perSecond: 1_000 } }, () => 0);
    const policy = pacer.policy();
    const send = (method: 'GET' | 'PATCH', sub: string) =>
      policy.sendRequest(createPipelineRequest({ url: `https://arm.example/subscriptions/${sub}/x`, method }), async () => answer(200));
    await send('GET', 'S1');
    await send('PATCH', 'S1');
    assert.equal(pacer.waitedMs, 0);
    await send('GET', 's1');
    assert.equal(Math.round(pacer.waitedMs * 10), Math.round(10_000 / 900), 'same subscription whatever the case');
  });
});
