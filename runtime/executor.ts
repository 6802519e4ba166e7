import type { AssetGraph } from './graph.js';
import type { EventLog, RunStatus, RunTrigger } from './storage/event-log.js';
import { errorMessage } from './errors.js';
import { newRunId } from './ids.js';
import type { AssetKey } from './keys.js';
import { summarized, type Logger } from './logging.js';
import { abortableSleep } from './retry.js';
import { silentReporter, type RunReporter } from './run-reporter.js';
import { emptyStep, runMultiStep, runStep, type StepEnv, type StepResult } from './step.js';
import type { MultiAssetRunner, Unavailability } from './definitions.js';

export interface ExecuteOptions<R> {
  graph: AssetGraph;
  /** Keys to materialize; external assets in it are observed only and ignored. */
  selection: ReadonlySet<AssetKey>;
  /** The expression the selection came from, recorded with the run. */
  selectionText?: string;
  eventLog: EventLog;
  resources: R;
  logger: Logger;
  runId?: string;
  trigger?: RunTrigger;
  fullRefresh?: boolean;
  /** Independent assets materialized at once. */
  concurrency?: number;
  /** Aborting it cancels the run: no new step starts, running steps see their signal abort. */
  signal?: AbortSignal;
  now?: () => Date;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Called as each step ends (progress reporting). */
  onStep?: (step: StepResult) => void;
  /** Shows the run to a person watching it (a live terminal); nothing by default. */
  reporter?: RunReporter;
}

export interface RunResult {
  runId: string;
  status: Exclude<RunStatus, 'STARTED'>;
  startedAt: string;
  endedAt: string;
  /** One entry per selected materializable asset, in topological order. */
  steps: StepResult[];
}

/**
 * Materializes the selection in topological order. A step starts once every selected
 * upstream succeeded; a failed, skipped or canceled upstream (or one blocked by a failed
 * blocking ERROR check) skips it with the reason recorded.
 */
export async function executeRun<R>(opts: ExecuteOptions<R>): Promise<RunResult> {
  const { graph, eventLog } = opts;
  const runId = opts.runId ?? newRunId();
  const now = opts.now ?? (() => new Date());
  const concurrency = Math.max(1, opts.concurrency ?? 2);
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(opts.signal?.reason);
  if (opts.signal?.aborted) controller.abort(opts.signal.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const order = graph.sort([...opts.selection].filter((k) => !graph.get(k).external));
  const runLog = opts.logger.child({ runId });
  const startedAt = now().toISOString();
  await eventLog.startRun({
    runId,
    selection: opts.selectionText ?? '*',
    assets: order,
    trigger: opts.trigger ?? 'cli',
    fullRefresh: opts.fullRefresh ?? false,
    startedAt,
  });
  runLog.info(`run started: ${order.length} asset(s) to materialize`, { assets: order, fullRefresh: opts.fullRefresh ?? false });

  const selected = new Set(order);
  const results = new Map<AssetKey, StepResult>();
  const running = new Map<string, Promise<void>>();
  const pending = planUnits(graph, order);

  const env: StepEnv<R> = {
    runId,
    fullRefresh: opts.fullRefresh ?? false,
    resources: opts.resources,
    eventLog,
    log: opts.logger.child({ runId }),
    signal: controller.signal,
    now,
    sleep: opts.sleep ?? abortableSleep,
    random: opts.random ?? Math.random,
    reporter: opts.reporter ?? silentReporter,
  };

  const settle = async (step: StepResult) => {
    results.set(step.key, step);
    // A step that ran (a multi-asset member its runner skipped) has recorded its own event.
    if ((step.status === 'SKIPPED' || step.status === 'CANCELED') && step.attempts === 0) {
      await eventLog.recordEvent({
        runId,
        assetKey: step.key,
        type: step.status === 'SKIPPED' ? 'STEP_SKIPPED' : 'STEP_CANCELED',
        timestamp: now().toISOString(),
        data: { reason: step.reason },
      });
      const log = opts.logger.child({ runId, assetKey: step.key });
      log.warn(`${step.status === 'SKIPPED' ? 'skipped' : 'canceled'}: ${step.reason}`, summarized);
    }
    env.reporter.stepFinished(step);
    opts.onStep?.(step);
  };

  // Why `key` cannot run because of an upstream outside its unit; undefined while one is still going.
  const blockReason = (key: AssetKey, unit: Unit): string | null | undefined => {
    for (const dep of graph.parents(key)) {
      if (!selected.has(dep) || unit.keys.includes(dep)) continue;
      const r = results.get(dep);
      if (!r) return undefined;
      if (r.status === 'FAILED') return `upstream ${dep} failed`;
      if (r.status === 'SKIPPED') return `upstream ${dep} was skipped`;
      if (r.status === 'CANCELED') return `upstream ${dep} was canceled`;
      if (r.blocked) {
        const check = r.checks.find((c) => !c.passed && c.severity === 'ERROR');
        return `blocking check ${check?.checkName ?? '?'} on ${dep} failed`;
      }
    }
    return null;
  };

  const launch = (unit: Unit, keys: AssetKey[]) => {
    const defs = keys.map((k) => graph.get(k));
    const work = unit.runner ? runMultiStep(unit.runner, defs, env) : runStep(defs[0]!, env).then((r) => [r]);
    running.set(
      unit.id,
      work
        .catch(async (err) => {
          const failedSteps = keys.map((k) => {
            const failed = emptyStep(k, 'FAILED', null);
            failed.error = `internal error: ${errorMessage(err)}`;
            failed.endedAt = now().toISOString();
            return failed;
          });
          for (const f of failedSteps) {
            await eventLog
              .recordEvent({ runId, assetKey: f.key, type: 'STEP_FAILURE', timestamp: f.endedAt!, data: { attempts: 0, error: f.error, reason: null, blocked: false } })
              .catch(() => undefined);
          }
          return failedSteps;
        })
        .then(async (steps) => {
          running.delete(unit.id);
          for (const step of steps) await settle(step);
        }),
    );
  };

  // An asset that could not be loaded fails at once, whatever its upstream: there is nothing to
  // wait for, and its reason must not hide behind "upstream … failed".
  for (const unit of pending.filter((u) => u.unavailable)) {
    pending.splice(pending.indexOf(unit), 1);
    const key = unit.keys[0]!;
    const failed = emptyStep(key, 'FAILED', null);
    failed.error = `could not be loaded here: ${unit.unavailable!.reason}`;
    failed.endedAt = now().toISOString();
    await eventLog.recordEvent({ runId, assetKey: key, type: 'STEP_FAILURE', timestamp: failed.endedAt, data: { attempts: 0, error: failed.error, reason: null, blocked: false, unavailable: true } });
    opts.logger.child({ runId, assetKey: key }).error(`failed: ${failed.error}`, summarized);
    await settle(failed);
  }

  try {
    while (pending.length > 0 || running.size > 0) {
      let progressed = false;
      for (let i = 0; i < pending.length; ) {
        const unit = pending[i]!;
        if (controller.signal.aborted) {
          pending.splice(i, 1);
          for (const k of unit.keys) await settle(emptyStep(k, 'CANCELED', 'the run was canceled before this step started'));
          progressed = true;
          continue;
        }
        const reasons = unit.keys.map((k) => blockReason(k, unit));
        if (reasons.some((r) => r === undefined)) {
          i++;
          continue;
        }
        // Members blocked from outside, and members downstream of them inside the unit, are skipped.
        const skipped = new Map<AssetKey, string>();
        unit.keys.forEach((k, j) => {
          const r = reasons[j];
          if (r) skipped.set(k, r);
        });
        for (const k of unit.keys) {
          if (skipped.has(k)) continue;
          const blocker = graph.parents(k).find((p) => skipped.has(p));
          if (blocker) skipped.set(k, `upstream ${blocker} was skipped`);
        }
        const runnable = unit.keys.filter((k) => !skipped.has(k));
        if (runnable.length > 0 && running.size >= concurrency) break;
        pending.splice(i, 1);
        for (const [k, reason] of skipped) await settle(emptyStep(k, 'SKIPPED', reason));
        if (runnable.length > 0) launch(unit, runnable);
        progressed = true;
      }
      if (!progressed || running.size >= concurrency || pending.length === 0) {
        if (running.size === 0) {
          if (pending.length === 0) break;
          // Unreachable with a valid DAG: every pending step waits on something that ran.
          throw new Error(`scheduler stalled with pending steps: ${pending.map((u) => u.id).join(', ')}`);
        }
        await Promise.race(running.values());
      }
    }
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }

  const steps = order.map((k) => results.get(k)!);
  // A cancel that came after every step had finished changed nothing: the run is what its steps are.
  const status: RunResult['status'] = controller.signal.aborted && steps.some((s) => s.status === 'CANCELED')
    ? 'CANCELED'
    : steps.every((s) => s.status === 'SUCCESS' && !s.blocked)
      ? 'SUCCESS'
      : 'FAILURE';
  const endedAt = now().toISOString();
  const failures = steps.filter((s) => s.status !== 'SUCCESS' || s.blocked);
  const error = failures.length
    ? failures.map((s) => `${s.key}: ${s.status}${s.error ? ' ' + s.error : s.reason ? ' (' + s.reason + ')' : s.blocked ? ' (blocking check failed)' : ''}`).join('; ')
    : null;
  await eventLog.finishRun(runId, status, endedAt, error);
  const summary = `run ${status.toLowerCase()}: ${steps.filter((s) => s.status === 'SUCCESS').length} succeeded, ${steps.filter((s) => s.status === 'FAILED').length} failed, ${steps.filter((s) => s.status === 'SKIPPED').length} skipped, ${steps.filter((s) => s.status === 'CANCELED').length} canceled`;
  // On a live terminal the command prints the run's summary.
  if (status === 'SUCCESS') runLog.info(summary);
  else runLog.error(summary, { error, ...summarized });
  return { runId, status, startedAt, endedAt, steps };
}

interface Unit {
  id: string;
  keys: AssetKey[];
  runner: MultiAssetRunner<any> | null;
  /** The asset's definition could not be loaded (a one-key unit): it fails without running. */
  unavailable?: Unavailability;
}

/** One unit per asset, except that the selected members of a multi-asset form one unit. */
function planUnits(graph: AssetGraph, order: AssetKey[]): Unit[] {
  const units: Unit[] = [];
  const byRunner = new Map<string, Unit>();
  for (const key of order) {
    const def = graph.get(key);
    const runner = def.multiAsset ?? null;
    if (!runner) {
      units.push({ id: key, keys: [key], runner: null, ...(def.unavailable ? { unavailable: def.unavailable } : {}) });
      continue;
    }
    let unit = byRunner.get(runner.name);
    if (!unit) {
      unit = { id: `multi:${runner.name}`, keys: [], runner };
      byRunner.set(runner.name, unit);
      units.push(unit);
    }
    unit.keys.push(key);
  }
  return units;
}
