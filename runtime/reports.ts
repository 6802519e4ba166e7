import type { AssetDef } from './definitions.js';
import type { EventLog, RunEvent, RunRecord, SensorRunRequestRecord, SensorTickRecord } from './storage/event-log.js';
import { buildLineage, type LineageAsset } from './lineage.js';
import { buildAssetGraph } from './registry.js';
import { selectAssets } from './selection/index.js';
import type { SensorDef } from './sensors.js';
import type { EnvironmentSummary } from './pipeline.js';

/**
 * The data behind the CLI's `--json` outputs, built once for every reader: the CLI prints it,
 * `sfpipe ui` serves it (and renders its pages from it), so the two never disagree.
 */

/**
 * `sfpipe lineage --json`: the selected assets (all when `select` is undefined) with their last
 * known state, and the sensors whose target overlaps them, with their last tick (`sensors` only
 * when there are some), preceded by the environment it runs in when the pipeline has environments.
 */
export async function lineageReport(
  definitions: readonly AssetDef<any>[],
  select: string | undefined,
  eventLog: EventLog,
  now: Date,
  sensors: readonly SensorDef[] = [],
  environment?: EnvironmentSummary,
): Promise<{ environment?: EnvironmentSummary; assets: LineageAsset[]; sensors?: SensorReport[] }> {
  const graph = buildAssetGraph(definitions);
  const selection = selectAssets(select, graph);
  const assets = await buildLineage(graph, selection, eventLog, now);
  const shown = new Set(assets.map((a) => a.key));
  const overlapping = sensors.filter((s) => {
    try {
      return [...selectAssets(s.target, graph)].some((k) => shown.has(k));
    } catch {
      return select === undefined; // a target the loaded assets cannot judge (no dbt here)
    }
  });
  const head = environment ? { environment } : {};
  if (overlapping.length === 0) return { ...head, assets };
  return { ...head, assets, sensors: (await sensorsReport(overlapping, eventLog)).sensors };
}

/** `sfpipe runs --json`: the newest runs, newest first. */
export async function runsReport(eventLog: EventLog, limit: number): Promise<{ runs: RunRecord[] }> {
  return { runs: await eventLog.recentRuns(limit) };
}

/** `sfpipe events <run-id> --json`: one run (by id or unique prefix) and its events; null when there is none. */
export async function runEventsReport(eventLog: EventLog, runId: string): Promise<{ run: RunRecord; events: RunEvent[] } | null> {
  // Generated run ids are lower-case UUIDs: one typed or copied in upper case is found too.
  const run = (await eventLog.getRun(runId)) ?? (runId !== runId.toLowerCase() ? await eventLog.getRun(runId.toLowerCase()) : null);
  if (!run) return null;
  return { run, events: await eventLog.runEvents(run.runId) };
}

/** A sensor, its newest tick (its cursor) and the newest run it requested. */
export interface SensorReport {
  name: string;
  description: string;
  target: string;
  /** poll: evaluated by ticks; push: watched (`sensor watch`). */
  mode: 'poll' | 'push';
  minimumIntervalSeconds: number;
  lastTick: SensorTickRecord | null;
  lastRequest: (SensorRunRequestRecord & { timestamp: string; tickId: string }) | null;
}

/** `sfpipe sensor list --json` (and the sensors `lineage` shows). */
export async function sensorsReport(sensors: readonly SensorDef[], eventLog: EventLog): Promise<{ sensors: SensorReport[] }> {
  const out: SensorReport[] = [];
  for (const s of sensors) {
    const [lastTick, requested] = await Promise.all([eventLog.lastSensorTick(s.name), eventLog.lastSensorRequest(s.name)]);
    const last = requested?.runRequests.at(-1);
    out.push({
      name: s.name,
      description: s.description,
      target: s.target,
      mode: s.push ? 'push' : 'poll',
      minimumIntervalSeconds: s.minimumIntervalSeconds,
      lastTick,
      lastRequest: requested && last ? { ...last, timestamp: requested.timestamp, tickId: requested.tickId } : null,
    });
  }
  return { sensors: out };
}

/** How every `--json` output is printed. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}
