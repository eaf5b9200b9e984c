// Names of the structured log records that Azure Monitor alerts query (infra/modules/alerts.bicep).
export const TELEMETRY = {
  rotationFailed: 'CmkRotationFailed',
  criticalFinding: 'CmkCriticalFinding',
} as const;
