// Alerts: every TELEMETRY record the service writes is queried by a log alert, and the alerts reach the e-mail
// action group; dead-lettered events alert too.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { POISON_QUEUE } from '../../shared/adapters/queue';
import { TELEMETRY } from '../../shared/telemetry';
import { isPlainObject, paramsUsed, property, propertyPath, reachable, type Node } from './bicep';
import { loadInfraFixture, main, moduleCall, only, symbolAt, value } from './infraFixture';

before(loadInfraFixture);

describe('alerts', () => {
  test('every TELEMETRY record name is queried by a log alert on the app\'s traces', () => {
    const names = Object.values(TELEMETRY);
    assert.ok(names.length >= 2);
    const { scope } = moduleCall('modules/alerts.bicep');
    const queries = scope.file.resources('Microsoft.Insights/scheduledQueryRules').flatMap((rule) => {
      const allOf = value(scope, rule.body, 'properties.criteria.allOf');
      assert.ok(Array.isArray(allOf));
      return allOf.filter(isPlainObject).map((c) => String(c.query));
    });
    for (const name of names) {
      assert.ok(
        queries.some((q) => new RegExp(`^\\s*(traces|AppTraces)\\b[\\s\\S]*\\bstartswith\\s+"${name}"`).test(q)),
        `no alert query selects traces whose message starts with "${name}"; queries: ${queries.join(' || ')}`,
      );
    }
  });

  test('a job moved to the poison queue raises an alert', () => {
    const { scope } = moduleCall('modules/alerts.bicep');
    const queries = scope.file.resources('Microsoft.Insights/scheduledQueryRules').flatMap((rule) => {
      const allOf = value(scope, rule.body, 'properties.criteria.allOf');
      return Array.isArray(allOf) ? allOf.filter(isPlainObject).map((c) => String(c.query)) : [];
    });
    assert.ok(queries.some((q) => q.includes(`"${POISON_QUEUE}"`)), `no alert query watches ${POISON_QUEUE}; queries: ${queries.join(' || ')}`);
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
    }
    const deadLetters = only(scope, 'Microsoft.Insights/metricAlerts');
    const criteria = value(scope, deadLetters.body, 'properties.criteria.allOf');
    assert.ok(Array.isArray(criteria) && criteria.some((c) => isPlainObject(c) && c.metricName === 'DeadLetteredCount'));
  });
});
