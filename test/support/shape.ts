/** Field names and value types, recursively; the values themselves are ignored. */
export type Shape = string | Shape[] | { [key: string]: Shape };

export interface ShapeOptions {
  /**
   * How an array is shaped: 'each' keeps one shape per element, in order, so length and order count;
   * 'distinct' keeps only the sorted set of distinct element shapes, so a page of two items matches a page of five.
   */
  arrays?: 'each' | 'distinct';
  /** Keys left out wherever they occur, e.g. fields the service added after the fixtures were recorded. */
  ignoreKeys?: ReadonlySet<string>;
}

/**
 * The shape of a value for contract tests: null, Dates and byte arrays are leaves ('null', 'Date', 'Uint8Array');
 * objects keep their defined keys, sorted; anything else is its typeof.
 */
export function shapeOf(value: unknown, options: ShapeOptions = {}): Shape {
  const { arrays = 'each', ignoreKeys } = options;
  const recurse = (v: unknown): Shape => shapeOf(v, options);
  if (value === null) return 'null';
  if (value instanceof Date) return 'Date';
  if (value instanceof Uint8Array) return 'Uint8Array';
  if (Array.isArray(value)) {
    if (arrays === 'each') return value.map(recurse);
    return [...new Set(value.map((v) => JSON.stringify(recurse(v))))].sort().map((s) => JSON.parse(s) as Shape);
  }
  if (typeof value !== 'object') return typeof value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key, field]) => field !== undefined && !ignoreKeys?.has(key))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, field]) => [key, recurse(field)]),
  );
}
