import type { Unavailability } from '../definitions.js';
import type { EventLog, FreshnessState } from '../storage/event-log.js';
import { evaluateAssetFreshness } from '../freshness.js';
import { alertOnTransitions, freshnessSamples, pushSamples } from '../observability.js';
import { metricPrefix } from '../pipeline.js';
import { buildAssetGraph } from '../registry.js';
import { selectMaterializable } from '../selection/index.js';
import type { PipelineInstance } from './instance.js';

export interface FreshnessEvaluation {
  key: string;
  state: FreshnessState;
  previousState: FreshnessState | null;
  changed: boolean;
  lagMs: number | null;
  deadline: string | null;
  reason: string;
  /** The run of the last materialization the evaluation judged (null if never materialized). */
  lastRunId: string | null;
  /** Present when the asset's definition could not be loaded here (its freshness is still judged from the event log). */
  unavailable?: Unavailability;
}

export interface FreshnessSweep {
  evaluatedAt: string;
  evaluations: FreshnessEvaluation[];
}

export interface SweepOptions {
  /** A selection in the CLI's grammar (all assets when absent); a bad one, or one of external assets only (they have no freshness), throws a UsageError. */
  selection?: string;
  now?: Date;
  /** An event log to use (and leave open) instead of opening the instance's. */
  eventLog?: EventLog;
}

/**
 * Judges the freshness of the selected assets against their last materializations, records each
 * evaluation (and each change of state) in the event log, alerts on the changes, escalates alerts
 * left unresolved (the event log's alert ledger) and pushes the freshness metrics. The CLI's
 * `check` (a CronJob in the cluster) runs it.
 */
export async function sweepFreshness<R>(instance: PipelineInstance<R>, options: SweepOptions = {}): Promise<FreshnessSweep> {
  const graph = buildAssetGraph(await instance.definitions());
  const selection = new Set(selectMaterializable(options.selection, graph));
  const now = options.now ?? new Date();
  const { logger } = instance;
  const eventLog = options.eventLog ?? (await instance.openEventLog());
  try {
    const evaluations: FreshnessEvaluation[] = [];
    for (const key of graph.sort(selection)) {
      const def = graph.get(key);
      const last = await eventLog.lastMaterialization(key);
      const ev = evaluateAssetFreshness(def.freshness, last, now);
      const previous = await eventLog.lastFreshness(key);
      const changed = previous?.state !== ev.state;
      if (ev.state !== 'NOT_APPLICABLE') {
        await eventLog.recordFreshness({
          runId: null,
          assetKey: key,
          state: ev.state,
          previousState: previous?.state ?? null,
          timestamp: now.toISOString(),
          metadata: { lagMs: ev.lagMs, deadline: ev.deadline, reason: ev.reason, changed, lastRunId: last?.runId ?? null },
        });
        if (changed) logger.info(`freshness of ${key}: ${previous?.state ?? 'none'} → ${ev.state}: ${ev.reason}`, { assetKey: key });
      }
      evaluations.push({
        key,
        state: ev.state,
        previousState: previous?.state ?? null,
        changed,
        lagMs: ev.lagMs,
        deadline: ev.deadline,
        reason: ev.reason,
        lastRunId: last?.runId ?? null,
        ...(def.unavailable ? { unavailable: { ...def.unavailable } } : {}),
      });
    }
    const obs = await instance.observability();
    // Alerts left unresolved are escalated from here (every sweep), even when nothing changed now.
    await alertOnTransitions(
      obs,
      evaluations
        .filter((e) => e.changed && e.state !== 'NOT_APPLICABLE')
        .map((e) => ({ kind: 'freshness' as const, assetKey: e.key, previousState: e.previousState, state: e.state, reason: e.reason, runId: e.lastRunId })),
      logger,
      instance.program,
      eventLog.alerts,
    );
    await pushSamples(obs, freshnessSamples(evaluations, metricPrefix(instance.pipeline)), 'check', logger);
    return { evaluatedAt: now.toISOString(), evaluations };
  } finally {
    if (!options.eventLog) await eventLog.close();
  }
}
