import graphology from 'graphology';
import { topologicalSort } from 'graphology-dag';
import type { AssetDef } from './definitions.js';
import type { AssetKey } from './keys.js';

const { DirectedGraph } = graphology;
type Directed = InstanceType<typeof DirectedGraph>;

/** The asset dependency graph: an edge runs from a dependency to its dependent. */
export class AssetGraph {
  readonly #graph: Directed;
  readonly #defs: Map<AssetKey, AssetDef<any>>;
  readonly #order: AssetKey[];

  constructor(defs: Iterable<AssetDef<any>>) {
    this.#graph = new DirectedGraph();
    this.#defs = new Map();
    for (const def of defs) {
      this.#defs.set(def.key, def);
      this.#graph.addNode(def.key);
    }
    for (const def of this.#defs.values()) {
      for (const dep of def.deps) this.#graph.mergeEdge(dep, def.key);
    }
    // Ties keep declaration order, so the order (and all output) is stable from run to run.
    this.#order = topologicalSort(this.#graph);
  }

  get size(): number {
    return this.#defs.size;
  }

  has(key: AssetKey): boolean {
    return this.#defs.has(key);
  }

  get(key: AssetKey): AssetDef<any> {
    const def = this.#defs.get(key);
    if (!def) throw new Error(`unknown asset key "${key}"`);
    return def;
  }

  /** Every key, in topological order. */
  keys(): AssetKey[] {
    return [...this.#order];
  }

  definitions(): AssetDef<any>[] {
    return this.#order.map((k) => this.get(k));
  }

  parents(key: AssetKey): AssetKey[] {
    return this.#graph.inNeighbors(key).sort();
  }

  children(key: AssetKey): AssetKey[] {
    return this.#graph.outNeighbors(key).sort();
  }

  /** Keys upstream of `key` within `depth` levels (Infinity = all), excluding `key`. */
  upstream(key: AssetKey, depth = Infinity): Set<AssetKey> {
    return this.#walk(key, depth, (k) => this.#graph.inNeighbors(k));
  }

  /** Keys downstream of `key` within `depth` levels (Infinity = all), excluding `key`. */
  downstream(key: AssetKey, depth = Infinity): Set<AssetKey> {
    return this.#walk(key, depth, (k) => this.#graph.outNeighbors(k));
  }

  /** Members of `subset` with no parent inside `subset`. */
  roots(subset: ReadonlySet<AssetKey>): Set<AssetKey> {
    return new Set([...subset].filter((k) => !this.#graph.inNeighbors(k).some((p) => subset.has(p))));
  }

  /** Members of `subset` with no child inside `subset`. */
  sinks(subset: ReadonlySet<AssetKey>): Set<AssetKey> {
    return new Set([...subset].filter((k) => !this.#graph.outNeighbors(k).some((c) => subset.has(c))));
  }

  /** `subset` in topological order. */
  sort(subset: Iterable<AssetKey>): AssetKey[] {
    const wanted = new Set(subset);
    return this.#order.filter((k) => wanted.has(k));
  }

  #walk(start: AssetKey, depth: number, next: (k: AssetKey) => string[]): Set<AssetKey> {
    const seen = new Set<AssetKey>();
    let frontier = [start];
    for (let level = 0; level < depth && frontier.length > 0; level++) {
      const nextFrontier: AssetKey[] = [];
      for (const k of frontier) {
        for (const n of next(k)) {
          if (n !== start && !seen.has(n)) {
            seen.add(n);
            nextFrontier.push(n);
          }
        }
      }
      frontier = nextFrontier;
    }
    return seen;
  }
}
