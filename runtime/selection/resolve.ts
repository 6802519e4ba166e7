import type { AssetGraph } from '../graph.js';
import type { SelectionNode } from './ast.js';
import { UnknownAssetError } from './errors.js';
import { suggestKeys } from './suggest.js';

/**
 * The keys a parsed selection names in `graph`. An exact key that names no asset
 * throws UnknownAssetError; a wildcard or attribute that matches nothing is empty.
 */
export function resolveSelection(node: SelectionNode, graph: AssetGraph): Set<string> {
  switch (node.type) {
    case 'all':
      return new Set(graph.keys());
    case 'key':
      return matchKey(node.pattern, graph);
    case 'tag':
      return filter(graph, (def) =>
        Object.hasOwn(def.tags, node.name) && (node.value === undefined || def.tags[node.name] === node.value),
      );
    case 'group':
      return filter(graph, (def) => def.group === node.value);
    case 'owner':
      return filter(graph, (def) => def.owners.includes(node.value));
    case 'kind':
      return filter(graph, (def) => def.kinds.includes(node.value));
    case 'traverse': {
      const base = resolveSelection(node.operand, graph);
      const out = new Set(base);
      for (const key of base) {
        if (node.up !== undefined) for (const k of graph.upstream(key, node.up)) out.add(k);
        if (node.down !== undefined) for (const k of graph.downstream(key, node.down)) out.add(k);
      }
      return out;
    }
    case 'not': {
      const excluded = resolveSelection(node.operand, graph);
      return new Set(graph.keys().filter((k) => !excluded.has(k)));
    }
    case 'and': {
      const left = resolveSelection(node.left, graph);
      const right = resolveSelection(node.right, graph);
      return new Set([...left].filter((k) => right.has(k)));
    }
    case 'or':
      return new Set([...resolveSelection(node.left, graph), ...resolveSelection(node.right, graph)]);
    case 'function': {
      const inner = resolveSelection(node.operand, graph);
      return node.name === 'roots' ? graph.roots(inner) : graph.sinks(inner);
    }
  }
}

function matchKey(pattern: string, graph: AssetGraph): Set<string> {
  if (!pattern.includes('*')) {
    if (graph.has(pattern)) return new Set([pattern]);
    throw new UnknownAssetError(pattern, suggestKeys(pattern, graph.keys()));
  }
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const re = new RegExp(`^${source}$`, 's');
  return new Set(graph.keys().filter((k) => re.test(k)));
}

function filter(graph: AssetGraph, keep: (def: ReturnType<AssetGraph['get']>) => boolean): Set<string> {
  return new Set(graph.definitions().filter(keep).map((def) => def.key));
}
