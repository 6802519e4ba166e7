import { errorMessage } from '../errors.js';
import type { CheckResultRecord, EventLog, RunRecord, RunTrigger } from '../storage/event-log.js';
import { executeRun, type RunResult } from '../executor.js';
import { newRunId } from '../ids.js';
import type { Logger } from '../logging.js';
import { alertOnTransitions, checkTransitions, pushSamples, runFailure, runSamples, runTransition } from '../observability.js';
import { metricPrefix } from '../pipeline.js';
import { buildAssetGraph } from '../registry.js';
import { holderWhere, LockHeldError, type LockHolder, type LockLease } from '../storage/run-lock.js';
import type { RunReporter } from '../run-reporter.js';
import { selectMaterializable } from '../selection/index.js';
import type { StateTransition } from '../alerts/index.js';
import type { PipelineInstance } from './instance.js';

export interface MaterializeOptions {
  /** A selection in the CLI's grammar (all assets when absent); a bad one throws a UsageError. */
  selection?: string;
  fullRefresh?: boolean;
  /** What started the run, recorded with it. Default: cli. */
  trigger?: RunTrigger;
  /**
   * The run's id (a sensor's run: derived from its run key). A Job retries a pod with the same id:
   * when that id did not succeed, the run is its next attempt (`<id>.2`, …; runAttempt); once an
   * attempt succeeded, the id is refused (`duplicate-run-id`).
   */
  runId?: string;
  /** Told the run's id before anything else happens (e.g. to put it on log lines of the caller's own). */
  onRunId?: (runId: string) => void;
  /** Independent assets materialized at once (default 2). */
  concurrency?: number;
  /** How long to wait for a run that holds the lock (default 0: don't wait). */
  lockTimeoutMs?: number;
  /** Called once when another run holds the lock and this one waits for it. */
  onLockWait?: (message: string) => void;
  /** Aborting it cancels the run: no new step starts, running steps see their signal abort. */
  signal?: AbortSignal;
  /**
   * Aborting it stops at once, without waiting for running steps: the run is recorded CANCELED
   * (bounded to a few seconds) and materialize resolves with `stopped-at-once` while its steps may
   * still run. Meant for a process about to exit; the run lock is left as a dead holder's. The
   * signal's reason (an Error) says why, in the log line and the run's record.
   */
  stopAtOnce?: AbortSignal;
  /** Called with the run's result as soon as it ends, before alerts and metrics are sent. */
  onResult?: (result: RunResult) => void;
  /** Shows the run to a person watching it (a live terminal). */
  reporter?: RunReporter;
  /** An event log to use (and leave open) instead of opening the instance's. */
  eventLog?: EventLog;
  /** The waits between a step's retries (tests make them instant). */
  retrySleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** What became of a materialize call. Only `ran` (and `resources-failed`) are in the event log as runs. */
export type MaterializeOutcome =
  | {
      kind: 'ran';
      result: RunResult;
      /** Why the run lock was lost while running (the run was then canceled), else null. */
      lostLock: string | null;
    }
  /** Another run holds the lock (and did not free it within lockTimeoutMs): nothing ran, nothing was recorded. */
  | { kind: 'locked'; holder: LockHolder; message: string }
  /** `signal` was aborted while waiting for the lock: nothing ran. */
  | { kind: 'canceled-before-start' }
  /** An attempt of the given runId succeeded already: a run id runs once. */
  | { kind: 'duplicate-run-id'; runId: string; status: string; trigger: string }
  /** The pipeline's resources could not be opened: the run is recorded as FAILURE with this error. */
  | { kind: 'resources-failed'; runId: string; error: string }
  /** `stopAtOnce` was aborted while steps ran: the run is recorded CANCELED (when it could be). */
  | { kind: 'stopped-at-once'; runId: string };

/**
 * Materializes a selection of the instance's pipeline and owns the run's lifecycle: the run lock
 * (waiting for it, taking it over from a dead holder and recording that holder's run as failed),
 * opening and closing the pipeline's resources, the run's events, then alerts on what changed and
 * metrics, through the pipeline's observability. The CLI's `materialize`, a sensor's in-process
 * run, the tests' harnesses and the benches all run through here.
 */
export async function materialize<R>(instance: PipelineInstance<R>, options: MaterializeOptions = {}): Promise<MaterializeOutcome> {
  const graph = buildAssetGraph(await instance.definitions());
  const materializable = selectMaterializable(options.selection, graph);
  const selectionText = options.selection ?? '*';
  const trigger = options.trigger ?? 'cli';
  const fullRefresh = options.fullRefresh ?? false;
  const { logger, program, pipeline } = instance;
  let runId = options.runId ?? newRunId();
  const eventLog = options.eventLog ?? (await instance.openEventLog());
  try {
    if (options.runId !== undefined) {
      const attempt = await runAttempt(eventLog, options.runId);
      if ('done' in attempt) {
        const { done } = attempt;
        return { kind: 'duplicate-run-id', runId: done.runId, status: done.status, trigger: done.trigger };
      }
      runId = attempt.runId;
      if (attempt.previous) {
        const { previous } = attempt;
        logger.info(`run ${previous.runId} did not succeed (${previous.status}): this is its retry, run ${runId}`, { runId, retryOf: previous.runId });
        // Its events say where it went on (`events <its id>`).
        await eventLog
          .recordEvent({ runId: previous.runId, assetKey: null, type: 'RUN_RETRIED', timestamp: new Date().toISOString(), data: { retryRunId: runId } })
          .catch((err: unknown) => logger.warn(`could not record the retry on run ${previous.runId}: ${errorMessage(err)}`, { runId }));
      }
    }
    options.onRunId?.(runId);
    const lock = await instance.runLock();
    const controller = new AbortController();
    const cancel = () => controller.abort(options.signal?.reason);
    if (options.signal?.aborted) cancel();
    options.signal?.addEventListener('abort', cancel, { once: true });
    let lease: LockLease;
    try {
      lease = await lock.acquire(runId, { timeoutMs: 0, signal: controller.signal });
    } catch (err) {
      const waitMs = options.lockTimeoutMs ?? 0;
      if (err instanceof LockHeldError && waitMs > 0 && !controller.signal.aborted) {
        logger.info(`${err.message}; waiting up to ${waitMs / 1000} s for it`, { runId });
        options.onLockWait?.(`${err.message}; waiting up to ${waitMs / 1000} s for it`);
        try {
          lease = await lock.acquire(runId, { timeoutMs: waitMs, signal: controller.signal });
        } catch (waited) {
          return notAcquired(waited, controller.signal);
        }
      } else {
        return notAcquired(err, controller.signal);
      }
    }
    let lostLock: string | null = null;
    let keepLock = false;
    lease.lost?.addEventListener(
      'abort',
      () => {
        lostLock = (lease.lost!.reason as Error | undefined)?.message ?? 'lost the run lock';
        controller.abort(new Error(lostLock));
      },
      { once: true },
    );
    try {
      const runLog = logger.child({ runId });
      const alert = async (transitions: StateTransition[], obs?: Awaited<ReturnType<typeof instance.observability>>) =>
        alertOnTransitions(obs === undefined ? await instance.observability().catch(() => null) : obs, transitions, runLog, program, eventLog.alerts);
      if (lease.tookOverFrom) await finishAbandonedRun(lease.tookOverFrom, runId, eventLog, logger, alert, program);

      let opened;
      try {
        opened = await pipeline.openResources({ ...instance.context, fullRefresh, runId });
      } catch (err) {
        const now = new Date().toISOString();
        const error = `could not open the pipeline's resources: ${errorMessage(err)}`;
        await eventLog.startRun({ runId, selection: selectionText, assets: materializable, trigger, fullRefresh, startedAt: now });
        await eventLog.finishRun(runId, 'FAILURE', now, `could not open resources: ${errorMessage(err)}`);
        // The same broken config may make observability unusable too: then there is nobody to tell.
        await alert(await runTransition(eventLog, { runId, status: 'FAILURE', startedAt: now, selection: selectionText, failedAssets: [], error }, program));
        return { kind: 'resources-failed', runId, error: errorMessage(err) };
      }

      const checksBefore = new Map<string, Map<string, CheckResultRecord>>();
      for (const key of materializable) checksBefore.set(key, await eventLog.lastCheckResults(key));
      const running = executeRun({
        graph,
        selection: new Set(materializable),
        selectionText,
        eventLog,
        resources: opened.resources,
        logger,
        runId,
        trigger,
        fullRefresh,
        concurrency: options.concurrency ?? 2,
        signal: controller.signal,
        ...(options.reporter ? { reporter: options.reporter } : {}),
        ...(options.retrySleep ? { sleep: options.retrySleep } : {}),
      }).finally(() => opened.close());
      const stopAtOnce = options.stopAtOnce;
      const result = await untilStoppedAtOnce(running, stopAtOnce, async () => {
        const why = reasonOf(stopAtOnce);
        logger.warn(`${why}: stopping now without waiting for running steps`, { runId });
        await recordCanceled(runId, eventLog, `${why}: stopped at once while steps were still running`);
      });
      if (result === STOPPED) {
        // Work the steps started (a dbt child, a query) may outlive this: the lock is left to end
        // as a dead holder's does (the file lock with the process, a Lease by expiry).
        keepLock = true;
        return { kind: 'stopped-at-once', runId };
      }
      options.onResult?.(result);

      const obs = await instance.observability();
      const ran = await runTransition(eventLog, { ...result, selection: selectionText, ...runFailure(result) }, program);
      await alert([...checkTransitions(checksBefore, result, program), ...ran], obs);
      const { metrics } = pipeline;
      const samples = runSamples(result, { prefix: metricPrefix(pipeline), ...(metrics?.fromMetadata ? { fromMetadata: metrics.fromMetadata } : {}) });
      await pushSamples(obs, samples, 'materialize', runLog);
      return { kind: 'ran', result, lostLock };
    } finally {
      options.signal?.removeEventListener('abort', cancel);
      if (!keepLock) await lease.release();
    }
  } finally {
    if (!options.eventLog) await eventLog.close();
  }
}

function notAcquired(err: unknown, signal: AbortSignal): MaterializeOutcome {
  if (signal.aborted) return { kind: 'canceled-before-start' };
  if (err instanceof LockHeldError) return { kind: 'locked', holder: err.holder, message: err.message };
  throw err;
}

const STOPPED = Symbol('stopped at once');

/** The run's result, or STOPPED once `stopAtOnce` aborts and `onStop` has recorded it. */
async function untilStoppedAtOnce(running: Promise<RunResult>, stopAtOnce: AbortSignal | undefined, onStop: () => Promise<void>): Promise<RunResult | typeof STOPPED> {
  if (!stopAtOnce) return running;
  let stop!: () => void;
  const stopped = new Promise<typeof STOPPED>((resolve) => {
    stop = () => void onStop().finally(() => resolve(STOPPED));
  });
  if (stopAtOnce.aborted) stop();
  else stopAtOnce.addEventListener('abort', stop, { once: true });
  try {
    return await Promise.race([running, stopped]);
  } finally {
    stopAtOnce.removeEventListener('abort', stop);
  }
}

/**
 * The lock was taken over from a holder that is gone (its process died: kill -9, OOM kill; its
 * Lease expired). Says so, and records that holder's run as FAILURE if the event log still has it
 * as STARTED, so `runs` and freshness stop showing it as running. A run that finished is left
 * alone. The lock decides who is gone (the file lock only takes over dead processes of this host;
 * the Lease only expired leases), so a live run is never marked here — except a Lease holder cut
 * off for longer than its lease, which stops itself and then records CANCELED over this.
 */
async function finishAbandonedRun(
  previous: LockHolder,
  runId: string,
  eventLog: EventLog,
  logger: Logger,
  alert: (transitions: StateTransition[]) => Promise<void>,
  program: string,
): Promise<void> {
  const meta = { runId, previousRunId: previous.runId, ...(previous.pid !== undefined ? { previousPid: previous.pid } : {}), ...(previous.host ? { previousHost: previous.host } : {}) };
  logger.warn(`took over the run lock from run ${previous.runId}${holderWhere(previous)}, held since ${previous.since}: its holder is gone`, meta);
  try {
    const run = await eventLog.getRun(previous.runId);
    // getRun also resolves prefixes: only the holder's own run, and only while it is STARTED.
    if (!run || run.runId !== previous.runId || run.status !== 'STARTED') return;
    const reason = `its process stopped without finishing (lock taken over by run ${runId})`;
    await eventLog.finishRun(previous.runId, 'FAILURE', new Date().toISOString(), reason);
    logger.warn(`recorded run ${previous.runId} as FAILURE: ${reason}`, meta);
    // Nobody was told when that process died: its run's failure is alerted now (and becomes the
    // previous outcome this run's own alert is judged against).
    await alert(await runTransition(eventLog, { runId: run.runId, status: 'FAILURE', startedAt: run.startedAt, selection: run.selection, failedAssets: [], error: reason }, program));
  } catch (err) {
    logger.warn(`could not record run ${previous.runId} as FAILURE: ${errorMessage(err)}`, meta);
  }
}

const reasonOf = (signal: AbortSignal | undefined): string => (signal?.reason instanceof Error ? signal.reason.message : 'asked to stop at once');

/** The most attempts of one run id (a Job's backoffLimit is far below it). */
const MAX_ATTEMPTS = 100;

/**
 * The id a run given `runId` runs with. `runId` itself when the event log does not have it. A
 * sensor's Job passes the same id to every pod it starts, so when the Job retries a pod (its
 * backoffLimit) the event log has it already: if it did not succeed (FAILURE, CANCELED, or STARTED
 * by a pod that died, which the run lock's take-over records as FAILURE), the retry is the next
 * attempt `ID.2`, `ID.3`, … (`previous`: the attempt before it); once one attempt succeeded, `done`.
 */
export async function runAttempt(eventLog: EventLog, runId: string): Promise<{ runId: string; previous: RunRecord | null } | { done: RunRecord }> {
  let previous: RunRecord | null = null;
  for (let n = 1; n <= MAX_ATTEMPTS; n++) {
    const id = n === 1 ? runId : `${runId}.${n}`;
    const run = await eventLog.getRun(id);
    // getRun also resolves prefixes: only this very id counts.
    if (run?.runId !== id) return { runId: id, previous };
    if (run.status === 'SUCCESS') return { done: run };
    previous = run;
  }
  return { done: previous! };
}

/** Records the run as CANCELED if it was started, bounded to a few seconds. */
async function recordCanceled(runId: string, eventLog: EventLog, reason: string): Promise<void> {
  const bounded = <T>(p: Promise<T>) => Promise.race([p.catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000).unref())]);
  const run = await bounded(eventLog.getRun(runId));
  if (run?.status === 'STARTED') {
    await bounded(eventLog.finishRun(runId, 'CANCELED', new Date().toISOString(), reason));
  }
}
