import type { EventLog } from '../storage/event-log.js';
import type { AssetKey } from '../keys.js';
import type { LineageAsset } from '../lineage.js';

/** A node's colour: green ok, amber warn, red fail, grey unknown (never materialized), external (a source). */
export type Health = 'ok' | 'warn' | 'fail' | 'unknown' | 'external';

export type StepOutcome = 'SUCCESS' | 'FAILED' | 'SKIPPED' | 'CANCELED';

/** The newest step of an asset in a finished or running run: how its latest materialization attempt ended. */
export interface LatestStep {
  status: StepOutcome;
  runId: string;
  timestamp: string;
  error: string | null;
}

export interface AssetHealth {
  overall: Health;
  /** Latest materialization attempt: ok, fail (failed), warn (skipped or canceled), unknown (never), external. */
  materialization: Health;
  /** Checks: fail when a blocking or ERROR check failed, warn when only WARN checks did. */
  checks: Health;
  freshness: Health;
  /** Why, one phrase each (shown as the node's tooltip and on its page). */
  reasons: string[];
}

const STEP_EVENTS: Record<string, StepOutcome> = { STEP_SUCCESS: 'SUCCESS', STEP_FAILURE: 'FAILED', STEP_SKIPPED: 'SKIPPED', STEP_CANCELED: 'CANCELED' };

/**
 * How each asset's newest step ended, from the newest runs' events (at most `runsToScan` runs):
 * a failed step leaves the last materialization in place, and the graph must still show it red.
 */
export async function latestSteps(eventLog: EventLog, keys: readonly AssetKey[], runsToScan = 20): Promise<Map<AssetKey, LatestStep>> {
  const out = new Map<AssetKey, LatestStep>();
  const wanted = new Set(keys);
  for (const run of await eventLog.recentRuns(runsToScan)) {
    if (out.size === wanted.size) break;
    if (!run.assets.some((k) => wanted.has(k) && !out.has(k))) continue;
    const events = await eventLog.runEvents(run.runId);
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]!;
      const status = STEP_EVENTS[e.type];
      if (!status || !e.assetKey || !wanted.has(e.assetKey) || out.has(e.assetKey)) continue;
      out.set(e.assetKey, { status, runId: run.runId, timestamp: e.timestamp, error: typeof e.data.error === 'string' ? e.data.error : null });
    }
  }
  return out;
}

const RANK: Record<Health, number> = { external: 0, unknown: 1, ok: 2, warn: 3, fail: 4 };
const worst = (...hs: Health[]): Health => hs.reduce((a, b) => (RANK[b] > RANK[a] ? b : a), 'ok' as Health);

/** An asset's colour from its latest step, its checks' last results and its freshness. */
export function assetHealth(a: LineageAsset, step: LatestStep | undefined): AssetHealth {
  const reasons: string[] = [];
  let materialization: Health;
  if (a.external) materialization = 'external';
  else if (step?.status === 'FAILED') {
    materialization = 'fail';
    reasons.push(`latest materialization failed (run ${step.runId.slice(0, 8)})${step.error ? `: ${step.error}` : ''}`);
  } else if (step && step.status !== 'SUCCESS') {
    materialization = 'warn';
    reasons.push(`latest step ${step.status.toLowerCase()} (run ${step.runId.slice(0, 8)})`);
  } else materialization = a.lastMaterialization ? 'ok' : 'unknown';
  if (materialization === 'unknown') reasons.push('never materialized');
  if (a.unavailable) {
    materialization = worst(materialization, a.unavailable.expected ? 'fail' : 'warn');
    reasons.push(`unavailable here: ${a.unavailable.reason}`);
  }

  const failed = a.checks.filter((c) => c.lastResult === 'FAILED');
  const blocking = failed.filter((c) => c.blocking || c.severity === 'ERROR');
  const checks: Health = blocking.length ? 'fail' : failed.length ? 'warn' : a.checks.some((c) => c.lastResult === 'PASSED') ? 'ok' : 'unknown';
  for (const c of failed) reasons.push(`check ${c.name} failed (${c.severity}${c.blocking ? ', blocking' : ''})`);

  const f = a.freshness.state;
  const freshness: Health = f === 'FAIL' ? 'fail' : f === 'WARN' ? 'warn' : f === 'PASS' ? 'ok' : 'unknown';
  if (f === 'FAIL' || f === 'WARN') reasons.push(`freshness ${f}: ${a.freshness.reason}`);

  let overall = worst(materialization, checks, freshness);
  // Nothing bad: a source stays "external", an asset never materialized "unknown".
  if (overall === 'ok' || overall === 'unknown') overall = a.external ? 'external' : materialization === 'unknown' ? 'unknown' : 'ok';
  return { overall, materialization, checks, freshness, reasons };
}
