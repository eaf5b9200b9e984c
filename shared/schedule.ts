import { Cron } from 'croner';

// The timer trigger's schedule: NCRONTAB as Azure Functions reads it (six fields, seconds first, month and
// day names allowed, day-of-month AND day-of-week), in UTC like the host without WEBSITE_TIME_ZONE.

type Schedule = { ok: true; next(after: Date): Date } | { ok: false; problem: string };

const FIELDS = ['second', 'minute', 'hour', 'day', 'month', 'day-of-week'] as const;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export function parseSchedule(expression: string): Schedule {
  const text = expression.trim();
  if (/^\d{1,2}:\d{2}:\d{2}$/.test(text)) {
    return { ok: false, problem: 'is a TimeSpan (hh:mm:ss), which only App Service plans run; Flex Consumption needs NCRONTAB' };
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 6) {
    return { ok: false, problem: `needs six NCRONTAB fields (second minute hour day month day-of-week), got ${fields.length}` };
  }
  const outside = fields.map((f, i) => alphabetProblem(f, i)).find(Boolean);
  if (outside) return { ok: false, problem: outside };
  let cron: Cron;
  try {
    // UTC by offset, not by time zone name: a zone name costs the process its first Intl set-up (~30 ms) at start-up.
    cron = new Cron(fields.join(' '), { paused: true, mode: '6-part', domAndDow: true, utcOffset: 0 });
  } catch (error) {
    return { ok: false, problem: (error as Error).message.replace(/^CronPattern: /, '') };
  }
  if (!cron.nextRun(new Date())) return { ok: false, problem: 'never fires' };
  return {
    ok: true,
    next(after) {
      const next = cron.nextRun(after);
      if (!next) throw new Error(`schedule "${expression}" has no occurrence after ${after.toISOString()}`);
      return next;
    },
  };
}

/** NCRONTAB knows *, lists, ranges, steps, and names of months and days: not croner's ?, L, W, # or 7 for Sunday. */
function alphabetProblem(field: string, index: number): string | undefined {
  const name = FIELDS[index] ?? 'field';
  if (!/^[0-9a-z*,\-/]+$/i.test(field)) return `${name} field "${field}" has characters NCRONTAB does not accept`;
  const names = index === 4 ? MONTHS : index === 5 ? DAYS : [];
  for (const word of field.toLowerCase().match(/[a-z]+/g) ?? []) {
    if (!names.includes(word)) return `${name} field "${field}": "${word}" is not a ${index === 4 ? 'month' : index === 5 ? 'day' : 'number'}`;
  }
  const values = field.split(',').flatMap((part) => part.split('/')[0]?.match(/\d+/g) ?? []);
  if (index === 5 && values.some((n) => Number(n) > 6)) return `day-of-week field "${field}" is out of range 0-6`;
  return undefined;
}
