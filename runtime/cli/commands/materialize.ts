import { Command, InvalidArgumentError, Option } from 'commander';
import { executeRun, type RunResult } from '../../executor.js';
import { errorMessage, UsageError } from '../../errors.js';
import { newRunId } from '../../ids.js';
import { buildAssetGraph } from '../../registry.js';
import { holderWhere, LockHeldError, type LockHolder } from '../../run-lock.js';
import type { Logger } from '../../logging.js';
import { selectMaterializable } from '../../selection/index.js';
import type { CliContext } from '../context.js';
import { metricPrefix, type Observability } from '../../pipeline.js';
import { parseNonNegativeNumber, parsePositiveInt } from '../parse.js';
import { EXIT } from '../exit-codes.js';
import type { StateTransition } from '../../alerts/index.js';
import { alertOnTransitions, checkTransitions, pushSamples, runFailure, runSamples, runTransition } from '../observability.js';
import type { CheckResultRecord, EventLog, RunRecord, RunTrigger } from '../../event-log.js';
import { formatDuration, TerminalRunReporter, type Paint } from '../../live-terminal.js';

export interface MaterializeOptions {
  select?: string;
  fullRefresh: boolean;
  json: boolean;
  lockTimeout: number;
  concurrency: number;
  trigger?: RunTrigger;
  /** The run's id (a sensor's run: derived from its run key); a retry of a failed one runs as the next attempt (runAttempt). */
  runId?: string;
  /** Where the run's result goes (stdout by default; a sensor tick sends it to stderr). */
  write?: (text: string) => void;
}

export function materializeCommand(ctx: () => CliContext, setExit: (code: number) => void): Command {
  return new Command('materialize')
    .description('Materialize the selected assets (all by default) in dependency order')
    .option('-s, --select <expr>', 'asset selection, e.g. "+sf_curated/dim_sf_user_scd" or "group:sf_raw" (all by default)')
    .option('--full-refresh', 'rebuild from scratch instead of incrementally', false)
    .option(
      '--json',
      'print the run result as JSON on stdout; when another run holds the lock: {"status": "LOCKED", "holder": {…}, "steps": []} (nothing ran, nothing was recorded, so there is no run id)',
      false,
    )
    .option('--lock-timeout <seconds>', 'wait this long for a running run to finish', parseNonNegativeNumber('--lock-timeout'), 0)
    .option('--concurrency <n>', 'independent assets materialized at once', parsePositiveInt('--concurrency'), 2)
    .addOption(
      new Option('--trigger <kind>', 'what started this run, recorded in the event log: cli, schedule, manual or sensor:<name> (default: $SFPIPE_TRIGGER or cli)')
        .argParser((v) => {
          if (!isTrigger(v)) throw new InvalidArgumentError(`--trigger must be one of ${TRIGGERS.join(', ')} or sensor:<name>.`);
          return v;
        }),
    )
    .addOption(
      new Option('--run-id <id>', "the run's id (a sensor's Job passes the id its run key was given); a retry of one that did not succeed runs as <id>.2, <id>.3, …; refused once one succeeded").hideHelp(),
    )
    .action(async (opts: MaterializeOptions) => setExit(await materialize(ctx(), opts)));
}

const TRIGGERS = ['cli', 'schedule', 'manual'] as const;
const isTrigger = (v: string): v is RunTrigger => (TRIGGERS as readonly string[]).includes(v) || /^sensor:[a-z][a-z0-9_-]*$/.test(v);

/** `sfpipe materialize`; a sensor's tick runs it in-process with its run id and trigger. Resolves to the exit code. */
export async function materialize(ctx: CliContext, options: MaterializeOptions): Promise<number> {
  const trigger = options.trigger ?? (process.env.SFPIPE_TRIGGER || 'cli');
  if (!isTrigger(trigger)) throw new UsageError(`SFPIPE_TRIGGER must be one of ${TRIGGERS.join(', ')} or sensor:<name> (got "${trigger}")`);
  const write = options.write ?? ((text: string) => ctx.write(text));
  const opts = { ...options, trigger };
  // On a terminal: live lines and one line per asset instead of every log line (before anything logs).
  const terminal = ctx.liveTerminal();
  const graph = buildAssetGraph(await ctx.definitions());
  const materializable = selectMaterializable(opts.select, graph);
  const selection = new Set(materializable);
  const logger = ctx.logger;
  let runId = opts.runId ?? newRunId();
  const eventLog = await ctx.openEventLog();
  if (opts.runId !== undefined) {
    const attempt = await runAttempt(eventLog, opts.runId);
    if ('done' in attempt) {
      await eventLog.close();
      const { done } = attempt;
      ctx.reportError(`run ${done.runId} is in the event log already (${done.status}, trigger ${done.trigger}): a run id runs once`, { runId: done.runId, exitCode: EXIT.FAILURE });
      return EXIT.FAILURE;
    }
    runId = attempt.runId;
    if (attempt.previous) {
      const { previous } = attempt;
      logger.info(`run ${previous.runId} did not succeed (${previous.status}): this is its retry, run ${runId}`, { runId, retryOf: previous.runId });
      // Its events say where it went on (`sfpipe events <its id>`).
      await eventLog
        .recordEvent({ runId: previous.runId, assetKey: null, type: 'RUN_RETRIED', timestamp: new Date().toISOString(), data: { retryRunId: runId } })
        .catch((err: unknown) => logger.warn(`could not record the retry on run ${previous.runId}: ${errorMessage(err)}`, { runId }));
    }
  }
  const lock = await ctx.runLock();
  const controller = new AbortController();
  let signalName: NodeJS.Signals | null = null;
  let forcing = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalName) {
      // A second signal: a step that ignores cancellation must not keep the run alive.
      if (forcing) return;
      forcing = true;
      logger.warn(`received ${sig} again: stopping now without waiting for running steps`, { runId });
      void forceStop(runId, eventLog, sig).finally(() => process.exit(sig === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM));
      return;
    }
    signalName = sig;
    logger.warn(`received ${sig}: no new work starts, running steps are canceled (send it again to stop at once)`, { runId });
    controller.abort(new Error(`received ${sig}`));
  };
  let lostLock: string | null = null;
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    let lease;
    try {
      try {
        lease = await lock.acquire(runId, { timeoutMs: 0, signal: controller.signal });
      } catch (err) {
        if (!(err instanceof LockHeldError) || opts.lockTimeout <= 0) throw err;
        logger.info(`${err.message}; waiting up to ${opts.lockTimeout} s for it`, { runId });
        terminal?.print(`${err.message}; waiting up to ${opts.lockTimeout} s for it`);
        lease = await lock.acquire(runId, { timeoutMs: opts.lockTimeout * 1000, signal: controller.signal });
      }
      lease.lost?.addEventListener(
        'abort',
        () => {
          lostLock = (lease!.lost!.reason as Error | undefined)?.message ?? 'lost the run lock';
          controller.abort(new Error(lostLock));
        },
        { once: true },
      );
    } catch (err) {
      if (signalName) {
        const code = signalName === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
        ctx.reportError(`stopped by ${signalName} while waiting for the run lock; nothing ran`, { exitCode: code });
        return code;
      }
      if (err instanceof LockHeldError) {
        ctx.reportError(`${err.message}; try again later or pass --lock-timeout SECONDS to wait`, { exitCode: EXIT.FAILURE });
        // Scripts reading --json get an answer too: nothing ran, and who holds the lock. No runId:
        // this attempt is not in the event log (`sfpipe events` would not find it).
        if (opts.json) write(JSON.stringify({ status: 'LOCKED', holder: err.holder, steps: [] }, null, 2) + '\n');
        return EXIT.FAILURE;
      }
      throw err;
    }
    try {
      const runLog = logger.child({ runId });
      // Where alerts and metrics go: read once per run, when first needed.
      let observed: Promise<Observability | null> | undefined;
      const observability = () => (observed ??= ctx.pipeline.observability?.(ctx.pipelineContext()) ?? Promise.resolve(null));
      if (lease.tookOverFrom) {
        // Nobody was told when that process died: its run's failure is alerted now (and becomes the
        // previous outcome this run's own alert is judged against).
        const alert = async (transitions: StateTransition[]) => alertOnTransitions(await observability().catch(() => null), transitions, runLog, ctx.program, eventLog.alerts);
        await finishAbandonedRun(lease.tookOverFrom, runId, eventLog, logger, alert, ctx.program);
      }
      let opened;
      try {
        opened = await ctx.pipeline.openResources({ ...ctx.pipelineContext(), fullRefresh: opts.fullRefresh, runId });
      } catch (err) {
        const now = new Date().toISOString();
        await eventLog.startRun({ runId, selection: opts.select ?? '*', assets: materializable, trigger: opts.trigger, fullRefresh: opts.fullRefresh, startedAt: now });
        await eventLog.finishRun(runId, 'FAILURE', now, `could not open resources: ${errorMessage(err)}`);
        ctx.reportError(`could not open the pipeline's resources: ${errorMessage(err)}`, { runId, exitCode: EXIT.FAILURE });
        // The same broken config may make observability unusable too: then there is nobody to tell.
        const failure = { failedAssets: [], error: `could not open the pipeline's resources: ${errorMessage(err)}` };
        const transitions = await runTransition(eventLog, { runId, status: 'FAILURE', startedAt: now, selection: opts.select ?? '*', ...failure }, ctx.program);
        await alertOnTransitions(await observability().catch(() => null), transitions, runLog, ctx.program, eventLog.alerts);
        return EXIT.FAILURE;
      }
      const checksBefore = new Map<string, Map<string, CheckResultRecord>>();
      for (const key of materializable) checksBefore.set(key, await eventLog.lastCheckResults(key));
      let result: RunResult;
      try {
        result = await executeRun({
          graph,
          selection,
          selectionText: opts.select ?? '*',
          eventLog,
          resources: opened.resources,
          logger,
          runId,
          trigger: opts.trigger,
          fullRefresh: opts.fullRefresh,
          concurrency: opts.concurrency,
          signal: controller.signal,
          ...(terminal ? { reporter: new TerminalRunReporter(terminal, { showWarnings: ctx.globals.logLevel !== 'error' }) } : {}),
        });
      } finally {
        terminal?.close();
        await opened.close();
      }
      // The terminal showed each asset's outcome already: the same screen gets the run's line only.
      const sameScreen = terminal !== null && (ctx.stdout as NodeJS.WriteStream).isTTY === true;
      write(opts.json ? JSON.stringify(result, null, 2) + '\n' : sameScreen ? renderRunLine(result, terminal.paint, ctx.program) : renderRun(result));
      const obs = await observability();
      const ran = await runTransition(eventLog, { ...result, selection: opts.select ?? '*', ...runFailure(result) }, ctx.program);
      await alertOnTransitions(obs, [...checkTransitions(checksBefore, result, ctx.program), ...ran], runLog, ctx.program, eventLog.alerts);
      const { metrics } = ctx.pipeline;
      await pushSamples(obs, runSamples(result, { prefix: metricPrefix(ctx.pipeline), ...(metrics?.fromMetadata ? { fromMetadata: metrics.fromMetadata } : {}) }), 'materialize', runLog);
      if (lostLock && result.status === 'CANCELED') {
        ctx.reportError(`${lostLock}; the run was stopped so that two runs never write at once`, { runId, exitCode: EXIT.FAILURE });
        return EXIT.FAILURE;
      }
      if (result.status === 'CANCELED') return signalName === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
      return result.status === 'SUCCESS' ? EXIT.OK : EXIT.FAILURE;
    } finally {
      await lease.release();
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await eventLog.close();
  }
}

/**
 * The lock was taken over from a holder that is gone (its process died: kill -9, OOM kill; its
 * Lease expired). Says so, and records that holder's run as FAILURE if the event log still has it
 * as STARTED, so `sfpipe runs` and freshness stop showing it as running. A run that finished is
 * left alone. The lock decides who is gone (the file lock only takes over dead processes of this
 * host; the Lease only expired leases), so a live run is never marked here — except a Lease
 * holder cut off for longer than its lease, which stops itself and then records CANCELED over this.
 */
/** The most attempts of one run id (a Job's backoffLimit is far below it). */
const MAX_ATTEMPTS = 100;

/**
 * The id a run given `--run-id ID` runs with. ID itself when the event log does not have it. A
 * sensor's Job passes the same ID to every pod it starts, so when the Job retries a pod (its
 * backoffLimit) the event log has ID already: if ID did not succeed (FAILURE, CANCELED, or STARTED
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
    await alert(await runTransition(eventLog, { runId: run.runId, status: 'FAILURE', startedAt: run.startedAt, selection: run.selection, failedAssets: [], error: reason }, program));
  } catch (err) {
    logger.warn(`could not record run ${previous.runId} as FAILURE: ${errorMessage(err)}`, meta);
  }
}

/**
 * Records the run as CANCELED (if it was started), bounded to a few seconds. The lock is not
 * released: work the step started (a dbt child, an Athena query) may outlive this process, so
 * the lock ends as a dead holder's does (the file lock with this process, a Lease by expiry).
 */
async function forceStop(runId: string, eventLog: EventLog, sig: NodeJS.Signals): Promise<void> {
  const bounded = (p: Promise<unknown>) => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
  const run = await bounded(eventLog.getRun(runId));
  if (run && (run as { status: string }).status === 'STARTED') {
    await bounded(eventLog.finishRun(runId, 'CANCELED', new Date().toISOString(), `stopped by a second ${sig} while steps were still running`));
  }
}

/** The run in one line, after its assets' outcome lines on a terminal. */
function renderRunLine(result: RunResult, p: Paint, program: string): string {
  const count = (status: string) => result.steps.filter((s) => s.status === status).length;
  const failedChecks = (severity: string) => result.steps.reduce((n, s) => n + s.checks.filter((c) => !c.passed && c.severity === severity).length, 0);
  const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  const parts = [`${count('SUCCESS')} succeeded`];
  if (count('FAILED')) parts.push(`${count('FAILED')} failed`);
  if (count('SKIPPED')) parts.push(`${count('SKIPPED')} skipped`);
  if (count('CANCELED')) parts.push(`${count('CANCELED')} canceled`);
  if (failedChecks('ERROR')) parts.push(plural(failedChecks('ERROR'), 'check failed', 'checks failed'));
  if (failedChecks('WARN')) parts.push(plural(failedChecks('WARN'), 'check warned', 'checks warned'));
  const status = result.status === 'SUCCESS' ? p.green(result.status) : p.red(result.status);
  const took = formatDuration(result.startedAt, result.endedAt);
  const more = result.status === 'SUCCESS' ? '' : ` — every event: ${program} events ${result.runId.slice(0, 8)}`;
  return `run ${result.runId} ${status}${took ? ` in ${took}` : ''}: ${parts.join(', ')}${more}\n`;
}

function renderRun(result: RunResult): string {
  const mark = { SUCCESS: '✓', FAILED: '✗', SKIPPED: '-', CANCELED: '⊘' } as const;
  const lines = [`run ${result.runId} ${result.status}`];
  for (const s of result.steps) {
    const failedChecks = s.checks.filter((c) => !c.passed).map((c) => `${c.checkName} (${c.severity})`);
    const summary = typeof s.metadata.summary === 'string' ? s.metadata.summary : '';
    const detail = s.error ?? s.reason ?? [summary, failedChecks.length ? `failed checks: ${failedChecks.join(', ')}` : ''].filter(Boolean).join('; ');
    lines.push(`  ${mark[s.status]} ${s.key}  ${s.status}${s.attempts > 1 ? ` after ${s.attempts} attempts` : ''}${detail ? ` — ${detail}` : ''}`);
  }
  return lines.join('\n') + '\n';
}
