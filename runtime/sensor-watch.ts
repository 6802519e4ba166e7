/**
 * Push mode: a long-running watcher of a push sensor (`sfpipe sensor watch`). It subscribes to the
 * sensor's source from the sensor's cursor, gathers the events that arrive until a quiet period
 * passes, and requests one run for them through tickSensor (so the run key claim, the launch and
 * the recorded tick are the same as a polled tick's). What it guarantees:
 * - the cursor advances only in the tick that claimed the run covering the events, so a watcher
 *   stopped at any point resumes from the last covered event and misses none (while the source
 *   still retains them);
 * - an event at or before the newest one already taken (a duplicate delivery, a replay) is dropped;
 * - a run is requested only while the pipeline's run lock is free: a run already going is not
 *   doubled; the batch waits for it, then its own run picks the changes up;
 * - one watcher per sensor: it holds the sensor's lock for as long as it runs.
 */
import { randomUUID } from 'node:crypto';
import { errorMessage } from './errors.js';
import { abortableSleep } from './retry.js';
import { LockHeldError, type LockLease, type RunLock } from './storage/run-lock.js';
import { tickSensor, type PushEvent, type SubscriptionState, type TickOptions, type TickResult } from './sensors.js';

/** What a tick needs (the sensor, its stores and locks, the launcher), and how the watch batches. */
export interface WatchOptions extends Pick<TickOptions, 'sensor' | 'eventLog' | 'sensorLock' | 'runLock' | 'launcher' | 'log' | 'stateDir'> {
  /** The quiet period: a batch is requested once no event came for this long. */
  quietMs: number;
  /** How often a batch waiting for a run to finish looks at the run lock again. Default 1 s. */
  lockPollMs?: number;
  /** A launch that did not start (the lock was taken meanwhile) is tried again this many times. Default 5. */
  launchAttempts?: number;
  /** Called on each change of the subscription's state, and when a batch starts or stops waiting for a run. */
  onState?(state: WatchState): void;
  /** Called after each recorded tick. */
  onTick?(tick: TickResult): void;
}

export interface WatchState {
  subscription: SubscriptionState;
  detail: string;
  since: string;
  /** The stored cursor (the last event a claimed run covers). */
  cursor: string | null;
  /** Events taken but not yet covered by a requested run. */
  pending: number;
  /** The run holding the run lock that a batch is waiting for (null: none). */
  waitingForRun: string | null;
  duplicatesDropped: number;
}

export interface Watcher {
  /** Resolves when the subscription is confirmed. */
  readonly subscribed: Promise<void>;
  state(): WatchState;
  /** Unsubscribes, lets a batch being requested finish (events not yet requested are replayed next time), releases the lock. */
  stop(): Promise<void>;
  /** Resolves when the watcher stopped (by stop(), or a failure it could not recover from: rejects). */
  readonly done: Promise<void>;
}

export class WatcherRunningError extends Error {
  override name = 'WatcherRunningError';
}

/** Starts watching; throws WatcherRunningError when another watcher of the sensor holds its lock. */
export async function watchSensor(o: WatchOptions): Promise<Watcher> {
  const { sensor } = o;
  const push = sensor.push;
  if (!push) throw new Error(`sensor ${sensor.name} is not a push sensor: tick it instead`);
  const watchId = `watch-${randomUUID()}`;
  const log = o.log.child({ sensor: sensor.name, watchId });
  let lease: LockLease;
  try {
    lease = await o.sensorLock.acquire(watchId, { timeoutMs: 0 });
  } catch (err) {
    if (err instanceof LockHeldError) {
      throw new WatcherRunningError(`sensor ${sensor.name} is already watched or ticked (${err.message}); one watcher per sensor`);
    }
    throw err;
  }

  const controller = new AbortController();
  const last = await o.eventLog.lastSensorTick(sensor.name);
  const state: WatchState = { subscription: 'connecting', detail: 'subscribing', since: new Date().toISOString(), cursor: last?.cursor ?? null, pending: 0, waitingForRun: null, duplicatesDropped: 0 };
  let newest = state.cursor;
  let pending: PushEvent[] = [];
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> = Promise.resolve();
  let failed: ((err: unknown) => void) | null = null;
  const done = new Promise<void>((resolve, reject) => {
    failed = reject;
    controller.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  // Another watcher took the sensor's lock over (this one stopped renewing it): stop, as a run does.
  lease.lost?.addEventListener('abort', () => failed?.(new Error(`lost the lock of sensor ${sensor.name} to another watcher`)), { once: true });
  const setState = (subscription: SubscriptionState, detail: string): void => {
    if (subscription !== state.subscription || detail !== state.detail) {
      Object.assign(state, { subscription, detail, since: new Date().toISOString() });
      (subscription === 'down' ? log.warn.bind(log) : log.info.bind(log))(`subscription ${subscription}: ${detail}`);
    }
    o.onState?.({ ...state });
  };

  const onEvent = (e: PushEvent): void => {
    if (controller.signal.aborted) return;
    if (newest !== null && push.compare(e.position, newest) <= 0) {
      state.duplicatesDropped++;
      log.debug(`event at ${e.position} dropped: not after ${newest} (a duplicate delivery or a replay of a covered event)`);
      return;
    }
    newest = e.position;
    pending.push(e);
    state.pending = pending.length;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      flushing = flushing.then(flush).catch((err: unknown) => {
        log.error(`requesting a run failed: ${errorMessage(err)}`);
        failed?.(err);
      });
    }, o.quietMs);
  };

  /** One run for the events gathered so far, once the run lock is free. */
  const flush = async (): Promise<void> => {
    const batch = pending;
    pending = [];
    state.pending = 0;
    if (batch.length === 0 || controller.signal.aborted) {
      pending = [...batch, ...pending];
      state.pending = pending.length;
      return;
    }
    const lastPosition = batch[batch.length - 1]!.position;
    const runKey = push.runKey(lastPosition);
    const detail = batch.slice(0, 20).map((e) => e.detail ?? { position: e.position });
    for (let attempt = 1; ; attempt++) {
      await untilRunLockFree();
      const result = await tickSensor({
        // The batch is this evaluation's outcome; the watcher's lease is the sensor lock.
        sensor: { ...sensor, evaluate: async () => ({ runRequests: [{ runKey }], cursor: lastPosition, metadata: { mode: 'push', events: batch.length, first: batch[0]!.position, last: lastPosition, changes: detail } }) },
        eventLog: o.eventLog,
        sensorLock: heldBy(lease),
        runLock: o.runLock,
        launcher: o.launcher,
        log: o.log,
        stateDir: o.stateDir,
        force: true,
      });
      state.cursor = result.tick.cursor;
      o.onTick?.(result);
      const request = result.tick.runRequests[0];
      if (request?.launch !== 'NOT_LAUNCHED' || request.failed || attempt >= (o.launchAttempts ?? 5)) {
        if (request?.launch === 'NOT_LAUNCHED') log.warn(`run key ${runKey} is claimed but its run did not start (${request.detail}); the next run covers its changes`);
        return;
      }
      log.info(`run ${request.runId} did not start (${request.detail}): waiting for the run lock, then launching it again`);
    }
  };

  const untilRunLockFree = async (): Promise<void> => {
    for (;;) {
      const holder = await o.runLock.holder();
      if (state.waitingForRun !== (holder?.runId ?? null)) {
        state.waitingForRun = holder?.runId ?? null;
        if (holder) log.info(`run ${holder.runId} holds the run lock (since ${holder.since}): the batch waits for it (not doubled)`);
        o.onState?.({ ...state });
      }
      if (!holder) return;
      await abortableSleep(o.lockPollMs ?? 1000, controller.signal);
    }
  };

  let subscription: { close(): Promise<void> } | null = null;
  const subscribed = (async () => {
    setState('connecting', state.cursor === null ? 'subscribing for new events' : `subscribing after ${state.cursor}`);
    subscription = await push.subscribe({ after: state.cursor, log, signal: controller.signal, onEvent, onState: setState });
  })();
  subscribed.catch(async (err: unknown) => {
    setState('down', `subscription failed: ${errorMessage(err)}`);
    failed?.(err);
  });

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (timer) clearTimeout(timer);
      controller.abort(new Error('stopped'));
      await subscribed.catch(() => undefined);
      await (subscription as { close(): Promise<void> } | null)?.close().catch((err: unknown) => log.warn(`unsubscribing: ${errorMessage(err)}`));
      await flushing.catch(() => undefined);
      if (pending.length) log.info(`${pending.length} event(s) not yet covered by a run: the next watcher replays them`);
      setState('down', 'stopped');
      await lease.release();
    })();
    return stopping;
  };
  void done.catch(() => undefined);
  return { subscribed, state: () => ({ ...state }), stop, done };
}

/** The watcher's own lease stands for the sensor lock in each of its ticks. */
function heldBy(lease: LockLease): RunLock {
  return {
    acquire: async () => ({ holder: lease.holder, release: async () => {} }),
    holder: async () => lease.holder,
  };
}
