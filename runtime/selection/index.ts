import { UsageError } from '../errors.js';
import type { AssetGraph } from '../graph.js';
import { parseSelection } from './parser.js';
import { resolveSelection } from './resolve.js';

export type { SelectionNode, SelectionFunction, AttributeName } from './ast.js';
export { SelectionSyntaxError, UnknownAssetError } from './errors.js';
export { parseSelection } from './parser.js';
export { resolveSelection } from './resolve.js';
export { editDistance, suggestKeys } from './suggest.js';

/**
 * Resolves a selection expression; no expression (undefined) or `*` selects every asset.
 * A blank expression (`--select "$UNSET"`) or one that matches nothing is a usage error: a
 * script must never run — or fully refresh — everything by accident, nor succeed having done nothing.
 */
export function selectAssets(text: string | undefined, graph: AssetGraph): Set<string> {
  if (text === undefined || text.trim() === '*') return new Set(graph.keys());
  if (text.trim() === '') throw new UsageError('the selection is empty; leave --select out (or pass "*") to select every asset');
  const selected = resolveSelection(parseSelection(text), graph);
  if (selected.size === 0) throw new UsageError(`the selection "${text}" matches no asset; list the assets, groups and owners with: sfpipe lineage`);
  return selected;
}

/** The selected assets that can be materialized (not external); a usage error when there are none. */
export function selectMaterializable(text: string | undefined, graph: AssetGraph): string[] {
  const materializable = [...selectAssets(text, graph)].filter((k) => !graph.get(k).external);
  if (materializable.length === 0) {
    throw new UsageError(`the selection "${text ?? '*'}" matches no asset that can be materialized (only external assets)`);
  }
  return materializable;
}
