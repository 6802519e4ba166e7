import type { AssetHistory, EventLog } from '../storage/event-log.js';
import type { AssetKey } from '../keys.js';

/**
 * An asset's materializations, check results and freshness evaluations, newest first: the store's
 * own query when it has one, else read from the newest runs' events (and the last freshness
 * evaluation, which `sfpipe check` records outside any run).
 */
export async function assetHistory(eventLog: EventLog, key: AssetKey, limit: number, runsToScan = 50): Promise<AssetHistory> {
  if (eventLog.assetHistory) return eventLog.assetHistory(key, limit);
  const out: AssetHistory = { materializations: [], checkResults: [], freshness: [] };
  for (const run of await eventLog.recentRuns(runsToScan)) {
    if (!run.assets.includes(key)) continue;
    const events = (await eventLog.runEvents(run.runId)).filter((e) => e.assetKey === key).reverse();
    for (const e of events) {
      const d = e.data as Record<string, any>;
      if (e.type === 'ASSET_MATERIALIZATION') out.materializations.push({ runId: e.runId, assetKey: key, timestamp: e.timestamp, metadata: d.metadata ?? {} });
      else if (e.type === 'ASSET_CHECK_EVALUATION') {
        out.checkResults.push({ runId: e.runId, assetKey: key, checkName: d.checkName, severity: d.severity, passed: !!d.passed, description: d.description ?? null, metadata: d.metadata ?? {}, timestamp: e.timestamp });
      } else if (e.type === 'FRESHNESS_EVALUATION') {
        out.freshness.push({ runId: e.runId, assetKey: key, state: d.state, previousState: d.previousState ?? null, timestamp: e.timestamp, metadata: d.metadata ?? {} });
      }
    }
  }
  const last = await eventLog.lastFreshness(key);
  if (last && !out.freshness.some((f) => f.timestamp === last.timestamp)) out.freshness.unshift(last);
  const newest = <T extends { timestamp: string }>(xs: T[]) => xs.sort((a, b) => b.timestamp.localeCompare(a.timestamp)).slice(0, limit);
  return { materializations: newest(out.materializations), checkResults: newest(out.checkResults), freshness: newest(out.freshness) };
}
