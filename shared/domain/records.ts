// Small shapes the stores and the telemetry share, one definition each.

/** The object without its undefined fields: a Merge keeps what an earlier write said, a log line stays short. */
export function definedFields<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The fields of `value` named in `keys` that are defined. */
export function pick<T extends object, K extends keyof T>(value: T, keys: K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(keys.filter((k) => value[k] !== undefined).map((k) => [k, value[k]])) as Partial<Pick<T, K>>;
}

/** The latest millisecond a Date holds: subtracting a time from it sorts the newest first. */
const MAX_MS = 8_640_000_000_000_000;

/** A row key that sorts newest first: inverted milliseconds of the ISO time, zero-padded, then the id. */
export function newestFirstKey(isoTime: string, id: string): string {
  const ms = Date.parse(isoTime);
  if (Number.isNaN(ms)) throw new Error(`${id}: not a date: ${isoTime}`);
  return `${String(MAX_MS - ms).padStart(16, '0')}_${id}`;
}

/** The field of a ledger history's continuation token that names the account partition it reads on in (lower case). */
export const HISTORY_TOKEN_ACCOUNT = 'account';
