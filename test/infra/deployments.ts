// What a provision deploys, as far as it can be known offline: every module main.bicep calls (and the modules those
// call), one entry per loop iteration, without those whose condition is false, each with where it deploys.
import assert from 'node:assert/strict';
import { property, Scope, type BicepFile, type Declaration, type Node, type Value } from './bicep';

export interface Deployment {
  call: Declaration;
  /** The called module, its params bound to this iteration's arguments. */
  scope: Scope;
  /** The caller with this iteration's loop variables bound. */
  caller: Scope;
  /** "/subscriptions/<id>" or "/subscriptions/<id>/resourceGroups/<name>"; "<deployment>" is the deployment's own subscription. */
  at: string;
}

const DEPLOYMENT_SUBSCRIPTION = '/subscriptions/<deployment>';

/** Every module deployment under `root` (main.bicep) for the parameter values in `bound`. */
export function deploymentsOf(files: BicepFile[], root: BicepFile, bound: ReadonlyMap<string, Value> = new Map()): Deployment[] {
  const out: Deployment[] = [];
  const walk = (caller: Scope, callerAt: string): void => {
    for (const call of caller.file.of('module')) {
      for (const instance of iterations(caller, call)) {
        const scope = instance.module(files, call);
        const at = deploymentScope(instance, property(call.body, 'scope'), callerAt);
        out.push({ call, scope, caller: instance, at });
        walk(scope, at);
      }
    }
  };
  walk(new Scope(root, undefined, bound), DEPLOYMENT_SUBSCRIPTION);
  return out;
}

/** The first module call (at any depth) of `rel`, with its params bound through the calls above it; loops not expanded. */
export function firstCall(files: BicepFile[], root: BicepFile, rel: string, bound: ReadonlyMap<string, Value> = new Map()): { call: Declaration; scope: Scope } | undefined {
  const search = (caller: Scope): { call: Declaration; scope: Scope } | undefined => {
    for (const call of caller.file.of('module')) {
      const scope = caller.module(files, call);
      if (scope.file.rel === rel) return { call, scope };
      const found = search(scope);
      if (found) return found;
    }
    return undefined;
  };
  return search(new Scope(root, undefined, bound));
}

function iterations(caller: Scope, call: Declaration): Scope[] {
  let scopes = [caller];
  if (call.loop) {
    const items = caller.evaluate(call.loop.iterable);
    assert.ok(Array.isArray(items), `${caller.file.where(call.node)}: the loop over ${call.loop.iterable.text} should evaluate to a list, got ${String(items)}`);
    const [item = '', index] = call.loop.variables;
    scopes = items.map((v, i) => caller.withLocals(new Map<string, Value>(index ? [[item, v], [index, i]] : [[item, v]])));
  }
  // A condition that cannot be evaluated offline keeps the deployment; only a false one drops it.
  return call.condition ? scopes.filter((s) => s.evaluate(call.condition) !== false) : scopes;
}

function deploymentScope(caller: Scope, scope: Node | undefined, callerAt: string): string {
  if (!scope) return callerAt;
  const callerSubscription = callerAt.split('/').slice(0, 3).join('/');
  const text = (v: Value): string => String(v);
  if (scope.type === 'identifier') {
    const target = caller.file.byName.get(scope.text);
    assert.equal(target?.target, 'Microsoft.Resources/resourceGroups', `${caller.file.where(scope)}: scope ${scope.text} should be a resource group`);
    return `${callerSubscription}/resourceGroups/${text(caller.evaluate(property(target.body, 'name')))}`;
  }
  assert.equal(scope.type, 'call_expression', `${caller.file.where(scope)}: scope ${scope.text}`);
  const fn = scope.childForFieldName('function')?.text;
  const args = (scope.childForFieldName('arguments')?.namedChildren ?? []).map((a) => text(caller.evaluate(a)));
  if (fn === 'subscription') return args.length ? `/subscriptions/${args[0]}` : callerSubscription;
  if (fn === 'resourceGroup' && !args.length) return callerAt;
  if (fn === 'resourceGroup') return args.length === 2 ? `/subscriptions/${args[0]}/resourceGroups/${args[1]}` : `${callerSubscription}/resourceGroups/${args[0]}`;
  assert.fail(`${caller.file.where(scope)}: unknown scope function ${fn}`);
}
