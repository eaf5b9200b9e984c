// Checks infra/ without a Bicep compiler or Azure: every file parses (tree-sitter-bicep), the templates hang
// together (symbols, module arguments, outputs), and main.bicep and azure.yaml follow azd's conventions.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { BicepFile, bicepParser, descendants, isPlainObject, localNames, property, Scope, stringLiteral, symbolUses, syntaxProblems } from './bicep';
import { files, loadInfraFixture, main, moduleCall, only, readText, value } from './infraFixture';

before(loadInfraFixture);

describe('infra parses', () => {
  test('every .bicep file under infra/ parses with no ERROR or MISSING node', async (t) => {
    assert.ok(files.length >= 2, 'expected infra/main.bicep and modules');
    for (const file of files) {
      await t.test(file.rel, () => {
        assert.deepEqual(syntaxProblems(file), [], `${file.rel} has syntax errors`);
      });
    }
  });

  test('the syntax check reports a broken file with its line', async () => {
    const parser = await bicepParser();
    const broken = "param ok string\nresource st 'Microsoft.Storage/storageAccounts@2025-01-01' = {\n  name: \n  location: [\n}\n";
    const tree = parser.parse(broken);
    assert.ok(tree);
    const problems = syntaxProblems(new BicepFile('broken.bicep', broken, tree.rootNode));
    assert.ok(problems.length > 0, 'a broken template must produce problems');
    assert.match(problems[0] ?? '', /^broken\.bicep:\d+:\d+ /);
  });

  test('JSON files are valid and main.parameters.json maps only declared parameters', () => {
    JSON.parse(readText('infra/abbreviations.json'));
    const parameters = (JSON.parse(readText('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> }).parameters;
    const declared = new Map(main.of('param').map((p) => [p.name, p]));
    for (const name of Object.keys(parameters)) assert.ok(declared.has(name), `main.parameters.json sets ${name}, which main.bicep does not declare`);
    for (const p of declared.values()) {
      if (!p.value) assert.ok(parameters[p.name], `required parameter ${p.name} is not mapped in main.parameters.json`);
      // "${VAR=default}" defaults must agree with the Bicep default, or azd and `az deployment` deploy different things.
      const mapped = parameters[p.name]?.value;
      const fallback = typeof mapped === 'string' ? /^\$\{[A-Z0-9_]+=(.*)\}$/.exec(mapped)?.[1] : undefined;
      if (fallback !== undefined && p.value) {
        assert.equal(fallback, String(new Scope(main).evaluate(p.value)), `default of ${p.name} differs between main.parameters.json and main.bicep`);
      }
    }
  });
});

describe('templates hang together (what `bicep build` would check)', () => {
  test('every identifier names a declaration, a loop or lambda variable', () => {
    const unknown: string[] = [];
    for (const file of files) {
      const locals = localNames(file);
      for (const use of symbolUses(file)) {
        if (!file.byName.has(use.text) && !locals.has(use.text) && use.text !== 'az' && use.text !== 'sys') {
          unknown.push(`${file.where(use)} ${use.text}`);
        }
      }
    }
    assert.deepEqual(unknown, []);
  });

  test('no unused parameters or variables', () => {
    const unused: string[] = [];
    for (const file of files) {
      const used = new Set(symbolUses(file).map((n) => n.text));
      for (const d of [...file.of('param'), ...file.of('var')]) if (!used.has(d.name)) unused.push(`${file.where(d.node)} ${d.kind} ${d.name}`);
    }
    assert.deepEqual(unused, []);
  });

  test('module calls pass declared parameters, all required ones, and read declared outputs', () => {
    const problems: string[] = [];
    for (const file of files) {
      const modules = new Map<string, BicepFile>();
      for (const call of file.of('module')) {
        const target = new Scope(file).module(files, call).file;
        modules.set(call.name, target);
        const declared = new Map(target.of('param').map((p) => [p.name, p]));
        const passed = (property(call.body, 'params')?.namedChildren ?? []).filter((n) => n.type === 'object_property').map((n) => stringLiteral(n.namedChildren[0]) ?? n.namedChildren[0]?.text ?? '');
        for (const name of passed) if (!declared.has(name)) problems.push(`${file.where(call.node)} ${call.name} passes unknown parameter ${name}`);
        for (const p of declared.values()) if (!p.value && !passed.includes(p.name)) problems.push(`${file.where(call.node)} ${call.name} misses required parameter ${p.name}`);
        if (target.targetScope !== file.targetScope && !property(call.body, 'scope')) problems.push(`${file.where(call.node)} ${call.name} needs a scope for a ${target.targetScope} module`);
      }
      for (const n of descendants(file.root)) {
        const outputs = n.type === 'member_expression' ? n.childForFieldName('object') : null;
        if (outputs?.type !== 'member_expression' || outputs.childForFieldName('property')?.text !== 'outputs') continue;
        const target = modules.get(outputs.childForFieldName('object')?.text ?? '');
        const name = n.childForFieldName('property')?.text ?? '';
        if (target && !target.of('output').some((o) => o.name === name)) problems.push(`${file.where(n)} ${target.rel} has no output ${name}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('every abbrs.<name> exists in abbreviations.json', () => {
    const abbreviations = JSON.parse(readText('infra/abbreviations.json')) as Record<string, string>;
    const used = descendants(main.root).filter((n) => n.type === 'member_expression' && n.childForFieldName('object')?.text === 'abbrs');
    assert.ok(used.length > 0);
    for (const n of used) {
      const key = n.childForFieldName('property')?.text ?? '';
      assert.ok(key in abbreviations, `${main.where(n)} abbrs.${key} is not in abbreviations.json`);
    }
  });
});

describe('azd conventions', () => {
  test('subscription-scoped main with a uniqueString resource token, azd tags and UPPER_SNAKE outputs', () => {
    assert.equal(main.targetScope, 'subscription');
    const token = main.byName.get('resourceToken');
    assert.ok(token?.value && descendants(token.value).some((n) => n.type === 'identifier' && n.text === 'uniqueString'), 'resourceToken must come from uniqueString(...)');
    const rg = main.resources('Microsoft.Resources/resourceGroups')[0];
    const rgTags = new Scope(main).evaluate(property(rg?.body, 'tags'));
    assert.ok(isPlainObject(rgTags) && 'azd-env-name' in rgTags, 'the resource group carries azd-env-name');
    const { scope } = moduleCall('modules/function-app.bicep');
    const site = only(scope, 'Microsoft.Web/sites');
    const siteTags = value(scope, site.body, 'tags');
    assert.ok(isPlainObject(siteTags), 'function app tags should evaluate to an object');
    assert.equal(siteTags['azd-service-name'], 'api');
    assert.ok('azd-env-name' in siteTags);
    for (const output of main.of('output')) assert.match(output.name, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/, `${main.where(output.node)} output ${output.name}`);
  });

  test('azure.yaml: service api is a TypeScript function; the event subscription follows the first deploy; azd down is refused', () => {
    const yaml = readText('azure.yaml');
    assert.match(yaml, /^services:\n {2}api:\n(?: {4}.*\n)*? {4}project: \.\n/m);
    assert.match(yaml, /^ {4}language: ts$/m);
    assert.match(yaml, /^ {4}host: function$/m);
    // The postdeploy hook that turns the subscription on is tested in hooks.eventSubscription.test.ts.
    assert.match(yaml, /^ {2}postdeploy:\n {4}posix:\n(?: {6}.*\n)*? {6}run: node infra\/hooks\/enable-event-subscription\.js$/m);
    // azd down deletes every resource group the deployment touched, including the vault's and the accounts'.
    const predown = /^ {2}predown:\n((?: {4,}.*\n|\n)+)/m.exec(yaml)?.[1] ?? '';
    for (const shell of ['posix', 'windows']) {
      const block = new RegExp(`^ {4}${shell}:\\n((?: {6,}.*\\n|\\n)+)`, 'm').exec(predown)?.[1] ?? '';
      assert.match(block, /^\s*exit 1\s*$/m, `predown (${shell}) must refuse azd down`);
    }
    const parameters = JSON.parse(readText('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> };
    assert.equal(parameters.parameters.deployEventSubscription?.value, '${DEPLOY_EVENT_SUBSCRIPTION=false}');
  });
});
