// Azure Monitor alerts: failed rotations, current critical compliance findings and unreadable key events (from the
// app's log events), poisoned jobs, and Key Vault events that Event Grid gave up on (dead-lettered). All notify one
// e-mail action group.

@description('Region of the log alert rules.')
param location string

@description('Tags for every resource.')
param tags object

@description('Resource token that keeps names unique per environment.')
param resourceToken string

@description('Name prefix of the alert rules.')
param alertRulePrefix string

@description('Action group name.')
param actionGroupName string

@description('E-mail address that receives the alerts.')
param alertEmailAddress string

@description('Application Insights component the Function App logs to.')
param applicationInsightsId string

@description('The Key Vault Event Grid system topic.')
param systemTopicId string

// The service logs one JSON object per event, {"event": <name>, ...fields}: shared/telemetry/catalogue.ts (TELEMETRY).
// Queries read the events with parse_json(message); test/infra checks every event name and field they use against it.
var rotationFailedQuery = '''traces
| extend e = parse_json(message)
| where (tostring(e.event) == "rotation.finished" and tostring(e.status) == "failed") or tostring(e.event) == "rotation.outcome-unknown"
| project timestamp, severityLevel, event = tostring(e.event), jobId = tostring(e.jobId), accountId = tostring(e.accountId), status = tostring(e.status), reason = tostring(e.reason), operation_Id'''

// The critical findings that are current: those of the latest completed sweep and of every partial one since (a
// partial run judged only some accounts: the others keep their findings, as the Findings table does), and those an
// expiry event reported since. One alert per account and code (dimensions), resolved when a completed sweep no
// longer finds it (autoMitigate), not raised again each sweep.
var criticalFindingQuery = '''let sweeps = traces
| extend e = parse_json(message)
| where tostring(e.event) == "sweep.done" and tostring(e.status) != "failed"
| project timestamp, sweepId = tostring(e.sweepId), status = tostring(e.status);
let lastCompletedAt = toscalar(sweeps | where status == "completed" | summarize max(timestamp));
let current = sweeps | where isnull(lastCompletedAt) or timestamp >= lastCompletedAt | project sweepId;
traces
| extend e = parse_json(message)
| where tostring(e.event) == "finding.critical"
| where tostring(e.sweepId) in (current) or (isempty(tostring(e.sweepId)) and (isnull(lastCompletedAt) or timestamp > lastCompletedAt))
| summarize arg_max(timestamp, remedy = tostring(e.remedy)) by accountId = tostring(e.accountId), encryptionScope = tostring(e.encryptionScope), code = tostring(e.code)'''

@description('How far back the critical-finding alert looks for the latest sweep: at least one SWEEP_SCHEDULE interval (default 6 h).')
param findingWindow string = 'P1D'

// The host logs "... Moving message to queue '<queue>-poison'" when a job failed maxDequeueCount times.
@description('The queue whose poison queue is watched (ROTATION_QUEUE in shared/adapters/queue.ts).')
param rotationQueueName string = 'rotation-jobs'
var poisonQueueQuery = 'traces | where message has "${rotationQueueName}-poison" | project timestamp, severityLevel, message, operation_Name, operation_Id'

// A key event the service could not read is acknowledged and dropped (Event Grid would only send it again), so
// nothing dead-letters it: a change in Key Vault's event format would pass unseen but for this alert.
// A sweep that failed judged nothing: its findings neither raise nor resolve alerts, so say that it failed.
var sweepFailedQuery = '''traces
| extend e = parse_json(message)
| where tostring(e.event) == "sweep.done" and tostring(e.status) == "failed"
| project timestamp, severityLevel, sweepId = tostring(e.sweepId), trigger = tostring(e.trigger), errors = toint(e.errors), firstError = tostring(e.firstError), operation_Id'''

var rejectedEventQuery = '''traces
| extend e = parse_json(message)
| where tostring(e.event) == "key-event.rejected"
| project timestamp, severityLevel, problem = tostring(e.problem), operation_Id'''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'cmkrotator'
    enabled: true
    emailReceivers: [
      {
        name: 'cmk-rotator-owners'
        emailAddress: alertEmailAddress
        useCommonAlertSchema: true
      }
    ]
  }
}

resource rotationFailedAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertRulePrefix}cmk-rotation-failed-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'cmk-rotator: key version rebind failed, or its outcome is unknown'
    description: 'An Azure OpenAI account could not be moved to the new key version (it still uses the previous one), or a job gave up after sending an update it could not read back. See the Rotations table for the job.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: rotationFailedQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    // Each failed rebind is its own incident; do not auto-resolve it when the next window is quiet.
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource criticalFindingAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertRulePrefix}cmk-critical-finding-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'cmk-rotator: critical CMK compliance finding'
    description: 'The latest compliance sweep (or an expiry event since) found a binding that is broken or about to break (a disabled, missing or expired key version, a lost identity or access). Resolves by itself once a sweep no longer finds it.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: findingWindow
    criteria: {
      allOf: [
        {
          query: criticalFindingQuery
          timeAggregation: 'Count'
          // One alert per account, scope and code: each resolves on its own when a later sweep no longer finds it.
          dimensions: [
            {
              name: 'accountId'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'encryptionScope'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'code'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    // Stateful: fires once per finding and resolves when the latest sweep no longer reports it.
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// A job in the poison queue was given up on: a fan-out that never ran, or a rebind nobody will retry.
resource poisonQueueAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertRulePrefix}cmk-job-poisoned-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'cmk-rotator: a job was moved to the poison queue'
    description: 'A rotation job failed on every attempt and now waits in rotation-jobs-poison; read it, fix the cause, and re-run it (POST /api/rotations).'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: poisonQueueQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource sweepFailedAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertRulePrefix}cmk-sweep-failed-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'cmk-rotator: a compliance sweep failed'
    description: 'A compliance sweep ended failed (its first error and their number are in the alert; GET /api/compliance has them all): until one completes, no finding is raised or resolved and, with SWEEP_MODE=enforce, no drift is repaired.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: sweepFailedQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource rejectedEventAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertRulePrefix}cmk-event-rejected-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'cmk-rotator: a Key Vault event could not be read'
    description: 'The service received a key event it could not read (the problem is in the alert) and dropped it; the next sweep still finds what the event was about.'
    severity: 3
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: rejectedEventQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// A dead-lettered event is a key version the service never heard about; the sweep catches it later, but say so now.
resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${alertRulePrefix}cmk-event-dead-lettered-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid could not deliver a Key Vault key event to keyVaultEvents and wrote it to the dead-letter container.'
    severity: 2
    enabled: true
    scopes: [
      systemTopicId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLetteredEvents'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}
