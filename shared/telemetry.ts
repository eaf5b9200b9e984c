// The event catalogue every log line, query, alert and test reads (shared/telemetry/catalogue.ts).
export { TELEMETRY, type EventFields, type EventName, type TelemetryEvent } from './telemetry/catalogue';
