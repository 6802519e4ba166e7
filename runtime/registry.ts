import type { AssetDef } from './definitions.js';
import { DefinitionError } from './errors.js';
import { AssetGraph } from './graph.js';
import { invalidKeyReason, type AssetKey } from './keys.js';

/**
 * Validates a set of asset definitions and builds their graph.
 * Throws DefinitionError for malformed or duplicate keys, unknown deps, duplicate
 * check names and cycles (naming the cycle's path).
 */
export function buildAssetGraph(defs: readonly AssetDef<any>[]): AssetGraph {
  const byKey = new Map<AssetKey, AssetDef<any>>();
  for (const def of defs) {
    const bad = invalidKeyReason(def.key);
    if (bad) throw new DefinitionError(`asset key "${def.key}" is invalid: ${bad}`);
    if (byKey.has(def.key)) throw new DefinitionError(`asset key "${def.key}" is declared twice`);
    if (def.external && def.materialize) {
      throw new DefinitionError(`asset "${def.key}" is external and cannot have a materialize function`);
    }
    if (def.materialize && def.multiAsset) {
      throw new DefinitionError(`asset "${def.key}" has both a materialize function and a multi-asset`);
    }
    if (def.unavailable && (def.external || def.materialize || def.multiAsset)) {
      throw new DefinitionError(`asset "${def.key}" is unavailable and cannot be external or have a materialize function or multi-asset`);
    }
    if (!def.external && !def.materialize && !def.multiAsset && !def.unavailable) {
      throw new DefinitionError(`asset "${def.key}" has no materialize function; declare it external if it is a source`);
    }
    const checkNames = new Set<string>();
    for (const check of def.checks) {
      if (!check.evaluate && !def.multiAsset && !def.unavailable) {
        throw new DefinitionError(`check "${check.name}" on asset "${def.key}" has no evaluate function`);
      }
      if (checkNames.has(check.name)) {
        throw new DefinitionError(`asset "${def.key}" declares the check "${check.name}" twice`);
      }
      checkNames.add(check.name);
    }
    byKey.set(def.key, def);
  }
  for (const def of defs) {
    for (const dep of def.deps) {
      if (!byKey.has(dep)) {
        throw new DefinitionError(`asset "${def.key}" depends on "${dep}", which is not declared`);
      }
      if (dep === def.key) throw new DefinitionError(`asset "${def.key}" depends on itself`);
    }
  }
  const runners = new Map<string, unknown>();
  for (const def of defs) {
    if (!def.multiAsset) continue;
    const seen = runners.get(def.multiAsset.name);
    if (seen && seen !== def.multiAsset) throw new DefinitionError(`two multi-assets are named "${def.multiAsset.name}"`);
    runners.set(def.multiAsset.name, def.multiAsset);
  }
  const cycle = findCycle(byKey);
  if (cycle) throw new DefinitionError(`dependency cycle: ${cycle.join(' -> ')}`);
  const between = assetBetweenMembers(defs);
  if (between) {
    throw new DefinitionError(
      `multi-asset "${between.multi}": asset "${between.outside}" depends on its member "${between.from}" and feeds its member "${between.to}"; ` +
        'a multi-asset runs as one step, so nothing outside it may sit between two of its members',
    );
  }
  return new AssetGraph(defs);
}

/** An asset outside a multi-asset that is downstream of one member and upstream of another. */
function assetBetweenMembers(defs: readonly AssetDef<any>[]): { multi: string; outside: AssetKey; from: AssetKey; to: AssetKey } | null {
  const children = new Map<AssetKey, AssetKey[]>();
  for (const def of defs) for (const dep of def.deps) children.set(dep, [...(children.get(dep) ?? []), def.key]);
  const groups = new Map<string, AssetKey[]>();
  for (const def of defs) if (def.multiAsset) groups.set(def.multiAsset.name, [...(groups.get(def.multiAsset.name) ?? []), def.key]);
  for (const [multi, members] of groups) {
    const inside = new Set(members);
    for (const from of members) {
      // Walk downstream through assets outside the multi-asset; reaching a member again closes the loop.
      const seen = new Set<AssetKey>();
      const queue = (children.get(from) ?? []).filter((k) => !inside.has(k)).map((k) => ({ key: k, first: k }));
      while (queue.length > 0) {
        const { key, first } = queue.shift()!;
        if (seen.has(key)) continue;
        seen.add(key);
        for (const child of children.get(key) ?? []) {
          if (inside.has(child)) return { multi, outside: first, from, to: child };
          queue.push({ key: child, first });
        }
      }
    }
  }
  return null;
}

function findCycle(byKey: Map<AssetKey, AssetDef<any>>): AssetKey[] | null {
  const state = new Map<AssetKey, 'open' | 'done'>();
  const stack: AssetKey[] = [];
  const visit = (key: AssetKey): AssetKey[] | null => {
    state.set(key, 'open');
    stack.push(key);
    for (const dep of [...(byKey.get(key)?.deps ?? [])].sort()) {
      const s = state.get(dep);
      if (s === 'open') {
        // The path runs dependency -> dependent, the direction data flows.
        const cyc = stack.slice(stack.indexOf(dep));
        return [...cyc, dep].reverse();
      }
      if (s === undefined) {
        const found = visit(dep);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(key, 'done');
    return null;
  };
  for (const key of [...byKey.keys()].sort()) {
    if (!state.has(key)) {
      const found = visit(key);
      if (found) return found;
    }
  }
  return null;
}
