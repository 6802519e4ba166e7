/**
 * Sensors, as Dagster's: a function evaluated on a tick (a CronJob, `sfpipe sensor tick`) that
 * looks at something outside the runtime and either requests runs of a target selection, each
 * with a run key, or says why not (a skip reason); either way it leaves a cursor for the next tick.
 *
 * What the runtime guarantees around the function:
 * - one evaluation of a sensor at a time: a tick takes the sensor's lock first (a file lock
 *   locally, a Lease in a pod) and a tick that finds it held is skipped without evaluating;
 * - the minimum interval: a tick sooner than that after the sensor's last one is skipped;
 * - every evaluation is recorded in the event log with its cursor, skip reason or error and the
 *   runs it requested; the cursor the next tick sees is the newest recorded one;
 * - a run key gets one run, ever: its run id is derived from (sensor, run key) and claimed in the
 *   event log before the run is launched, and launching is idempotent per run id. A tick that
 *   crashed after claiming and is run again launches the claimed run if it never started, and
 *   does not start a second one if it did.
 *
 * Nothing here knows what a sensor watches: the pipeline's sensors live with the pipeline.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Metadata } from './definitions.js';
import { DefinitionError, errorMessage } from './errors.js';
import { SENSOR_NAME, type EventLog, type MaterializationRecord, type RunTrigger, type SensorRunRequestRecord, type SensorTickRecord } from './storage/event-log.js';
import type { AssetKey } from './keys.js';
import type { Logger } from './logging.js';
import { LockHeldError, type LockHolder, type RunLock } from './storage/run-lock.js';

/** A run a sensor asks for. */
export interface RunRequest {
  /** Identifies the request: a run key is run once, however many ticks request it. */
  runKey: string;
  /** The selection to run; the sensor's target by default. */
  selection?: string;
}

/** What an evaluation returns: run requests, or a skip reason; and the new cursor. */
export interface SensorResult {
  runRequests?: RunRequest[];
  /** Why no run is requested (shown by `sfpipe sensor list` and `lineage`). */
  skipReason?: string;
  /** The cursor for the next tick; undefined keeps the current one. */
  cursor?: string | null;
  /** Recorded with the tick (e.g. what was observed, API calls made). */
  metadata?: Metadata;
}

/** What a sensor's evaluation receives. */
export interface SensorContext {
  readonly sensorName: string;
  readonly tickId: string;
  /** The cursor the previous tick left (null on the first tick). */
  readonly cursor: string | null;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly now: Date;
  /** The stateDir and logger the CLI has (to open the pipeline's clients). */
  readonly stateDir: string;
  /** An asset's last materialization (e.g. a watermark in its metadata). */
  lastMaterialization(key: AssetKey): Promise<MaterializationRecord | null>;
  /** Who holds the pipeline's run lock now (null: no run is going). */
  runLockHolder(): Promise<LockHolder | null>;
}

export interface SensorDef {
  /** Lowercase letters, digits, _ and -; recorded in the trigger `sensor:<name>`. */
  name: string;
  description: string;
  /** A tick sooner than this after the sensor's last recorded tick is skipped without evaluating. */
  minimumIntervalSeconds: number;
  /** The asset selection its runs materialize, e.g. `sf_raw/sf_user+`. */
  target: string;
  /** A polled sensor's evaluation (`sensor tick`); a push sensor has none. */
  evaluate?(ctx: SensorContext): Promise<SensorResult>;
  /** A push sensor's subscription to its source's change events (`sensor watch`, runtime/sensor-watch.ts). */
  push?: PushSource;
}

/** One change event a push sensor's source delivered. */
export interface PushEvent {
  /** Where the event is in the source's stream (e.g. a replay id): the cursor after it. */
  position: string;
  /** Recorded with the tick that covers it (e.g. the record ids and change type). */
  detail?: Metadata;
}

export type SubscriptionState = 'connecting' | 'subscribed' | 'down';

export interface PushSubscribeOptions {
  /** Deliver the events after this position (null: only events from now on). */
  after: string | null;
  log: Logger;
  signal: AbortSignal;
  onEvent(event: PushEvent): void;
  onState(state: SubscriptionState, detail: string): void;
}

/** Where a push sensor's events come from. */
export interface PushSource {
  /** Subscribes; resolves once the source confirmed the subscription. */
  subscribe(o: PushSubscribeOptions): Promise<{ close(): Promise<void> }>;
  /** Negative, 0 or positive as position a is before, at or after b. */
  compare(a: string, b: string): number;
  /** The run key of the run that covers the events up to `position`. */
  runKey(position: string): string;
}

export type SensorSpec = Omit<SensorDef, 'description'> & { description?: string };


export function defineSensor(spec: SensorSpec): SensorDef {
  if (!SENSOR_NAME.test(spec.name)) throw new DefinitionError(`sensor name "${spec.name}": use lowercase letters, digits, _ and - (at most 48, starting with a letter)`);
  if (!(Number.isFinite(spec.minimumIntervalSeconds) && spec.minimumIntervalSeconds >= 0)) {
    throw new DefinitionError(`sensor ${spec.name}: minimumIntervalSeconds must be a number ≥ 0`);
  }
  if (!spec.target.trim()) throw new DefinitionError(`sensor ${spec.name}: the target selection is blank`);
  if (!spec.evaluate && !spec.push) throw new DefinitionError(`sensor ${spec.name}: give it an evaluate function (polled) or a push source (watched)`);
  return { ...spec, description: spec.description ?? '' };
}

/** The trigger recorded with a sensor's runs. */
export function sensorTrigger(name: string): RunTrigger {
  return `sensor:${name}`;
}

/** The run id of a sensor's run key: the same on every tick (and every retry of a crashed one). */
export function sensorRunId(sensorName: string, runKey: string): string {
  const h = createHash('sha256').update(`${sensorName}\u0000${runKey}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** What launching a requested run asks for. */
export interface LaunchRequest {
  sensorName: string;
  runKey: string;
  /** Derived from the run key: the launch must be idempotent for it. */
  runId: string;
  selection: string;
  trigger: RunTrigger;
}

export interface LaunchOutcome {
  status: 'LAUNCHED' | 'ALREADY_LAUNCHED' | 'NOT_LAUNCHED';
  detail: string;
  /** Launched in this process and finished: whether the run failed (the tick then exits 1). */
  failed?: boolean;
}

/**
 * Starts a requested run: in this process (the CLI's materialize), or elsewhere (a Kubernetes
 * Job). Must be idempotent per run id: a run id that was launched before is ALREADY_LAUNCHED.
 */
export interface RunLauncher {
  launch(request: LaunchRequest): Promise<LaunchOutcome>;
}

export interface TickOptions {
  sensor: SensorDef;
  eventLog: EventLog;
  /** This sensor's evaluation lock. */
  sensorLock: RunLock;
  /** The pipeline's run lock (the sensor reads its holder). */
  runLock: RunLock;
  launcher: RunLauncher;
  log: Logger;
  stateDir: string;
  signal?: AbortSignal;
  now?: () => Date;
  /** Evaluate even when the minimum interval has not passed. */
  force?: boolean;
}

export interface TickResult {
  /** false: the tick did not evaluate (the lock was held, or too soon) and recorded nothing. */
  evaluated: boolean;
  tick: SensorTickRecord;
}

/** One evaluation of a sensor: lock, cursor, evaluate, claim and launch the requested runs, record the tick. */
export async function tickSensor(o: TickOptions): Promise<TickResult> {
  const now = o.now ?? (() => new Date());
  const { sensor, eventLog } = o;
  const tickId = randomUUID();
  const started = now();
  const log = o.log.child({ sensor: sensor.name, tickId });
  const base = (cursor: string | null): SensorTickRecord => ({
    sensorName: sensor.name,
    tickId,
    timestamp: started.toISOString(),
    status: 'SKIPPED',
    cursorBefore: cursor,
    cursor,
    skipReason: null,
    error: null,
    runRequests: [],
    metadata: {},
  });

  if (!sensor.evaluate) {
    return { evaluated: false, tick: { ...base(null), skipReason: `a push sensor: its changes arrive through \`sensor watch ${sensor.name}\`, not ticks` } };
  }
  const evaluate = sensor.evaluate.bind(sensor);
  let lease;
  try {
    lease = await o.sensorLock.acquire(tickId, { timeoutMs: 0, ...(o.signal ? { signal: o.signal } : {}) });
  } catch (err) {
    if (!(err instanceof LockHeldError)) throw err;
    const tick = { ...base(null), skipReason: `another evaluation of sensor ${sensor.name} is going (tick ${err.holder.runId} since ${err.holder.since})` };
    log.info(`skipped: ${tick.skipReason}`);
    return { evaluated: false, tick };
  }
  try {
    const last = await eventLog.lastSensorTick(sensor.name);
    const cursor = last?.cursor ?? null;
    const tick = base(cursor);
    if (last && !o.force && sensor.minimumIntervalSeconds > 0) {
      const since = started.getTime() - Date.parse(last.timestamp);
      if (since >= 0 && since < sensor.minimumIntervalSeconds * 1000) {
        tick.skipReason = `the last tick was ${Math.round(since / 1000)} s ago, less than the minimum interval of ${sensor.minimumIntervalSeconds} s`;
        log.info(`skipped: ${tick.skipReason}`);
        return { evaluated: false, tick };
      }
    }

    const controller = new AbortController();
    const onAbort = () => controller.abort(o.signal?.reason);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    let result: SensorResult;
    try {
      result = await evaluate({
        sensorName: sensor.name,
        tickId,
        cursor,
        log,
        signal: controller.signal,
        now: started,
        stateDir: o.stateDir,
        lastMaterialization: (key) => eventLog.lastMaterialization(key),
        runLockHolder: () => o.runLock.holder(),
      });
    } catch (err) {
      tick.status = 'FAILURE';
      tick.error = errorMessage(err);
      log.error(`evaluation failed: ${tick.error}`);
      await eventLog.recordSensorTick(tick);
      return { evaluated: true, tick };
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
    }
    if (result.cursor !== undefined) tick.cursor = result.cursor;
    tick.metadata = { ...(result.metadata ?? {}) };
    const requests = result.runRequests ?? [];
    if (requests.length === 0) {
      tick.skipReason = result.skipReason ?? 'no run requested';
      log.info(`skipped: ${tick.skipReason}`, { cursor: tick.cursor });
    } else {
      tick.status = 'REQUESTED';
      for (const r of requests) tick.runRequests.push(await requestRun(o, tickId, started, r, log));
    }
    await eventLog.recordSensorTick(tick);
    return { evaluated: true, tick };
  } finally {
    await lease.release();
  }
}

async function requestRun(o: TickOptions, tickId: string, at: Date, request: RunRequest, log: Logger): Promise<SensorRunRequestRecord> {
  const { sensor, eventLog } = o;
  const selection = request.selection ?? sensor.target;
  const { claim, created } = await eventLog.claimRunKey({
    sensorName: sensor.name,
    runKey: request.runKey,
    runId: sensorRunId(sensor.name, request.runKey),
    tickId,
    timestamp: at.toISOString(),
  });
  if (!created) log.info(`run key ${request.runKey} was requested before (tick ${claim.tickId}, run ${claim.runId}): launched only if that run never started`);
  let outcome: LaunchOutcome;
  try {
    outcome = await o.launcher.launch({ sensorName: sensor.name, runKey: request.runKey, runId: claim.runId, selection, trigger: sensorTrigger(sensor.name) });
  } catch (err) {
    outcome = { status: 'NOT_LAUNCHED', detail: errorMessage(err), failed: true };
  }
  const record: SensorRunRequestRecord = {
    runKey: request.runKey,
    runId: claim.runId,
    selection,
    new: created,
    launch: outcome.status,
    detail: outcome.detail,
    ...(outcome.failed ? { failed: true } : {}),
  };
  const say = outcome.status === 'NOT_LAUNCHED' ? log.warn.bind(log) : log.info.bind(log);
  say(`run ${claim.runId} (run key ${request.runKey}, ${selection}): ${outcome.status} — ${outcome.detail}`, { runId: claim.runId, runKey: request.runKey });
  return record;
}
