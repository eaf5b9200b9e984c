import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDevHost } from '../../dev/devHost';
import { buildServices } from '../../shared/app';
import { ConfigError, loadConfig } from '../../shared/config';
import { parseSchedule } from '../../shared/schedule';

const base = { AzureWebJobsStorage: 'UseDevelopmentStorage=true', SUBSCRIPTION_IDS: '11111111-2222-3333-4444-555555555555', SWEEP_SCHEDULE: '0 0 * * * *' };

function configProblem(schedule: string): string | undefined {
  try {
    loadConfig({ ...base, SWEEP_SCHEDULE: schedule });
    return undefined;
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems.join('; ');
  }
}

function nextAfter(schedule: string, iso: string): string {
  const parsed = parseSchedule(schedule);
  assert.ok(parsed.ok, `${schedule}: ${parsed.ok ? '' : parsed.problem}`);
  return parsed.next(new Date(iso)).toISOString();
}

describe('SWEEP_SCHEDULE: one NCRONTAB parser for the settings check and the dev host timer', () => {
  // The examples of the Azure Functions timer trigger doc, each with its next firing after Friday 2026-06-05 10:00 UTC.
  const documented: Array<[string, string]> = [
    ['0 */5 * * * *', '2026-06-05T10:05:00.000Z'],
    ['0 0 * * * *', '2026-06-05T11:00:00.000Z'],
    ['0 0 */2 * * *', '2026-06-05T12:00:00.000Z'],
    ['0 0 9-17 * * *', '2026-06-05T11:00:00.000Z'],
    ['0 30 9 * * *', '2026-06-06T09:30:00.000Z'],
    ['0 30 9 * * 1-5', '2026-06-08T09:30:00.000Z'],
    ['0 30 9 * Jan Mon', '2027-01-04T09:30:00.000Z'],
    ['5,8,10 * * * * *', '2026-06-05T10:00:05.000Z'],
    ['0 0 */6 * * *', '2026-06-05T12:00:00.000Z'],
  ];
  for (const [schedule, next] of documented) {
    it(`accepts "${schedule}" and fires next at ${next}`, () => {
      assert.equal(configProblem(schedule), undefined);
      assert.equal(nextAfter(schedule, '2026-06-05T10:00:00Z'), next);
    });
  }

  it('day of month and day of week must both match, as NCRONTAB reads them', () => {
    // The 13th that is a Friday, not every 13th or every Friday.
    assert.equal(nextAfter('0 0 0 13 * Fri', '2026-06-05T10:00:00Z'), '2026-11-13T00:00:00.000Z');
  });

  const bad: Array<[string, RegExp]> = [
    ['0 0 */6 * *', /six NCRONTAB fields.*got 5/],
    ['0 0 0 * * * *', /six NCRONTAB fields.*got 7/],
    ['x x x x x x', /second field "x"/],
    ['0 61 * * * *', /minute: 61/],
    ['0 0 24 * * *', /hour: 24/],
    ['0 0 0 31 2 *', /never fires/],
    ['0 0 0 ? * *', /day field "\?"/],
    ['0 0 0 L * *', /day field "L"/],
    ['0 0 0 * Foo *', /month field "Foo"/],
    ['0 0 0 * * 7', /day-of-week field "7" is out of range/],
    ['06:00:00', /TimeSpan/],
  ];
  for (const [schedule, problem] of bad) {
    it(`refuses "${schedule}" at start-up, naming SWEEP_SCHEDULE`, () => {
      const message = configProblem(schedule);
      assert.match(message ?? '', /^SWEEP_SCHEDULE /);
      assert.match(message ?? '', problem);
      assert.equal(parseSchedule(schedule).ok, false);
    });
  }

  it('the dev host refuses the same schedule before it serves anything', async () => {
    const services = buildServices(loadConfig(base));
    await assert.rejects(
      startDevHost({ services, connectionString: 'UseDevelopmentStorage=true', appSettings: { ...base, SWEEP_SCHEDULE: '0 0 9 * Jan Mon 2026' } }),
      /timer complianceSweep: schedule "%SWEEP_SCHEDULE%" needs six NCRONTAB fields/,
    );
  });
});
