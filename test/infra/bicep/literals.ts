// Literal syntax: string literals (with or without interpolation) and object properties by key or dotted path.
import type { Node } from 'web-tree-sitter';

/** The text of a string literal without interpolation, else undefined. */
export function stringLiteral(node: Node | null | undefined): string | undefined {
  if (!node || node.type !== 'string') return undefined;
  if (node.namedChildren.some((c) => c.type === 'interpolation')) return undefined;
  return stringParts(node);
}

/** A string's text with escapes resolved; interpolations go through `interpolate`, or stay as written. */
export function stringParts(node: Node, interpolate?: (expr: Node) => string): string {
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
