import type { Json, JsonObject } from './http';

// A small evaluator for exactly the Kusto the service and the REST examples send to Resource Graph:
//   resources | where <cond> [and <cond>...] | extend x = <expr> | project a, b = <expr> | order by f [asc|desc] | limit n
// with conditions ==, !=, =~, !~, contains, startswith, in, in~ over property paths, tostring() and tolower().
// Anything else is refused, as the service refuses a query it cannot parse.

export class InvalidQuery extends Error {}

type Row = JsonObject;
type Expr = (row: Row) => Json | undefined;

export function evaluate(query: string, table: Row[]): Row[] {
  const [source, ...stages] = splitTopLevel(query, '|').map((s) => s.trim());
  if (!source || source.toLowerCase() !== 'resources') throw new InvalidQuery(`the query must start with the resources table, not "${source ?? ''}"`);
  let rows = table.map((r) => ({ ...r }));
  for (const stage of stages) {
    const [verb = '', ...restWords] = stage.split(/\s+/);
    const rest = stage.slice(verb.length).trim();
    switch (verb.toLowerCase()) {
      case 'where': {
        const cond = condition(rest);
        rows = rows.filter(cond);
        break;
      }
      case 'extend':
        for (const [name, expr] of assignments(rest)) rows = rows.map((r) => ({ ...r, [name]: expr(r) ?? null }));
        break;
      case 'project': {
        const columns = assignments(rest);
        rows = rows.map((r) => Object.fromEntries(columns.map(([name, expr]) => [name, expr(r) ?? null])));
        break;
      }
      case 'order':
      case 'sort': {
        const m = /^by\s+([\w.]+)(?:\s+(asc|desc))?$/i.exec(rest);
        if (!m?.[1]) throw new InvalidQuery(`cannot read "${stage}"`);
        const field = path(m[1]);
        const sign = (m[2] ?? 'desc').toLowerCase() === 'asc' ? 1 : -1;
        // Kusto orders strings by code point, not by locale.
        rows = [...rows].sort((a, b) => {
          const x = String(field(a) ?? ''), y = String(field(b) ?? '');
          return sign * (x < y ? -1 : x > y ? 1 : 0);
        });
        break;
      }
      case 'limit':
      case 'take': {
        const n = Number(restWords[0]);
        if (!Number.isInteger(n) || n < 0 || restWords.length !== 1) throw new InvalidQuery(`cannot read "${stage}"`);
        rows = rows.slice(0, n);
        break;
      }
      default:
        throw new InvalidQuery(`the operator "${verb}" is not supported here`);
    }
  }
  return rows;
}

function condition(text: string): (row: Row) => boolean {
  const terms = splitTopLevel(text, ' and ').map((t) => t.trim());
  const tests = terms.map(term);
  return (row) => tests.every((t) => t(row));
}

function term(text: string): (row: Row) => boolean {
  const inList = /^(.+?)\s+(in~|in)\s*\((.*)\)$/s.exec(text);
  if (inList?.[1] && inList[2] && inList[3] !== undefined) {
    const lhs = expression(inList[1].trim());
    const fold = inList[2] === 'in~';
    const values = splitTopLevel(inList[3], ',').map((v) => literal(v.trim()));
    const wanted = new Set(values.map((v) => (fold ? v.toLowerCase() : v)));
    return (row) => {
      const value = text2(lhs(row));
      return value !== undefined && wanted.has(fold ? value.toLowerCase() : value);
    };
  }
  const m = /^(.+?)\s*(==|!=|=~|!~|\bcontains\b|\bstartswith\b)\s*(.+)$/s.exec(text);
  if (!m?.[1] || !m[2] || !m[3]) throw new InvalidQuery(`cannot read the condition "${text}"`);
  const lhs = expression(m[1].trim());
  const rhs = literal(m[3].trim());
  const op = m[2];
  return (row) => {
    const value = text2(lhs(row));
    if (value === undefined) return op === '!=' || op === '!~';
    switch (op) {
      case '==': return value === rhs;
      case '!=': return value !== rhs;
      case '=~': return value.toLowerCase() === rhs.toLowerCase();
      case '!~': return value.toLowerCase() !== rhs.toLowerCase();
      case 'contains': return value.toLowerCase().includes(rhs.toLowerCase());
      default: return value.toLowerCase().startsWith(rhs.toLowerCase());
    }
  };
}

function assignments(text: string): Array<[string, Expr]> {
  return splitTopLevel(text, ',').map((part) => {
    const m = /^([A-Za-z_]\w*)\s*=\s*(.+)$/s.exec(part.trim());
    if (m?.[1] && m[2]) return [m[1], expression(m[2].trim())];
    const name = part.trim();
    if (!/^[A-Za-z_][\w.]*$/.test(name)) throw new InvalidQuery(`cannot read the column "${name}"`);
    return [name.split('.').pop() ?? name, path(name)];
  });
}

function expression(text: string): Expr {
  const call = /^(tostring|tolower)\((.*)\)$/s.exec(text);
  if (call?.[1] && call[2] !== undefined) {
    const inner = expression(call[2].trim());
    return call[1] === 'tostring'
      ? (row) => { const v = inner(row); return v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v); }
      : (row) => { const v = inner(row); return typeof v === 'string' ? v.toLowerCase() : v; };
  }
  if (/^[A-Za-z_][\w.]*$/.test(text)) return path(text);
  throw new InvalidQuery(`cannot read the expression "${text}"`);
}

function path(text: string): Expr {
  const parts = text.split('.');
  return (row) => {
    let value: Json | undefined = row;
    for (const part of parts) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
      const key: string | undefined = Object.keys(value).find((k) => k.toLowerCase() === part.toLowerCase());
      value = key === undefined ? undefined : value[key];
    }
    return value;
  };
}

function literal(text: string): string {
  const m = /^'((?:[^'\\]|\\.)*)'$|^"((?:[^"\\]|\\.)*)"$/s.exec(text);
  if (!m) throw new InvalidQuery(`expected a string literal, found "${text}"`);
  return (m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1');
}

function text2(value: Json | undefined): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Splits on a separator outside quotes and parentheses. */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && text.startsWith(separator, i)) {
      parts.push(text.slice(start, i));
      start = i + separator.length;
      i += separator.length - 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
