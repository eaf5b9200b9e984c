// NCRONTAB (the Functions timer format: second minute hour day month day-of-week) or an hh:mm:ss interval.

type Field = (value: number) => boolean;

const RANGES: Array<[number, number]> = [[0, 59], [0, 59], [0, 23], [1, 31], [1, 12], [0, 6]];

function field(text: string, [min, max]: [number, number], name: string): Field {
  const allowed = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`NCRONTAB ${name} field "${text}" is not valid`);
    const from = m[1] === '*' ? min : Number(m[2]);
    const to = m[1] === '*' ? max : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? max : from;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (from < min || to > max || from > to || step < 1) throw new Error(`NCRONTAB ${name} field "${text}" is out of range ${min}-${max}`);
    for (let v = from; v <= to; v += step) allowed.add(v);
  }
  return (value) => allowed.has(value);
}

/** The first time after `from` (UTC, whole seconds) that the schedule fires. */
export function nextOccurrence(schedule: string, from: Date): Date {
  const interval = /^(\d{1,2}):(\d{2}):(\d{2})$/.exec(schedule.trim());
  if (interval) {
    const ms = (Number(interval[1]) * 3600 + Number(interval[2]) * 60 + Number(interval[3])) * 1000;
    if (ms <= 0) throw new Error(`timer interval "${schedule}" must be positive`);
    return new Date(from.getTime() + ms);
  }
  const parts = schedule.trim().split(/\s+/);
  if (parts.length !== 6) throw new Error(`NCRONTAB "${schedule}" needs six fields (second minute hour day month day-of-week)`);
  const names = ['second', 'minute', 'hour', 'day', 'month', 'day-of-week'];
  const [sec, min, hour, day, month, dow] = parts.map((p, i) => field(p, RANGES[i] as [number, number], names[i] ?? ''));
  const t = new Date(Math.floor(from.getTime() / 1000) * 1000 + 1000);
  const limit = from.getTime() + 366 * 86_400_000 * 5;
  while (t.getTime() <= limit) {
    if (!month?.(t.getUTCMonth() + 1)) {
      t.setUTCMonth(t.getUTCMonth() + 1, 1);
      t.setUTCHours(0, 0, 0);
    } else if (!day?.(t.getUTCDate()) || !dow?.(t.getUTCDay())) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0);
    } else if (!hour?.(t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0);
    } else if (!min?.(t.getUTCMinutes())) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0);
    } else if (!sec?.(t.getUTCSeconds())) {
      t.setUTCSeconds(t.getUTCSeconds() + 1);
    } else {
      return t;
    }
  }
  throw new Error(`NCRONTAB "${schedule}" never fires`);
}
