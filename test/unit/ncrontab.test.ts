import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextOccurrence } from '../../dev/ncrontab';

const at = (iso: string) => new Date(iso);

describe('dev host timer schedule (NCRONTAB)', () => {
  const cases: Array<[string, string, string]> = [
    ['0 0 */6 * * *', '2026-06-01T05:59:59Z', '2026-06-01T06:00:00.000Z'],
    ['0 0 */6 * * *', '2026-06-01T06:00:00Z', '2026-06-01T12:00:00.000Z'],
    ['*/30 * * * * *', '2026-06-01T00:00:10Z', '2026-06-01T00:00:30.000Z'],
    ['0 30 9 * * 1-5', '2026-06-05T10:00:00Z', '2026-06-08T09:30:00.000Z'],
    ['0 0 0 1 1 *', '2026-06-01T00:00:00Z', '2027-01-01T00:00:00.000Z'],
    ['0 15,45 * * * *', '2026-06-01T00:20:00Z', '2026-06-01T00:45:00.000Z'],
    ['00:05:00', '2026-06-01T00:00:00Z', '2026-06-01T00:05:00.000Z'],
  ];
  for (const [schedule, from, next] of cases) {
    it(`${schedule} after ${from} fires at ${next}`, () => assert.equal(nextOccurrence(schedule, at(from)).toISOString(), next));
  }
  it('names what is wrong with a bad schedule', () => {
    assert.throws(() => nextOccurrence('0 0 */6 * *', at('2026-06-01T00:00:00Z')), /six fields/);
    assert.throws(() => nextOccurrence('0 61 * * * *', at('2026-06-01T00:00:00Z')), /minute field "61"/);
    assert.throws(() => nextOccurrence('0 0 0 31 2 *', at('2026-06-01T00:00:00Z')), /never fires/);
  });
});
