import { alertsForTransitions, createNotifiers, sendAlerts, trackAndEscalate, type StateTransition } from './alerts/index.js';
import type { RunResult } from './executor.js';
import type { AlertLedger, CheckResultRecord, EventLog, FreshnessState, RunStatus } from './storage/event-log.js';
import type { Logger } from './logging.js';
import { pushMetrics, type MetricSample } from './metrics/index.js';
import type { MetadataMetric, Observability } from './pipeline.js';
import { uiPageFor } from './ui/links.js';

/**
 * Sends one message per state change to every configured notifier (`program` names the CLI in
 * look-closer commands); with escalation and an event log's alert ledger, also escalates alerts
 * left unresolved (even when nothing changed now). Never throws.
 */
export async function alertOnTransitions(
  obs: Observability | null,
  transitions: StateTransition[],
  log: Logger,
  program: string,
  ledger?: AlertLedger | null,
  now: () => Date = () => new Date(),
): Promise<void> {
  if (!obs) return;
  const base = obs.uiBaseUrl;
  const command = (t: StateTransition) => `${program} lineage --select ${t.assetKey}`;
  const events = alertsForTransitions(transitions, { command, now, ...(base ? { link: (t: StateTransition) => uiPageFor(base, t) } : {}) });
  const notifiers = obs.notifiers ? createNotifiers(obs.notifiers, log) : [];
  if (events.length > 0 && notifiers.length > 0) {
    const { sent, failed } = await sendAlerts(notifiers, events, log);
    log.info(`alerts: ${events.length} state change(s), ${sent} delivered, ${failed} not delivered`);
  }
  if (obs.escalation && ledger) {
    await trackAndEscalate({ ledger, events, afterMs: obs.escalation.afterMs, notifiers: createNotifiers(obs.escalation.notifiers, log, 'escalation-'), now, log });
  }
}

/** A check result as an alert state: a failed WARN check is WARN, a failed ERROR check FAILED. */
function checkState(c: { passed: boolean; severity: string }): 'PASSED' | 'WARN' | 'FAILED' {
  return c.passed ? 'PASSED' : c.severity === 'WARN' ? 'WARN' : 'FAILED';
}

/** Each check's state now and before the run (alertsForTransitions keeps the changes); `program` names the CLI in the look-closer command. */
export function checkTransitions(before: Map<string, Map<string, CheckResultRecord>>, result: RunResult, program: string): StateTransition[] {
  const out: StateTransition[] = [];
  for (const step of result.steps) {
    for (const c of step.checks) {
      const prev = before.get(step.key)?.get(c.checkName);
      out.push({
        kind: 'check',
        assetKey: step.key,
        checkName: c.checkName,
        previousState: prev ? checkState(prev) : null,
        state: checkState(c),
        reason: c.description ?? (c.passed ? 'passed' : 'failed'),
        runId: result.runId,
        command: `${program} events ${result.runId.slice(0, 8)}`,
      });
    }
  }
  return out;
}

/**
 * The run's outcome as a state change of its selection: a failed run alerts when the previous
 * finished run of the same selection succeeded, or when there is none (a pipeline whose first
 * runs fail — broken credentials or IAM — must not stay silent); a success after a failure is a
 * recovery. Canceled runs neither alert nor count as the previous outcome. `program` names the CLI
 * in the look-closer command.
 */
export async function runTransition(
  eventLog: EventLog,
  run: { runId: string; status: Exclude<RunStatus, 'STARTED'>; startedAt: string; selection: string; failedAssets: string[]; error: string | null },
  program: string,
): Promise<StateTransition[]> {
  const state = RUN_STATE[run.status];
  if (!state) return [];
  const previous = (await eventLog.recentRuns(50)).find(
    (r) => r.runId !== run.runId && r.selection === run.selection && r.startedAt <= run.startedAt && RUN_STATE[r.status] !== undefined,
  );
  return [
    {
      kind: 'run',
      assetKey: run.failedAssets.length > 0 ? run.failedAssets.join(', ') : run.selection,
      previousState: previous ? RUN_STATE[previous.status]! : null,
      state,
      reason: run.status === 'SUCCESS' ? `run ${run.runId.slice(0, 8)} of "${run.selection}" succeeded` : (run.error ?? 'the run failed'),
      runId: run.runId,
      command: `${program} events ${run.runId.slice(0, 8)}`,
    },
  ];
}

const RUN_STATE: Partial<Record<RunStatus, 'SUCCESS' | 'FAILED'>> = { SUCCESS: 'SUCCESS', FAILURE: 'FAILED' };

/** The failed steps of a run and the first one's error, for its alert. */
export function runFailure(result: RunResult): { failedAssets: string[]; error: string | null } {
  const failed = result.steps.filter((s) => s.status === 'FAILED');
  const first = failed[0];
  const blocked = result.steps.find((s) => s.blocked);
  const error = first ? `${first.key} failed: ${first.error ?? 'unknown error'}` : blocked ? `a blocking check on ${blocked.key} failed` : null;
  return { failedAssets: failed.map((s) => s.key), error };
}

const FRESHNESS_VALUE: Record<FreshnessState, number> = { PASS: 0, WARN: 1, FAIL: 2, UNKNOWN: -1, NOT_APPLICABLE: -2 };

/** The metrics `sfpipe check` pushes; every name starts with `prefix` (the pipeline's, runtime/pipeline.ts metricPrefix). */
export function freshnessSamples(evals: { key: string; state: FreshnessState; lagMs: number | null }[], prefix: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const e of evals) {
    if (e.state === 'NOT_APPLICABLE') continue;
    out.push({ name: `${prefix}freshness_state`, help: 'Freshness state per asset: 0 PASS, 1 WARN, 2 FAIL, -1 UNKNOWN', type: 'gauge', labels: { asset: e.key }, value: FRESHNESS_VALUE[e.state] });
    if (e.lagMs !== null) out.push({ name: `${prefix}freshness_lag_seconds`, help: 'Age of the asset (by data time where configured)', type: 'gauge', labels: { asset: e.key }, value: e.lagMs / 1000 });
  }
  return out;
}

/**
 * Run duration and status, per-asset numbers from materialization metadata (the ones the
 * pipeline names in `fromMetadata`: the runtime knows no pipeline's metadata), check results.
 */
export function runSamples(result: RunResult, metrics: { prefix: string; fromMetadata?: readonly MetadataMetric[] }): MetricSample[] {
  const { prefix, fromMetadata = [] } = metrics;
  const seconds = (Date.parse(result.endedAt) - Date.parse(result.startedAt)) / 1000;
  const out: MetricSample[] = [
    { name: `${prefix}run_duration_seconds`, help: 'Duration of the last materialize run', type: 'gauge', value: seconds },
    { name: `${prefix}run_success`, help: '1 when the last materialize run succeeded', type: 'gauge', value: result.status === 'SUCCESS' ? 1 : 0 },
    { name: `${prefix}run_last_end_timestamp_seconds`, help: 'When the last materialize run ended', type: 'gauge', value: Date.parse(result.endedAt) / 1000 },
  ];
  for (const step of result.steps) {
    out.push({ name: `${prefix}asset_success`, help: '1 when the asset materialized in the last run', type: 'gauge', labels: { asset: step.key }, value: step.status === 'SUCCESS' ? 1 : 0 });
    for (const m of fromMetadata) {
      const v = metadataAt(step.metadata, m.metadata);
      if (typeof v === 'number') out.push({ name: `${prefix}${m.name}`, help: m.help, type: 'gauge', labels: { asset: step.key }, value: v });
    }
    for (const c of step.checks) {
      out.push({ name: `${prefix}check_passed`, help: '1 when the check passed in the last run', type: 'gauge', labels: { asset: step.key, check: c.checkName, severity: c.severity }, value: c.passed ? 1 : 0 });
    }
  }
  return out;
}

/** The value at a key or a dotted path (`usage.remaining`) of metadata; undefined where the path leads nowhere. */
function metadataAt(metadata: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(metadata, path)) return metadata[path];
  let v: unknown = metadata;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

export async function pushSamples(obs: Observability | null, samples: MetricSample[], instance: string, log: Logger): Promise<void> {
  if (!obs?.metrics || samples.length === 0) return;
  const ok = await pushMetrics({ ...obs.metrics, grouping: { ...(obs.metrics.grouping ?? {}), instance } }, samples, log);
  if (ok) log.info(`metrics: pushed ${samples.length} sample(s)`);
}
