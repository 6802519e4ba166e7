import { Command, InvalidArgumentError, Option } from 'commander';
import { materialize as runMaterialize, type MaterializeOutcome } from '../../api/materialize.js';
import type { RunResult } from '../../executor.js';
import { UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { parseNonNegativeNumber, parsePositiveInt } from '../parse.js';
import { EXIT } from '../exit-codes.js';
import { isRunTrigger, RUN_TRIGGER_KINDS, type EventLog, type RunTrigger } from '../../storage/event-log.js';
import { formatDuration, TerminalRunReporter, type Paint } from '../../live-terminal.js';

export interface MaterializeOptions {
  select?: string;
  fullRefresh: boolean;
  json: boolean;
  lockTimeout: number;
  concurrency: number;
  trigger?: RunTrigger;
  /** The run's id (a sensor's run: derived from its run key); a retry of a failed one runs as the next attempt. */
  runId?: string;
  /** An event log to use (and leave open): a sensor's tick runs in its own. */
  eventLog?: EventLog;
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

/** The triggers a command line may give (`test` is the test suites'). */
const TRIGGERS = RUN_TRIGGER_KINDS.filter((k) => k !== 'test');
const isTrigger = (v: string): v is RunTrigger => isRunTrigger(v) && v !== 'test';

/** `sfpipe materialize`; a sensor's tick runs it in-process with its run id and trigger. Resolves to the exit code. */
export async function materialize(ctx: CliContext, options: MaterializeOptions): Promise<number> {
  const trigger = options.trigger ?? (process.env.SFPIPE_TRIGGER || 'cli');
  if (!isTrigger(trigger)) throw new UsageError(`SFPIPE_TRIGGER must be one of ${TRIGGERS.join(', ')} or sensor:<name> (got "${trigger}")`);
  const write = options.write ?? ((text: string) => ctx.write(text));
  // On a terminal: live lines and one line per asset instead of every log line (before anything logs).
  const terminal = ctx.liveTerminal();
  const logger = ctx.logger;
  const cancel = new AbortController();
  const stopAtOnce = new AbortController();
  let signalName: NodeJS.Signals | null = null;
  let runId: string | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalName) {
      // A second signal: a step that ignores cancellation must not keep the run alive.
      stopAtOnce.abort(new Error(`received ${sig} again`));
      return;
    }
    signalName = sig;
    logger.warn(`received ${sig}: no new work starts, running steps are canceled (send it again to stop at once)`, runId ? { runId } : {});
    cancel.abort(new Error(`received ${sig}`));
  };
  const signalExit = () => (signalName === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let outcome: MaterializeOutcome;
  try {
    outcome = await runMaterialize(ctx.instance(), {
      ...(options.select !== undefined ? { selection: options.select } : {}),
      fullRefresh: options.fullRefresh,
      trigger,
      ...(options.runId !== undefined ? { runId: options.runId } : {}),
      onRunId: (id) => (runId = id),
      concurrency: options.concurrency,
      ...(options.eventLog ? { eventLog: options.eventLog } : {}),
      lockTimeoutMs: options.lockTimeout * 1000,
      onLockWait: (message) => terminal?.print(message),
      signal: cancel.signal,
      stopAtOnce: stopAtOnce.signal,
      ...(terminal ? { reporter: new TerminalRunReporter(terminal, { showWarnings: ctx.globals.logLevel !== 'error' }) } : {}),
      onResult: (result) => {
        terminal?.close();
        // The terminal showed each asset's outcome already: the same screen gets the run's line only.
        const sameScreen = terminal !== null && (ctx.stdout as NodeJS.WriteStream).isTTY === true;
        write(options.json ? JSON.stringify(result, null, 2) + '\n' : sameScreen ? renderRunLine(result, terminal.paint, ctx.program) : renderRun(result));
      },
    });
  } finally {
    terminal?.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  switch (outcome.kind) {
    case 'duplicate-run-id':
      ctx.reportError(`run ${outcome.runId} is in the event log already (${outcome.status}, trigger ${outcome.trigger}): a run id runs once`, { runId: outcome.runId, exitCode: EXIT.FAILURE });
      return EXIT.FAILURE;
    case 'canceled-before-start':
      ctx.reportError(`stopped by ${signalName ?? 'a signal'} while waiting for the run lock; nothing ran`, { exitCode: signalExit() });
      return signalExit();
    case 'locked':
      ctx.reportError(
        options.lockTimeout > 0
          ? `${outcome.message}; it was still held after --lock-timeout ${options.lockTimeout}s: try again later or wait longer`
          : `${outcome.message}; try again later or pass --lock-timeout SECONDS to wait`,
        { exitCode: EXIT.FAILURE },
      );
      // Scripts reading --json get an answer too: nothing ran, and who holds the lock. No runId:
      // this attempt is not in the event log (`sfpipe events` would not find it).
      if (options.json) write(JSON.stringify({ status: 'LOCKED', holder: outcome.holder, steps: [] }, null, 2) + '\n');
      return EXIT.FAILURE;
    case 'resources-failed':
      ctx.reportError(`could not open the pipeline's resources: ${outcome.error}`, { runId: outcome.runId, exitCode: EXIT.FAILURE });
      return EXIT.FAILURE;
    case 'stopped-at-once':
      // Steps may still be running: leave now (their work, and the run lock, end with this process).
      process.exit(signalExit());
    // falls through (process.exit never returns)
    case 'ran': {
      const { result, lostLock } = outcome;
      if (lostLock && result.status === 'CANCELED') {
        ctx.reportError(`${lostLock}; the run was stopped so that two runs never write at once`, { runId: result.runId, exitCode: EXIT.FAILURE });
        return EXIT.FAILURE;
      }
      if (result.status === 'CANCELED') return signalExit();
      return result.status === 'SUCCESS' ? EXIT.OK : EXIT.FAILURE;
    }
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
