// Evaluation: literals, variables, parameters (bound to module arguments or their defaults) and a few functions.
// What cannot be computed offline stays an Opaque value that remembers its expression.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Node } from 'web-tree-sitter';
import { property, propertyKey, stringParts } from './literals';
import { repoRoot } from './load';
import type { BicepFile, Declaration } from './model';

/** A value the model cannot compute offline (a runtime property, a function it does not know). */
export class Opaque {
  constructor(
    readonly scope: Scope,
    readonly node: Node,
  ) {}
  toString(): string {
    return `\${${this.node.text}}`;
  }
}

export type Value = string | number | boolean | null | Value[] | { [key: string]: Value } | Opaque;

/**
 * A file plus the arguments its parameters are bound to (a module call), for evaluation. `params` gives parameters
 * literal values, as a deployment's parameter file would; `locals` holds lambda variables while a lambda is applied.
 */
export class Scope {
  constructor(
    readonly file: BicepFile,
    readonly args: Map<string, { scope: Scope; node: Node }> = new Map(),
    readonly params: ReadonlyMap<string, Value> = new Map(),
    private readonly locals: ReadonlyMap<string, Value> = new Map(),
  ) {}

  /** This scope with loop or lambda variables bound, e.g. one iteration of a module loop. */
  withLocals(locals: ReadonlyMap<string, Value>): Scope {
    return new Scope(this.file, this.args, this.params, new Map([...this.locals, ...locals]));
  }

  /** The scope of a module called from this file, with its params bound to the call's arguments. */
  module(files: BicepFile[], declaration: Declaration): Scope {
    const rel = path.posix.normalize(path.posix.join(path.posix.dirname(this.file.rel), declaration.target ?? ''));
    const target = files.find((f) => f.rel === rel);
    if (!target) throw new Error(`${this.file.where(declaration.node)}: module path ${declaration.target} not found`);
    const args = new Map<string, { scope: Scope; node: Node }>();
    const params = property(declaration.body, 'params');
    for (const p of params?.namedChildren ?? []) {
      const value = p.namedChildren[1];
      if (p.type === 'object_property' && value) args.set(propertyKey(p), { scope: this, node: value });
    }
    return new Scope(target, args);
  }

  evaluate(node: Node | null | undefined, seen: Set<number> = new Set()): Value {
    if (!node) return null;
    switch (node.type) {
      case 'string':
        return stringParts(node, (expr) => String(this.evaluate(expr, seen)));
      case 'number':
        return Number(node.text);
      case 'boolean':
        return node.text === 'true';
      case 'null':
        return null;
      case 'parenthesized_expression':
        return this.evaluate(node.namedChildren[0], seen);
      case 'array':
        return node.namedChildren.filter((n) => n.type !== 'comment').map((n) => this.evaluate(n, seen));
      case 'object': {
        const out: { [key: string]: Value } = {};
        for (const p of node.namedChildren) {
          if (p.type === 'object_property') out[propertyKey(p)] = this.evaluate(p.namedChildren[1], seen);
        }
        return out;
      }
      case 'identifier':
        return this.identifier(node, seen);
      case 'call_expression':
        return this.call(node, seen);
      case 'unary_expression': {
        const operand = this.evaluate(node.namedChildren[0], seen);
        if (node.children[0]?.text === '!' && typeof operand === 'boolean') return !operand;
        return new Opaque(this, node);
      }
      case 'binary_expression':
        return this.binary(node, seen);
      case 'ternary_expression': {
        const [condition, whenTrue, whenFalse] = node.namedChildren;
        const test = this.evaluate(condition, seen);
        if (typeof test === 'boolean') return this.evaluate(test ? whenTrue : whenFalse, seen);
        return new Opaque(this, node);
      }
      case 'member_expression': {
        const target = this.evaluate(node.childForFieldName('object'), seen);
        const key = node.childForFieldName('property')?.text ?? '';
        if (isPlainObject(target) && key in target) return target[key] as Value;
        return new Opaque(this, node);
      }
      case 'subscript_expression': {
        const [target, index] = node.namedChildren.map((n) => this.evaluate(n, seen));
        if (Array.isArray(target) && typeof index === 'number' && index >= 0 && index < target.length) return target[index] as Value;
        if (isPlainObject(target) && typeof index === 'string' && index in target) return target[index] as Value;
        return new Opaque(this, node);
      }
      default:
        return new Opaque(this, node);
    }
  }

  private identifier(node: Node, seen: Set<number>): Value {
    if (this.locals.has(node.text)) return this.locals.get(node.text) as Value;
    const declaration = this.file.byName.get(node.text);
    if (!declaration || seen.has(declaration.node.id)) return new Opaque(this, node);
    const next = new Set(seen).add(declaration.node.id);
    // Declarations are evaluated at file level, where no lambda variable is visible.
    const fileLevel = this.locals.size ? new Scope(this.file, this.args, this.params) : this;
    if (declaration.kind === 'var') return fileLevel.evaluate(declaration.value, next);
    if (declaration.kind === 'param') {
      if (this.params.has(declaration.name)) return this.params.get(declaration.name) as Value;
      const arg = this.args.get(declaration.name);
      if (arg) return arg.scope.evaluate(arg.node);
      if (declaration.value) return fileLevel.evaluate(declaration.value, next);
    }
    return new Opaque(this, node);
  }

  private binary(node: Node, seen: Set<number>): Value {
    const [left, right] = node.namedChildren.map((n) => this.evaluate(n, seen));
    const operator = node.children.find((c) => !c.isNamed)?.text;
    const primitive = (v: Value | undefined): v is string | number | boolean | null => v === null || ['string', 'number', 'boolean'].includes(typeof v);
    if (primitive(left) && primitive(right)) {
      switch (operator) {
        case '==':
          return left === right;
        case '!=':
          return left !== right;
        case '&&':
          if (typeof left === 'boolean' && typeof right === 'boolean') return left && right;
          break;
        case '||':
          if (typeof left === 'boolean' && typeof right === 'boolean') return left || right;
          break;
      }
    }
    return new Opaque(this, node);
  }

  /** Applies a lambda (`x => ...` or `(x, i) => ...`) to arguments. */
  private apply(lambda: Node, values: Value[], seen: Set<number>): Value {
    const head = lambda.namedChildren[0];
    const names = head?.type === 'parenthesized_expression' ? head.namedChildren.map((n) => n.text) : [head?.text ?? ''];
    const locals = new Map(this.locals);
    names.forEach((name, i) => locals.set(name, values[i] ?? null));
    return new Scope(this.file, this.args, this.params, locals).evaluate(lambda.namedChildren[lambda.namedChildren.length - 1], seen);
  }

  private call(node: Node, seen: Set<number>): Value {
    const name = node.childForFieldName('function')?.text ?? '';
    const argNodes = node.childForFieldName('arguments')?.namedChildren ?? [];
    const args = argNodes.map((a) => (a.type === 'lambda_expression' ? new Opaque(this, a) : this.evaluate(a, seen)));
    const all = <T>(guard: (v: Value) => v is Value & T): T[] | undefined =>
      args.every(guard) ? (args as unknown as T[]) : undefined;
    const [first, second] = args;
    switch (name) {
      case 'concat': {
        const arrays = all<Value[]>((v): v is Value[] => Array.isArray(v));
        if (arrays) return arrays.flat();
        const strings = all<string>((v): v is string => typeof v === 'string');
        if (strings) return strings.join('');
        break;
      }
      case 'union': {
        const objects = all<{ [key: string]: Value }>(isPlainObject);
        if (objects) return Object.assign({}, ...objects) as Value;
        // Arrays: every element once, in first-seen order (the elements here are strings).
        const arrays = all<Value[]>((v): v is Value[] => Array.isArray(v));
        if (arrays && arrays.flat().every((v) => typeof v === 'string')) return [...new Set(arrays.flat())];
        break;
      }
      case 'map':
      case 'filter': {
        const lambda = argNodes[1];
        if (!Array.isArray(first) || lambda?.type !== 'lambda_expression') break;
        const results = first.map((item, i) => this.apply(lambda, [item, i], seen));
        if (name === 'map') return results;
        if (results.every((r) => typeof r === 'boolean')) return first.filter((_, i) => results[i] === true);
        break;
      }
      case 'split':
        if (typeof first === 'string' && typeof second === 'string') return first.split(second);
        break;
      case 'join':
        if (Array.isArray(first) && first.every((v) => typeof v === 'string') && typeof second === 'string') return first.join(second);
        break;
      case 'trim':
        if (typeof first === 'string') return first.trim();
        break;
      case 'toLower':
        if (typeof first === 'string') return first.toLowerCase();
        break;
      case 'toUpper':
        if (typeof first === 'string') return first.toUpperCase();
        break;
      case 'empty':
        if (first === null) return true;
        if (typeof first === 'string' || Array.isArray(first)) return first.length === 0;
        if (isPlainObject(first)) return Object.keys(first).length === 0;
        break;
      case 'length':
        if (typeof first === 'string' || Array.isArray(first)) return first.length;
        if (isPlainObject(first)) return Object.keys(first).length;
        break;
      case 'first':
      case 'last':
        if ((typeof first === 'string' || Array.isArray(first)) && first.length) return (name === 'first' ? first[0] : first[first.length - 1]) as Value;
        break;
      case 'format': {
        const [template, ...rest] = args;
        if (typeof template === 'string') return template.replace(/\{(\d+)\}/g, (_, i: string) => String(rest[Number(i)]));
        break;
      }
      case 'string':
        if (args.length === 1 && (typeof args[0] === 'number' || typeof args[0] === 'boolean')) return String(args[0]);
        break;
      case 'contains':
        if (Array.isArray(first) && first.every(isLiteral) && isLiteral(second)) return first.includes(second);
        if (typeof first === 'string' && typeof second === 'string') return first.includes(second);
        break;
      case 'replace': {
        const third = args[2];
        if (typeof first === 'string' && typeof second === 'string' && typeof third === 'string') return first.split(second).join(third);
        break;
      }
      case 'loadTextContent':
      case 'loadJsonContent': {
        // Relative to the file that calls it, as Bicep resolves it at build time (infra/ sits under the repository root).
        if (typeof first !== 'string') break;
        const text = readFileSync(path.join(repoRoot(), path.posix.dirname(this.file.rel), first), 'utf8');
        return name === 'loadTextContent' ? text : (JSON.parse(text) as Value);
      }
      case 'guid':
      case 'uniqueString':
        if (args.length) return standIn(name, args);
        break;
    }
    return new Opaque(this, node);
  }
}

function isLiteral(v: Value | undefined): v is string | number | boolean | null {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

export function isPlainObject(v: Value | undefined): v is { [key: string]: Value } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Opaque);
}

/**
 * guid() and uniqueString() stand-ins: equal arguments give equal results, as in ARM, but not ARM's values. An opaque
 * argument (subscription().id) stands for itself by its text, which holds within one deployment scope.
 */
function standIn(name: 'guid' | 'uniqueString', args: Value[]): string {
  const text = JSON.stringify([name, ...args], (_, v: unknown) => (v instanceof Opaque ? v.toString() : v));
  const hash = createHash('sha256').update(text).digest('hex');
  if (name === 'uniqueString') return hash.slice(0, 13);
  return [hash.slice(0, 8), hash.slice(8, 12), hash.slice(12, 16), hash.slice(16, 20), hash.slice(20, 32)].join('-');
}

