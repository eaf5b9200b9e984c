// Reads infra/ as tree-sitter-bicep parse trees and answers questions about them: declarations, property values
// (evaluated through variables, parameters and module arguments), and what an expression refers to.
// There is no Bicep compiler offline, so the tests lean on this model instead of `bicep build`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Language, Parser, type Node } from 'web-tree-sitter';

export type { Node };

/** The repository root: the nearest ancestor of this file that holds infra/main.bicep. */
export function repoRoot(start: string = __dirname): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'infra', 'main.bicep')) && existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no infra/main.bicep above ${start}`);
  }
}

let parserPromise: Promise<Parser> | undefined;

/** One parser per process; the grammar is the .wasm that tree-sitter-bicep ships (no native build needed). */
export function bicepParser(): Promise<Parser> {
  parserPromise ??= (async () => {
    await Parser.init();
    const language = await Language.load(require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm'));
    const parser = new Parser();
    parser.setLanguage(language);
    return parser;
  })();
  return parserPromise;
}

export interface Declaration {
  kind: 'param' | 'var' | 'resource' | 'module' | 'output' | 'func';
  name: string;
  node: Node;
  /** param default / var value / output value. */
  value?: Node;
  /** param type name (string, int, bool, array, object). */
  type?: string;
  /** resource type ('Microsoft.X/y') and API version, or the module's path. */
  target?: string;
  apiVersion?: string;
  /** The resource or module body object (inside `if` / `for` when present). */
  body?: Node;
  condition?: Node;
  loop?: { iterable: Node; variables: string[] };
  existing?: boolean;
  decorators: Node[];
}

export class BicepFile {
  readonly declarations: Declaration[] = [];
  readonly byName = new Map<string, Declaration>();

  constructor(
    readonly rel: string,
    readonly text: string,
    readonly root: Node,
  ) {
    let decorators: Node[] = [];
    for (const child of root.namedChildren) {
      if (child.type === 'decorators') {
        decorators = child.namedChildren.filter((d) => d.type === 'decorator');
        continue;
      }
      const declaration = declare(child, decorators);
      decorators = [];
      if (!declaration) continue;
      this.declarations.push(declaration);
      if (declaration.kind !== 'output') this.byName.set(declaration.name, declaration);
    }
  }

  get targetScope(): string {
    const assignment = this.root.namedChildren.find((n) => n.type === 'target_scope_assignment');
    return assignment ? stringLiteral(assignment.namedChildren[0]) ?? '?' : 'resourceGroup';
  }

  of(kind: Declaration['kind']): Declaration[] {
    return this.declarations.filter((d) => d.kind === kind);
  }

  resources(type: string): Declaration[] {
    return this.of('resource').filter((r) => r.target?.toLowerCase() === type.toLowerCase());
  }

  /** "file:line" of a node, for assertion messages. */
  where(node: Node): string {
    return `${this.rel}:${node.startPosition.row + 1}`;
  }
}

function declare(node: Node, decorators: Node[]): Declaration | undefined {
  const named = node.namedChildren;
  const nameNode = named.find((n) => n.type === 'identifier');
  const name = nameNode?.text ?? '';
  switch (node.type) {
    case 'parameter_declaration': {
      const typeNode = named.find((n) => n.type === 'type');
      const value = named.slice(named.indexOf(typeNode as Node) + 1)[0];
      return { kind: 'param', name, node, type: typeNode?.text, value, decorators };
    }
    case 'variable_declaration':
      return { kind: 'var', name, node, value: named[1], decorators };
    case 'output_declaration':
      return { kind: 'output', name, node, type: named[1]?.text, value: named[2], decorators };
    case 'user_defined_function':
      return { kind: 'func', name: node.childForFieldName('name')?.text ?? '', node, decorators };
    case 'resource_declaration':
    case 'module_declaration': {
      const target = stringLiteral(named[1]) ?? '';
      const [typeName = '', apiVersion] = node.type === 'resource_declaration' ? target.split('@') : [target];
      const declaration: Declaration = {
        kind: node.type === 'resource_declaration' ? 'resource' : 'module',
        name,
        node,
        target: typeName,
        apiVersion,
        existing: node.children.some((c) => c.type === 'existing'),
        decorators,
      };
      const shape = named[2];
      unwrapBody(declaration, shape);
      return declaration;
    }
    default:
      return undefined;
  }
}

function unwrapBody(declaration: Declaration, shape: Node | undefined): void {
  if (!shape) return;
  if (shape.type === 'object') {
    declaration.body = shape;
  } else if (shape.type === 'if_statement') {
    declaration.condition = shape.namedChildren[0];
    declaration.body = shape.namedChildren.find((n) => n.type === 'object');
  } else if (shape.type === 'for_statement') {
    // web-tree-sitter hands out a fresh wrapper per access: compare nodes by id, never by identity.
    const parameters = shape.namedChildren.find((n) => n.type === 'for_loop_parameters');
    const initializer = shape.childForFieldName('initializer');
    const body = shape.childForFieldName('body');
    const variables = parameters ? parameters.namedChildren.map((n) => n.text) : initializer ? [initializer.text] : [];
    const skip = new Set([parameters?.id, initializer?.id, body?.id]);
    const iterable = shape.namedChildren.find((n) => !skip.has(n.id));
    if (iterable) declaration.loop = { iterable, variables };
    unwrapBody(declaration, body ?? undefined);
  }
}

/** Parses every .bicep file under infra/, sorted by path. */
export async function loadInfra(root: string): Promise<BicepFile[]> {
  const parser = await bicepParser();
  const infra = path.join(root, 'infra');
  const files: BicepFile[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.bicep')) {
        const text = readFileSync(full, 'utf8');
        const tree = parser.parse(text);
        if (!tree) throw new Error(`tree-sitter returned no tree for ${full}`);
        files.push(new BicepFile(path.relative(root, full).split(path.sep).join('/'), text, tree.rootNode));
      }
    }
  };
  walk(infra);
  return files.sort((a, b) => a.rel.localeCompare(b.rel));
}

/** ERROR and MISSING nodes, as "file:line:col message" strings. */
export function syntaxProblems(file: BicepFile): string[] {
  const problems: string[] = [];
  const visit = (node: Node): void => {
    if (node.isError || node.isMissing) {
      const at = `${file.rel}:${node.startPosition.row + 1}:${node.startPosition.column + 1}`;
      problems.push(node.isMissing ? `${at} missing ${node.type}` : `${at} cannot parse "${node.text.slice(0, 60)}"`);
    }
    if (node.hasError || node.isMissing) for (const child of node.children) visit(child);
  };
  visit(file.root);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// Objects and literals
// ---------------------------------------------------------------------------------------------------------------

/** The text of a string literal without interpolation, else undefined. */
export function stringLiteral(node: Node | null | undefined): string | undefined {
  if (!node || node.type !== 'string') return undefined;
  if (node.namedChildren.some((c) => c.type === 'interpolation')) return undefined;
  return stringParts(node);
}

function stringParts(node: Node, interpolate?: (expr: Node) => string): string {
  const raw = node.text;
  if (raw.startsWith("'''")) return raw.slice(3, -3);
  let out = '';
  for (const part of node.namedChildren) {
    if (part.type === 'string_content') out += part.text;
    else if (part.type === 'escape_sequence') out += unescape(part.text);
    else if (part.type === 'interpolation') out += interpolate ? interpolate(part.namedChildren[0] as Node) : part.text;
  }
  return out;
}

function unescape(sequence: string): string {
  const map: Record<string, string> = { "\\'": "'", '\\\\': '\\', '\\n': '\n', '\\r': '\r', '\\t': '\t', '\\$': '$' };
  return map[sequence] ?? sequence;
}

/** The key of an object_property (identifier or quoted). */
export function propertyKey(property: Node): string {
  const key = property.namedChildren[0];
  return stringLiteral(key) ?? key?.text ?? '';
}

/** The value node of `key` in an object node. */
export function property(object: Node | undefined, key: string): Node | undefined {
  if (!object || object.type !== 'object') return undefined;
  const found = object.namedChildren.find((p) => p.type === 'object_property' && propertyKey(p) === key);
  return found?.namedChildren[1];
}

/** Follows a dotted path of literal object properties ("properties.filter"). */
export function propertyPath(object: Node | undefined, dotted: string): Node | undefined {
  let node = object;
  for (const key of dotted.split('.')) node = property(node, key);
  return node;
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation: literals, variables, parameters (bound to module arguments or their defaults) and a few functions
// ---------------------------------------------------------------------------------------------------------------

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
    }
    return new Opaque(this, node);
  }
}

export function isPlainObject(v: Value | undefined): v is { [key: string]: Value } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Opaque);
}

// ---------------------------------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------------------------------

/** Every node under `node`, including itself. */
export function descendants(node: Node): Node[] {
  const out: Node[] = [];
  const visit = (n: Node): void => {
    out.push(n);
    for (const c of n.namedChildren) visit(c);
  };
  visit(node);
  return out;
}

/**
 * Nodes reachable from `node`: its own subtree plus, transitively, the values of the variables it names.
 * Answers "does this expression end up using X" without evaluating conditionals.
 */
export function reachable(file: BicepFile, node: Node): Node[] {
  const out: Node[] = [];
  const seen = new Set<number>();
  const visit = (n: Node): void => {
    for (const d of descendants(n)) {
      out.push(d);
      if (d.type !== 'identifier') continue;
      const declaration = file.byName.get(d.text);
      if (declaration?.kind === 'var' && declaration.value && !seen.has(declaration.node.id)) {
        seen.add(declaration.node.id);
        visit(declaration.value);
      }
    }
  };
  visit(node);
  return out;
}

/** Names of the params an expression depends on, through variables. */
export function paramsUsed(file: BicepFile, node: Node): Set<string> {
  return new Set(
    reachable(file, node)
      .filter((n) => n.type === 'identifier' && file.byName.get(n.text)?.kind === 'param')
      .map((n) => n.text),
  );
}

/** Identifier nodes that are uses of a symbol (not declarations, keys, function names, lambda or loop variables). */
export function symbolUses(file: BicepFile): Node[] {
  return descendants(file.root).filter((n) => n.type === 'identifier' && isUse(n));
}

/** Names bound locally by lambdas and for-loops anywhere in the file. */
export function localNames(file: BicepFile): Set<string> {
  const names = new Set<string>();
  for (const n of descendants(file.root)) {
    if (n.type === 'loop_variable' || n.type === 'loop_enumerator') names.add(n.text);
    if (n.type === 'for_statement') {
      const initializer = n.childForFieldName('initializer');
      if (initializer?.type === 'identifier') names.add(initializer.text);
    }
    if (n.type === 'lambda_expression') {
      const head = n.namedChildren[0];
      if (head?.type === 'identifier') names.add(head.text);
      if (head?.type === 'parenthesized_expression') for (const p of head.namedChildren) names.add(p.text);
    }
    if (n.type === 'parameter') names.add(n.namedChildren[0]?.text ?? '');
  }
  return names;
}

function isUse(n: Node): boolean {
  const parent = n.parent;
  if (!parent) return false;
  const first = parent.namedChildren[0];
  switch (parent.type) {
    case 'parameter_declaration':
    case 'variable_declaration':
    case 'resource_declaration':
    case 'module_declaration':
    case 'output_declaration':
    case 'metadata_declaration':
    case 'object_property':
    case 'parameter':
      return first?.id !== n.id;
    case 'call_expression':
      return parent.childForFieldName('function')?.id !== n.id;
    case 'user_defined_function':
      return parent.childForFieldName('name')?.id !== n.id;
    case 'lambda_expression':
      return parent.namedChildren.length > 1 && first?.id !== n.id;
    case 'for_statement':
      return parent.childForFieldName('initializer')?.id !== n.id;
    case 'type':
      return false;
    default:
      return !(parent.type === 'parenthesized_expression' && parent.parent?.type === 'lambda_expression' && parent.parent.namedChildren[0]?.id === parent.id);
  }
}
