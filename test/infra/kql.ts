// What a query reads of the service's telemetry: the events it selects (`tostring(e.event) == "..."` / `in (...)`), the
// event fields it reads (`e.<field>`, with `e = parse_json(message)`) and the metrics (`name == "cmk..."`). Checked
// against the catalogue and METRICS, so a renamed event or field breaks the test instead of an empty chart in Azure.
import { TELEMETRY, type EventName } from '../../shared/telemetry/catalogue';
import { METRICS } from '../../shared/telemetry/metrics';

export interface TelemetryReads {
  events: string[];
  fields: string[];
  metrics: string[];
}

export function telemetryReads(query: string): TelemetryReads {
  const events = new Set<string>();
  for (const m of query.matchAll(/tostring\(e\.event\)\s*(?:==\s*"([^"]+)"|in\s*\(([^)]*)\))/g)) {
    if (m[1]) events.add(m[1]);
    for (const quoted of (m[2] ?? '').matchAll(/"([^"]+)"/g)) events.add(quoted[1] as string);
  }
  const fields = new Set([...query.matchAll(/\be\.([A-Za-z_]\w*)/g)].map((m) => m[1] as string).filter((f) => f !== 'event'));
  const metrics = new Set([...query.matchAll(/\bname\s*==\s*"(cmk\.[^"]+)"/g)].map((m) => m[1] as string));
  return { events: [...events], fields: [...fields], metrics: [...metrics] };
}

/** Every reason the query's reads do not exist: unknown events, fields no selected event has, unknown metrics. */
export function catalogueProblems(query: string): string[] {
  const reads = telemetryReads(query);
  const problems: string[] = [];
  const known = reads.events.filter((e): e is EventName => Object.prototype.hasOwnProperty.call(TELEMETRY, e));
  for (const e of reads.events) if (!known.includes(e as EventName)) problems.push(`event "${e}" is not in the catalogue`);
  if (reads.fields.length && !reads.events.length) problems.push(`reads fields ${reads.fields.join(', ')} without selecting an event`);
  const declared = new Set(known.flatMap((e) => TELEMETRY[e].fields as readonly string[]));
  for (const f of reads.fields) if (!declared.has(f)) problems.push(`field "${f}" is not a field of ${known.join(', ') || 'any selected event'}`);
  const metricNames = new Set<string>(Object.values(METRICS));
  for (const m of reads.metrics) if (!metricNames.has(m)) problems.push(`metric "${m}" is not in METRICS`);
  return problems;
}
