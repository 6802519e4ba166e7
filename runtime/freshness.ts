import { CronExpressionParser } from 'cron-parser';
import type { FreshnessPolicy } from './definitions.js';
import type { FreshnessState, MaterializationRecord } from './storage/event-log.js';

export interface FreshnessEvaluation {
  state: FreshnessState;
  /** Milliseconds since the last materialization, when there is one. */
  lagMs: number | null;
  /** When the asset turns (or turned) stale, if it can be said. */
  deadline: string | null;
  reason: string;
}

/**
 * Judges an asset's freshness from the time of its last materialization (or of the
 * newest data it holds). Semantics follow Dagster's current policies.
 */
export function evaluateFreshness(policy: FreshnessPolicy | undefined, last: Date | null, now: Date): FreshnessEvaluation {
  if (!policy) return { state: 'NOT_APPLICABLE', lagMs: null, deadline: null, reason: 'no freshness policy' };
  const lagMs = last ? now.getTime() - last.getTime() : null;
  if (policy.kind === 'time_window') {
    if (!last || lagMs === null) return { state: 'UNKNOWN', lagMs, deadline: null, reason: 'never materialized' };
    const failAt = new Date(last.getTime() + policy.failAfterMs).toISOString();
    if (lagMs > policy.failAfterMs) {
      return { state: 'FAIL', lagMs, deadline: failAt, reason: `last update ${formatDuration(lagMs)} ago, more than ${formatDuration(policy.failAfterMs)}` };
    }
    if (policy.warnAfterMs !== undefined && lagMs > policy.warnAfterMs) {
      return { state: 'WARN', lagMs, deadline: failAt, reason: `last update ${formatDuration(lagMs)} ago, more than ${formatDuration(policy.warnAfterMs)}` };
    }
    return { state: 'PASS', lagMs, deadline: failAt, reason: `last update ${formatDuration(lagMs)} ago` };
  }
  const tick = lastCompletedTick(policy.deadlineCron, now, policy.timezone);
  const lowerBound = new Date(tick.getTime() - policy.lowerBoundDeltaMs);
  const nextTick = nextTickAfter(policy.deadlineCron, now, policy.timezone).toISOString();
  if (!last) return { state: 'UNKNOWN', lagMs, deadline: nextTick, reason: 'never materialized' };
  if (last.getTime() >= lowerBound.getTime()) {
    return { state: 'PASS', lagMs, deadline: nextTick, reason: `updated at or after ${lowerBound.toISOString()} (deadline ${tick.toISOString()})` };
  }
  return { state: 'FAIL', lagMs, deadline: tick.toISOString(), reason: `not updated since ${lowerBound.toISOString()} (deadline ${tick.toISOString()} passed)` };
}

/**
 * The time the asset counts as updated: its last materialization, moved back by how far its
 * data trailed the source when a data-time policy says so. Null when never materialized.
 */
export function effectiveUpdateTime(policy: FreshnessPolicy | undefined, last: Pick<MaterializationRecord, 'timestamp' | 'metadata'> | null): { time: Date; basis: 'run' | 'data' } | null {
  if (!last) return null;
  const runTime = new Date(last.timestamp);
  const spec = policy?.dataTime;
  if (!spec) return { time: runTime, basis: 'run' };
  const dataTime = parseTime(last.metadata[spec.metadataKey]);
  if (!dataTime) return { time: runTime, basis: 'run' };
  const sourceTime = (spec.sourceTimeKey ? parseTime(last.metadata[spec.sourceTimeKey]) : null) ?? runTime;
  const trail = Math.max(0, sourceTime.getTime() - dataTime.getTime());
  return trail > 0 ? { time: new Date(runTime.getTime() - trail), basis: 'data' } : { time: runTime, basis: 'run' };
}

/** Freshness of an asset from its last materialization record. */
export function evaluateAssetFreshness(policy: FreshnessPolicy | undefined, last: Pick<MaterializationRecord, 'timestamp' | 'metadata'> | null, now: Date): FreshnessEvaluation {
  const eff = effectiveUpdateTime(policy, last);
  const ev = evaluateFreshness(policy, eff?.time ?? null, now);
  if (eff?.basis === 'data' && ev.state !== 'NOT_APPLICABLE') {
    ev.reason = `by data time (newest data trails the source by ${formatDuration(new Date(last!.timestamp).getTime() - eff.time.getTime())} at the last run): ${ev.reason}`;
  }
  return ev;
}

function parseTime(v: unknown): Date | null {
  if (typeof v !== 'string' && !(v instanceof Date)) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * Why `cron` cannot be a cron policy's deadline, or null when it can: five fields (minute hour
 * day-of-month month day-of-week) that cron-parser, which computes the ticks, accepts. The count
 * is checked first because cron-parser also takes four fields (filling in the rest) and six
 * (seconds first), which would move every field's meaning.
 */
export function deadlineCronProblem(cron: string): string | null {
  const fields = cron.trim().split(/\s+/).filter(Boolean).length;
  if (fields !== 5) return `has ${fields} field${fields === 1 ? '' : 's'}, not 5 (minute hour day-of-month month day-of-week)`;
  try {
    CronExpressionParser.parse(cron);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

export function lastCompletedTick(cron: string, now: Date, timezone = 'UTC'): Date {
  const it = CronExpressionParser.parse(cron, { currentDate: new Date(now.getTime() + 1), tz: timezone });
  return it.prev().toDate();
}

function nextTickAfter(cron: string, now: Date, timezone = 'UTC'): Date {
  const it = CronExpressionParser.parse(cron, { currentDate: now, tz: timezone });
  return it.next().toDate();
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d${h % 24 ? `${h % 24}h` : ''}`;
}
