import type { CheckSeverity, Metadata, Unavailability } from './definitions.js';
import type { EventLog, FreshnessState } from './storage/event-log.js';
import { evaluateAssetFreshness } from './freshness.js';
import type { AssetGraph } from './graph.js';
import type { AssetKey } from './keys.js';

export interface LineageCheck {
  name: string;
  severity: CheckSeverity;
  blocking: boolean;
  lastResult: 'PASSED' | 'FAILED' | null;
  lastEvaluatedAt: string | null;
}

export interface LineageAsset {
  key: AssetKey;
  external: boolean;
  description: string;
  group: string;
  owners: string[];
  kinds: string[];
  tags: Record<string, string>;
  deps: AssetKey[];
  downstream: AssetKey[];
  lastMaterialization: { runId: string; timestamp: string; metadata: Metadata } | null;
  checks: LineageCheck[];
  freshness: { state: FreshnessState; lagMs: number | null; deadline: string | null; reason: string };
  /** Present when the asset's definition could not be loaded here: why, and whether that is an error. */
  unavailable?: Unavailability;
}

/** Lineage of the selected assets, in topological order, with their last known state. */
export async function buildLineage(graph: AssetGraph, selection: ReadonlySet<AssetKey>, eventLog: EventLog, now: Date): Promise<LineageAsset[]> {
  const out: LineageAsset[] = [];
  for (const key of graph.sort(selection)) {
    const def = graph.get(key);
    const last = await eventLog.lastMaterialization(key);
    const checkResults = await eventLog.lastCheckResults(key);
    const freshness = evaluateAssetFreshness(def.freshness, last, now);
    out.push({
      key,
      external: def.external,
      description: def.description,
      group: def.group,
      owners: def.owners,
      kinds: def.kinds,
      tags: def.tags,
      deps: graph.parents(key),
      downstream: graph.children(key),
      lastMaterialization: last ? { runId: last.runId, timestamp: last.timestamp, metadata: last.metadata } : null,
      checks: def.checks.map((c) => {
        const r = checkResults.get(c.name);
        return {
          name: c.name,
          severity: c.severity,
          blocking: c.blocking,
          lastResult: r ? (r.passed ? 'PASSED' : 'FAILED') : null,
          lastEvaluatedAt: r?.timestamp ?? null,
        };
      }),
      freshness: { state: freshness.state, lagMs: freshness.lagMs, deadline: freshness.deadline, reason: freshness.reason },
      ...(def.unavailable ? { unavailable: { ...def.unavailable } } : {}),
    });
  }
  return out;
}
