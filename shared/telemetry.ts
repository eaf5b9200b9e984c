// Names of the structured log records that Azure Monitor alerts query (infra/modules/alerts.bicep).
export const TELEMETRY = {
  rotationFailed: 'CmkRotationFailed',
  criticalFinding: 'CmkCriticalFinding',
  /** A job gave up after sending an update whose outcome it could not read back: a person must look. */
  outcomeUnknown: 'CmkRotationOutcomeUnknown',
} as const;
