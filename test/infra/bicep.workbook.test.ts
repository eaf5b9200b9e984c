// The workbook: deployed by main.bicep on the app's Application Insights, with the tabs the README and the demo name,
// and queries that read only events, fields and metrics the service emits (the catalogue and METRICS).
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { METRICS, WORKBOOK } from '../../shared/telemetry/metrics';
import { isPlainObject, paramsUsed, propertyPath, type Node } from './bicep';
import { loadInfraFixture, main, moduleCall, only, value } from './infraFixture';
import { catalogueProblems, telemetryReads } from './kql';

before(loadInfraFixture);

interface Item {
  type: number;
  name: string;
  content: { query?: string; title?: string; items?: Item[]; links?: Array<{ linkLabel: string; subTarget: string }> };
  conditionalVisibility?: { parameterName: string; value: string };
}

function workbook(): { data: { items: Item[]; fallbackResourceIds: string[] }; properties: Record<string, unknown> } {
  const { scope } = moduleCall('modules/workbook.bicep');
  const resource = only(scope, 'Microsoft.Insights/workbooks');
  const properties = value(scope, resource.body, 'properties');
  assert.ok(isPlainObject(properties));
  // serializedData is the template with the component id put in; the template itself is loaded from workbook.json.
  const content = scope.file.byName.get('content');
  const loaded = scope.evaluate(content?.value?.namedChildren.find((n) => n.type === 'arguments')?.namedChildren[0]);
  assert.equal(typeof loaded, 'string', 'the workbook template is loaded with loadTextContent');
  return { data: JSON.parse(loaded as string), properties };
}

/** Every query item with the tab (group) it is shown in. */
function queries(): Array<{ tab: string; title: string; query: string }> {
  const out: Array<{ tab: string; title: string; query: string }> = [];
  const walk = (items: Item[], tab: string): void => {
    for (const item of items) {
      if (item.type === 3 && item.content.query) out.push({ tab, title: item.content.title ?? item.name, query: item.content.query });
      if (item.content.items) walk(item.content.items, item.conditionalVisibility?.value ?? tab);
    }
  };
  walk(workbook().data.items, '');
  return out;
}

describe('workbook', () => {
  test('main.bicep deploys it on the Application Insights component the app writes to, as a shared workbook', () => {
    const { call, scope } = moduleCall('modules/workbook.bicep');
    assert.deepEqual([...paramsUsed(main, propertyPath(call.body, 'params.applicationInsightsId') as Node)], []);
    assert.match(propertyPath(call.body, 'params.applicationInsightsId')?.text ?? '', /^monitoring\.outputs\.applicationInsightsId$/);
    const { properties, data } = workbook();
    assert.equal(value(scope, only(scope, 'Microsoft.Insights/workbooks').body, 'kind'), 'shared');
    assert.equal(properties.category, 'workbook');
    assert.equal(properties.displayName, WORKBOOK.displayName);
    assert.deepEqual(data.fallbackResourceIds, ['__APPLICATION_INSIGHTS_ID__'], 'the placeholder the module replaces with the component id');
  });

  test('the tabs are the ones the demo and README name, and each shows queries', () => {
    const tabs = workbook().data.items.find((i) => i.type === 11)?.content.links ?? [];
    assert.deepEqual(tabs.map((t) => t.linkLabel), Object.values(WORKBOOK.tabs));
    const shown = new Set(queries().map((q) => q.tab));
    for (const tab of tabs) assert.ok(shown.has(tab.subTarget), `tab ${tab.linkLabel} shows at least one query`);
  });

  test('every query reads events, fields and metrics the service emits', () => {
    const all = queries();
    assert.ok(all.length >= 5);
    for (const q of all) assert.deepEqual(catalogueProblems(q.query), [], `${q.title}: ${q.query}`);
  });

  test('it shows what the issue asks: rotations by outcome, failed and refused with reasons, findings by severity, lag percentiles, accounts per version', () => {
    const all = queries();
    const reading = (event: string, field: string) => all.filter((q) => telemetryReads(q.query).events.includes(event) && telemetryReads(q.query).fields.includes(field));
    assert.ok(reading('rotation.finished', 'status').some((q) => /summarize[^|]*by bin\(timestamp/.test(q.query)), 'rotations over time by outcome');
    assert.ok(reading('rotation.finished', 'reason').some((q) => /"refused"/.test(q.query) && /"failed"/.test(q.query)), 'failed and refused rotations with reasons');
    assert.ok(reading('sweep.done', 'critical').length && reading('sweep.done', 'warning').length, 'findings by severity');
    assert.ok(reading('rotation.finished', 'bindingLagSeconds').some((q) => /percentile\(/.test(q.query)), 'binding lag percentiles');
    assert.ok(reading('sweep.key-version', 'accounts').length, 'accounts per key version');
    assert.ok(all.some((q) => telemetryReads(q.query).metrics.includes(METRICS.bindingLag)), 'the binding lag metric too');
  });

  test('its current critical findings are the alert\'s: the latest completed sweep and the partial ones since, and expiry events', () => {
    const current = queries().filter((q) => telemetryReads(q.query).events.includes('finding.critical'));
    assert.ok(current.length);
    for (const { query } of current) {
      assert.match(query, /status\s*==\s*"completed"/);
      assert.match(query, /tostring\(e\.sweepId\)\s+in\s+\(current\)/);
      assert.match(query, /isempty\(tostring\(e\.sweepId\)\)/, 'findings an expiry event reported count too');
    }
  });
});
