// References: what an expression reaches through variables, which params it depends on, and which identifiers are
// uses of a symbol rather than declarations, keys, function names or locally bound names.
import type { Node } from 'web-tree-sitter';
import type { BicepFile } from './model';

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
