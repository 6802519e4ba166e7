import { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { EventLog, SensorTickRecord } from '../../storage/event-log.js';
import { jsonText, sensorsReport, type SensorReport } from '../../reports.js';
import { tickSensor, type LaunchOutcome, type LaunchRequest, type RunLauncher, type SensorDef } from '../../sensors.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { materialize } from './materialize.js';
import { sensorWatchCommand } from './sensor-watch.js';

/** `sfpipe sensor tick [NAME]`, `sfpipe sensor watch [NAME]` and `sfpipe sensor list`. */
export function sensorCommand(ctx: () => CliContext, setExit: (code: number) => void): Command {
  const sensor = new Command('sensor').description("The pipeline's sensors: evaluate one (tick), watch a push sensor (watch) or list them with their last tick");
  sensor
    .command('tick')
    .description('Evaluate a sensor once (every sensor without NAME) and launch the runs it requests')
    .argument('[name]', 'the sensor (all of them by default)')
    .option('--json', 'print {ticks: [{evaluated, status, cursor, skipReason, runRequests, …}]} on stdout', false)
    .option('--force', "evaluate even when the sensor's minimum interval has not passed since its last tick", false)
    .addHelpText(
      'after',
      [
        '',
        'A tick takes the sensor\'s lock (another tick going: skipped), reads its cursor from the',
        'event log, evaluates it and records the outcome. A requested run gets a run id derived',
        'from its run key, so a run key is run once however many ticks request it. In a pod',
        '(KUBERNETES_SERVICE_HOST set) the run is a Job made from the materialize CronJob, as',
        '`sfpipe launch` makes it; elsewhere it runs in this process. Runs are recorded with the',
        'trigger sensor:<name>.',
        '',
        'Exit codes: 0 evaluated (a run requested, or skipped with a reason) or not due (another',
        'tick going, minimum interval); 1 the evaluation failed, or a run it launched here failed;',
        '2 no such sensor.',
        '',
      ].join('\n'),
    )
    .action(async (name: string | undefined, opts: { json: boolean; force: boolean }) => setExit(await tick(ctx(), name, opts)));
  sensor.addCommand(sensorWatchCommand(ctx, setExit, (c, eventLog) => runLauncher(c, eventLog, false)));
  sensor
    .command('list')
    .description('List the sensors with their target, minimum interval and last tick')
    .option('--json', 'print JSON', false)
    .action(async (opts: { json: boolean }) => {
      const c = ctx();
      const eventLog = await c.openEventLog();
      try {
        const report = await sensorsReport(await c.sensors(), eventLog);
        c.write(opts.json ? jsonText(report) : renderSensors(report.sensors));
      } finally {
        await eventLog.close();
      }
      setExit(EXIT.OK);
    });
  return sensor;
}

async function pick(ctx: CliContext, name: string | undefined): Promise<SensorDef[]> {
  const sensors = await ctx.sensors();
  if (sensors.length === 0) throw new UsageError('this pipeline defines no sensors');
  if (name === undefined) return sensors;
  const found = sensors.find((s) => s.name === name);
  if (!found) throw new UsageError(`no sensor named "${name}"; the sensors are: ${sensors.map((s) => s.name).join(', ')}`);
  return [found];
}

async function tick(ctx: CliContext, name: string | undefined, opts: { json: boolean; force: boolean }): Promise<number> {
  const sensors = await pick(ctx, name);
  const eventLog = await ctx.openEventLog();
  const runLock = await ctx.runLock();
  const launcher = runLauncher(ctx, eventLog, opts.json);
  const controller = new AbortController();
  const stop = (sig: NodeJS.Signals) => controller.abort(new Error(`received ${sig}`));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const ticks: (SensorTickRecord & { evaluated: boolean })[] = [];
  try {
    for (const sensor of sensors) {
      const result = await tickSensor({
        sensor,
        eventLog,
        sensorLock: await ctx.sensorLock(sensor.name),
        runLock,
        launcher,
        log: ctx.logger,
        stateDir: ctx.stateDir,
        signal: controller.signal,
        force: opts.force,
      });
      ticks.push({ evaluated: result.evaluated, ...result.tick });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await eventLog.close();
  }
  ctx.write(opts.json ? jsonText({ ticks }) : ticks.map(renderTick).join(''));
  const failed = ticks.some((t) => t.status === 'FAILURE' || t.runRequests.some((r) => r.failed));
  return failed ? EXIT.FAILURE : EXIT.OK;
}

/**
 * The pipeline's launcher when it has one (in a pod: a Job); else the run goes in this process,
 * as `sfpipe materialize` runs it. Either way a run id the event log has was launched before: the
 * pipeline's launcher is not asked again (its Job may be gone, deleted after its
 * ttlSecondsAfterFinished). `eventLog` is the command's own, open for the tick or the watch.
 */
export function runLauncher(ctx: CliContext, eventLog: EventLog, json: boolean): RunLauncher {
  const { launchRun } = ctx.pipeline;
  const runOf = async (runId: string) => {
    const run = await eventLog.getRun(runId);
    return run?.runId === runId ? run : null;
  };
  const launched = async (req: LaunchRequest): Promise<LaunchOutcome | null> => {
    const before = await runOf(req.runId);
    return before ? { status: 'ALREADY_LAUNCHED', detail: `run ${req.runId} started ${before.startedAt} and is ${before.status}` } : null;
  };
  if (launchRun) return { launch: async (req) => (await launched(req)) ?? launchRun(ctx.pipelineContext(), req) };
  return {
    async launch(req: LaunchRequest): Promise<LaunchOutcome> {
      const before = await launched(req);
      if (before) return before;
      const code = await materialize(ctx, {
        select: req.selection,
        fullRefresh: false,
        json,
        lockTimeout: 0,
        concurrency: 2,
        trigger: req.trigger,
        runId: req.runId,
        eventLog,
        // stdout is the tick's: with --json the run's result goes to stderr.
        write: (text) => (json ? ctx.stderr : ctx.stdout).write(text),
      });
      const after = await runOf(req.runId);
      if (!after) return { status: 'NOT_LAUNCHED', detail: 'the run did not start (another run holds the run lock); a later tick launches it', failed: code !== EXIT.OK && code !== EXIT.FAILURE };
      return { status: 'LAUNCHED', detail: `ran in this process: ${after.status}`, failed: after.status !== 'SUCCESS' };
    },
  };
}

function renderTick(t: SensorTickRecord & { evaluated: boolean }): string {
  const lines: string[] = [];
  const head = `sensor ${t.sensorName}: ${t.evaluated ? t.status : 'NOT EVALUATED'}`;
  if (t.status === 'FAILURE') lines.push(`${head} — ${t.error}`);
  else if (t.runRequests.length === 0) lines.push(`${head} — ${t.skipReason}`);
  else lines.push(head);
  for (const r of t.runRequests) lines.push(`  run ${r.runId} (run key ${r.runKey}, ${r.selection}): ${r.launch} — ${r.detail}`);
  if (t.evaluated) lines.push(`  cursor: ${t.cursor ?? '-'}`);
  return lines.join('\n') + '\n';
}

function renderSensors(sensors: SensorReport[]): string {
  if (sensors.length === 0) return 'no sensors\n';
  const lines: string[] = [];
  for (const s of sensors) lines.push(...sensorLines(s), '');
  return lines.join('\n');
}

/** A sensor as `sensor list` and `lineage` show it. */
export function sensorLines(s: SensorReport): string[] {
  const lines = [`sensor ${s.name} → ${s.target} (${s.mode === 'push' ? 'pushed: sensor watch' : `at most every ${s.minimumIntervalSeconds} s`})`];
  if (s.description) lines.push(`    ${s.description}`);
  const t = s.lastTick;
  if (!t) lines.push('    last tick: never');
  else {
    const what = t.status === 'FAILURE' ? `FAILURE — ${t.error}` : t.status === 'SKIPPED' ? `SKIPPED — ${t.skipReason}` : `REQUESTED ${t.runRequests.length} run(s)`;
    lines.push(`    last tick: ${t.timestamp} ${what}`);
    lines.push(`    cursor: ${t.cursor ?? '-'}`);
  }
  const r = s.lastRequest;
  if (r) lines.push(`    last run requested: ${r.runId} (run key ${r.runKey}) at ${r.timestamp}: ${r.launch}`);
  return lines;
}
