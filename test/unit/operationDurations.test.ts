import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OperationDurations } from '../../shared/adapters/operationDurations';

describe('first poll of an encryption update', () => {
  it('waits the poll interval until an update has been seen to end', () => {
    assert.equal(new OperationDurations(5_000).firstWait(), 5_000);
  });

  it('waits as long as nine in ten recent updates took, never less than the poll interval', () => {
    const durations = new OperationDurations(1_000);
    for (const ms of [20_000, 22_000, 24_000, 40_000]) durations.observe(ms, false);
    assert.equal(durations.firstWait(), 40_000);
    for (let i = 0; i < 10; i++) durations.observe(21_000 + i, false);
    assert.equal(durations.firstWait(), 21_009, 'the outlier has left the last ten');
    const quick = new OperationDurations(1_000);
    quick.observe(10, false);
    assert.equal(quick.firstWait(), 1_000);
  });

  it('follows updates that get faster: one found done at its first poll counts shorter', () => {
    const durations = new OperationDurations(100);
    durations.observe(10_000, false);
    const waits: number[] = [];
    for (let i = 0; i < 30; i++) {
      waits.push(durations.firstWait());
      durations.observe(durations.firstWait(), true);
    }
    assert.ok(waits.every((w, i) => i === 0 || w <= (waits[i - 1] ?? 0)), 'never longer');
    assert.ok(durations.firstWait() <= 10_000 * 0.8 ** 3, `first wait ${durations.firstWait()} ms after 30 quick updates`);
  });

  it('forgets all but the last updates and caps the wait', () => {
    const durations = new OperationDurations(100, 60_000, 3);
    for (const ms of [500_000, 500_000, 500_000]) durations.observe(ms, false);
    assert.equal(durations.firstWait(), 60_000);
    for (const ms of [200, 200, 200]) durations.observe(ms, false);
    assert.equal(durations.firstWait(), 200);
  });
});
