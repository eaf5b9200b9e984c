// The declarations of one parsed file: params, vars, resources, modules, outputs and functions, with the parts the
// checks read (type, default or value, resource type and API version, body, condition, loop, decorators).
import type { Node } from 'web-tree-sitter';
import { stringLiteral } from './literals';

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
