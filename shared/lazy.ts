import type * as Zod from 'zod';

/** A value built on its first use, once. */
export function lazy<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}

/**
 * zod, loaded when the first message or request is validated rather than when the app starts (it takes
 * about 50 ms to load, four times @azure/functions itself). Synchronous, so validation stays synchronous.
 */
export const zod = lazy(() => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('zod') as typeof Zod;
});

/** True when a schema parses to exactly T: a wire schema and the type it feeds are checked against each other at build time. */
export type ParsesTo<S extends Zod.ZodType, T> = [Zod.output<S>] extends [T] ? ([T] extends [Zod.output<S>] ? true : false) : false;
