// Reads infra/ as tree-sitter-bicep parse trees and answers questions about them: declarations, property values
// (evaluated through variables, parameters and module arguments), and what an expression refers to.
// There is no Bicep compiler offline, so the tests lean on this model instead of `bicep build`.
export type { Node } from 'web-tree-sitter';
export { bicepParser, loadInfra, repoRoot, syntaxProblems } from './load';
export { BicepFile, type Declaration } from './model';
export { property, propertyKey, propertyPath, stringLiteral } from './literals';
export { isPlainObject, Opaque, Scope, type Value } from './evaluate';
export { descendants, localNames, paramsUsed, reachable, symbolUses } from './references';
