// An Azure Monitor workbook over the app's Application Insights: rotations by outcome, failed and refused rotations,
// current findings, binding lag percentiles and accounts per key version. Its queries live in workbook.json and
// read the service's log events (shared/telemetry/catalogue.ts) and metrics; test/infra checks them against both.

@description('Region of the workbook.')
param location string

@description('Tags for the workbook.')
param tags object

@description('Resource token that keeps names unique per environment.')
param resourceToken string

@description('Application Insights component the queries read; the workbook is filed under it.')
param applicationInsightsId string

@description('Name the workbook shows in the portal (Application Insights > Workbooks).')
param displayName string = 'cmk-rotator operations'

// The template holds a placeholder where the component's id goes (the workbook opens on that component).
var content = replace(loadTextContent('workbook.json'), '__APPLICATION_INSIGHTS_ID__', applicationInsightsId)

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name must be a GUID; one per environment and component.
  name: guid(resourceToken, applicationInsightsId, 'cmk-rotator-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: content
  }
}

output workbookId string = workbook.id
