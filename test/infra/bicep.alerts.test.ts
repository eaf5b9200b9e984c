// Alerts: failed rotations, unknown outcomes and current critical findings are log alerts over the service's events
// (names and fields from the catalogue); the critical-finding alert is stateful per finding; dead-lettered events and
// poisoned jobs alert too; every alert reaches the e-mail action group.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { POISON_QUEUE } from '../../shared/adapters/queue';
import { isPlainObject, paramsUsed, property, propertyPath, reachable, stringLiteral, type Declaration, type Node } from './bicep';
import { loadInfraFixture, main, moduleCall, only, symbolAt, value } from './infraFixture';
import { catalogueProblems, telemetryReads } from './kql';

before(loadInfraFixture);

function rules(): Array<{ rule: Declaration; criteria: Record<string, unknown>; query: string }> {
  const { scope } = moduleCall('modules/alerts.bicep');
  return scope.file.resources('Microsoft.Insights/scheduledQueryRules').flatMap((rule) => {
    const allOf = value(scope, rule.body, 'properties.criteria.allOf');
    assert.ok(Array.isArray(allOf));
    return allOf.filter(isPlainObject).map((criteria) => ({ rule, criteria, query: String(criteria.query) }));
  });
}

function ruleSelecting(event: string) {
  const found = rules().find((r) => telemetryReads(r.query).events.includes(event));
  assert.ok(found, `no alert query selects the "${event}" event; queries: ${rules().map((r) => r.query).join(' || ')}`);
  return found;
}

describe('alerts', () => {
  test('every alert query reads events and fields that the catalogue declares', () => {
    const event = rules().filter((r) => telemetryReads(r.query).events.length);
    assert.ok(event.length >= 2);
    for (const { rule, query } of event) assert.deepEqual(catalogueProblems(query), [], `${rule.name}: ${query}`);
  });

  test('failed rotations and unknown outcomes raise an alert, from the status field, each its own incident', () => {
    const failed = ruleSelecting('rotation.finished');
    assert.match(failed.query, /tostring\(e\.status\)\s*==\s*"failed"/);
    assert.equal(ruleSelecting('rotation.outcome-unknown').rule, failed.rule);
    const { scope } = moduleCall('modules/alerts.bicep');
    assert.equal(value(scope, failed.rule.body, 'properties.autoMitigate'), false);
  });

  test('the critical-finding alert keys on the latest completed sweep and the partial ones since, one alert per account and code, and resolves when the finding is gone', () => {
    const { rule, criteria, query } = ruleSelecting('finding.critical');
    assert.ok(telemetryReads(query).events.includes('sweep.done'), 'the query finds the latest sweep');
    // A partial sweep did not judge every account: it must not resolve the findings of those it did not see.
    assert.match(query, /status\s*==\s*"completed"/, 'the latest completed sweep is where current findings start');
    assert.match(query, /tostring\(e\.sweepId\)\s+in\s+\(current\)/, 'only findings of the sweeps since count');
    const dimensions = (criteria.dimensions as Array<{ name: string }> | undefined)?.map((d) => d.name) ?? [];
    for (const name of ['accountId', 'code']) {
      assert.ok(dimensions.includes(name), `split by ${name}`);
      assert.match(query, new RegExp(`\\bby\\b[^|]*\\b${name}\\s*=`), `the query outputs the ${name} column`);
    }
    const { scope } = moduleCall('modules/alerts.bicep');
    assert.equal(value(scope, rule.body, 'properties.autoMitigate'), true);
    // The window must reach back past the latest sweep (every 6 h by default).
    assert.match(String(value(scope, rule.body, 'properties.windowSize')), /^P\d+D$|^PT([6-9]|\d{2,})H$/);
  });

  test('the catalogue check rejects an unknown event, an undeclared field and an unknown metric', () => {
    assert.deepEqual(catalogueProblems('traces | extend e = parse_json(message) | where tostring(e.event) == "rotation.finished" | project e.status'), []);
    assert.equal(catalogueProblems('traces | extend e = parse_json(message) | where tostring(e.event) == "rotation.failed"').length, 1);
    assert.equal(catalogueProblems('traces | extend e = parse_json(message) | where tostring(e.event) == "sweep.done" | project e.bindingLagSeconds').length, 1);
    assert.equal(catalogueProblems('customMetrics | where name == "cmk.lag"').length, 1);
  });

  test('a failed sweep raises an alert (it judged nothing, so no finding alert moves)', () => {
    const { query } = rules().find((r) => /tostring\(e\.event\)\s*==\s*"sweep\.done"\s+and\s+tostring\(e\.status\)\s*==\s*"failed"/.test(r.query)) ?? { query: '' };
    assert.ok(query, 'no alert selects a failed sweep.done');
    assert.match(query, /firstError\s*=\s*tostring\(e\.firstError\)/, 'the alert shows why');
  });

  test('a key event the service could not read (acknowledged and dropped, so never dead-lettered) raises an alert', () => {
    const { query } = ruleSelecting('key-event.rejected');
    assert.match(query, /\bproblem\s*=\s*tostring\(e\.problem\)/, 'the alert shows why');
  });

  test('a job moved to the poison queue raises an alert', () => {
    assert.ok(rules().some((r) => r.query.includes(`"${POISON_QUEUE}"`)), `no alert query watches ${POISON_QUEUE}`);
  });

  test('alerts notify the e-mail action group; dead-lettered events alert too', () => {
    const { call, scope } = moduleCall('modules/alerts.bicep');
    const group = only(scope, 'Microsoft.Insights/actionGroups');
    const receiver = propertyPath(group.body, 'properties.emailReceivers')?.namedChildren[0];
    const email = symbolAt(scope.file, property(receiver, 'emailAddress'));
    assert.equal(email?.kind, 'param');
    assert.deepEqual([...paramsUsed(main, propertyPath(call.body, `params.${email.name}`) as Node)], ['alertEmailAddress']);
    for (const rule of scope.file.resources('Microsoft.Insights/scheduledQueryRules')) {
      assert.ok(reachable(scope.file, propertyPath(rule.body, 'properties.actions') as Node).some((n) => n.text === `${group.name}.id`), `${scope.file.where(rule.node)} notifies the action group`);
      assert.ok(stringLiteral(property(rule.body, 'kind')) === 'LogAlert');
    }
    const deadLetters = only(scope, 'Microsoft.Insights/metricAlerts');
    const criteria = value(scope, deadLetters.body, 'properties.criteria.allOf');
    assert.ok(Array.isArray(criteria) && criteria.some((c) => isPlainObject(c) && c.metricName === 'DeadLetteredCount'));
  });
});
