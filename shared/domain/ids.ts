import { createHash } from 'node:crypto';

/**
 * A job id derived from what the job is about, so that a re-delivered event or a retried fan-out names
 * the same jobs again (their rows and messages are then the same ones, not new ones). UUID-shaped.
 */
export function derivedId(...parts: string[]): string {
  const h = createHash('sha256').update(parts.map((p) => p.toLowerCase()).join('\n')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}
