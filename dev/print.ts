// Console output for the demos (dev only).
export const out = (line = ''): void => void process.stdout.write(`${line}\n`);

export const short = (v: string | undefined): string => (v ? `${v.slice(0, 8)}…` : '-');

export function table(rows: string[][], indent = '   '): void {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const r of rows) out(`${indent}${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}`);
}
