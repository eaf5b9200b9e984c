// Finding and parsing the templates: the repository root, one web-tree-sitter parser with the tree-sitter-bicep
// grammar, every .bicep file under infra/ as a BicepFile, and the ERROR / MISSING nodes of a parse.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Language, Parser, type Node } from 'web-tree-sitter';
import { BicepFile } from './model';

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
