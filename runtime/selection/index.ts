import type { AssetGraph } from '../graph.js';
import { parseSelection } from './parser.js';
import { resolveSelection } from './resolve.js';

export type { SelectionNode, SelectionFunction, AttributeName } from './ast.js';
export { SelectionSyntaxError, UnknownAssetError } from './errors.js';
export { parseSelection } from './parser.js';
export { resolveSelection } from './resolve.js';
export { suggestKeys } from './suggest.js';

/** Resolves a selection expression; no expression (undefined, blank or `*`) selects every asset. */
export function selectAssets(text: string | undefined, graph: AssetGraph): Set<string> {
  if (text === undefined || text.trim() === '' || text.trim() === '*') return new Set(graph.keys());
  return resolveSelection(parseSelection(text), graph);
}
