import type { Attributes, Gauge, Meter } from '@opentelemetry/api';
import { FINDING_RULES, type FindingCode } from '../domain/findings';
import type { EventFields, TelemetryEvent } from './catalogue';

/** The metrics the service exports; README's Metrics section and the workbook name the same figures. */
export const METRICS = {
  /** Account jobs that ended, by outcome (the ledger status, or outcome-unknown), trigger and kind. */
  rotations: 'cmk.rotations',
  /** Seconds the job's last attempt took, from its start to the account read back. */
  rotationDuration: 'cmk.rotation.duration',
  /** Seconds from the key version's creation to the account verified on it (Azure Storage picks a version up within 24 h). */
  bindingLag: 'cmk.binding.lag',
  /** Findings of the latest sweep, by severity and code. */
  findings: 'cmk.findings',
  /** Bindings on each key version at the latest sweep. */
  boundAccounts: 'cmk.accounts.bound',
} as const;

/** Where the same figures are shown in Azure: the workbook infra/modules/workbook.bicep deploys, by tab. */
export const WORKBOOK = {
  displayName: 'cmk-rotator operations',
  tabs: { rotations: 'Rotations', findings: 'Findings', bindingLag: 'Binding lag', keyVersions: 'Key versions' },
} as const;

/** Up to two days in seconds: a lag is seconds after an event, hours after a missed one that a sweep repaired. */
const LAG_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400, 172800];
const DURATION_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];

/** The metrics of the events: counts and histograms per job, gauges per sweep. */
export class ServiceMetrics {
  private readonly rotations;
  private readonly duration;
  private readonly lag;
  private readonly findings: LastValues;
  private readonly bound: LastValues;
  /** Key versions a running sweep reported, recorded when it ends (a failed sweep's are dropped). */
  private readonly versions = new Map<string, Attributes[]>();

  constructor(meter: Meter) {
    this.rotations = meter.createCounter(METRICS.rotations, { description: 'Account jobs that ended, by outcome, trigger and kind', unit: '{rotation}' });
    this.duration = meter.createHistogram(METRICS.rotationDuration, {
      description: 'Seconds an account job\'s last attempt took', unit: 's', advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.lag = meter.createHistogram(METRICS.bindingLag, {
      description: 'Seconds from the key version\'s creation to the account verified on it', unit: 's', advice: { explicitBucketBoundaries: LAG_BUCKETS },
    });
    this.findings = new LastValues(meter.createGauge(METRICS.findings, { description: 'Findings of the latest sweep', unit: '{finding}' }));
    this.bound = new LastValues(meter.createGauge(METRICS.boundAccounts, { description: 'Bindings on each key version at the latest sweep', unit: '{binding}' }));
  }

  record(e: TelemetryEvent): void {
    switch (e.event) {
      case 'rotation.finished':
        return this.finished(e.fields as EventFields<'rotation.finished'>);
      case 'rotation.outcome-unknown': {
        const f = e.fields as EventFields<'rotation.outcome-unknown'>;
        this.rotations.add(1, { outcome: 'outcome-unknown', trigger: text(f.trigger), kind: text(f.kind) });
        return;
      }
      case 'sweep.key-version': {
        const f = e.fields as EventFields<'sweep.key-version'>;
        const sweep = text(f.sweepId);
        this.versions.set(sweep, [...(this.versions.get(sweep) ?? []), { vault: text(f.vaultUri), key: text(f.keyName), keyVersion: text(f.keyVersion), count: Number(f.accounts ?? 0) }]);
        return;
      }
      case 'sweep.done':
        return this.sweepDone(e.fields as EventFields<'sweep.done'>);
      default:
        return;
    }
  }

  private finished(f: EventFields<'rotation.finished'>): void {
    const outcome = { outcome: text(f.status), trigger: text(f.trigger), kind: text(f.kind) };
    this.rotations.add(1, outcome);
    if (typeof f.durationMs === 'number') this.duration.record(f.durationMs / 1000, outcome);
    if (typeof f.bindingLagSeconds === 'number') this.lag.record(f.bindingLagSeconds, { trigger: text(f.trigger), key: text(f.keyName) });
  }

  private sweepDone(f: EventFields<'sweep.done'>): void {
    const sweep = text(f.sweepId);
    const versions = this.versions.get(sweep) ?? [];
    this.versions.delete(sweep);
    if (f.status === 'failed') return;
    const byCode = (typeof f.findingsByCode === 'object' ? f.findingsByCode : {}) as Record<string, number>;
    this.findings.set(Object.entries(byCode).map(([code, count]) => ({ attributes: { code, severity: FINDING_RULES[code as FindingCode]?.severity ?? 'unknown' }, value: count })));
    this.bound.set(versions.map(({ count, ...attributes }) => ({ attributes, value: Number(count) })));
  }
}

/** A gauge that says 0 for a series the latest sweep no longer has (a finding fixed, a version no longer bound). */
class LastValues {
  private previous = new Map<string, Attributes>();

  constructor(private readonly gauge: Gauge) {}

  set(values: Array<{ attributes: Attributes; value: number }>): void {
    const now = new Map(values.map((v) => [JSON.stringify(v.attributes), v.attributes]));
    for (const [key, attributes] of this.previous) if (!now.has(key)) this.gauge.record(0, attributes);
    for (const v of values) this.gauge.record(v.value, v.attributes);
    this.previous = now;
  }
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
