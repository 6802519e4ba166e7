/**
 * Push mode against the simulator: the CDC sensor's watcher (jsforce's streaming client with the
 * Replay extension, over HTTP) and the real sf_raw/sf_user asset, run in this process as
 * `sensor watch` runs it on a laptop. Every wait is on an event (a recorded tick, a confirmed
 * subscription); t.timeout only bounds a test that would otherwise hang.
 */
import test, { type ExecutionContext } from 'ava';
import { sfUserCdcSensor } from '../../assets/sensors/sf-user-cdc.js';
import { watchSensor, type Watcher, type WatchState } from '../../runtime/sensor-watch.js';
import type { TickResult } from '../../runtime/sensors.js';
import { startHarness, type Harness } from '../helpers/extract-harness.js';

function watchEnv(t: ExecutionContext, h: Harness) {
  const sensor = sfUserCdcSensor({
    salesforce: (opts) => h.salesforce(opts),
  });
  const { options, launched: runs } = h.sensorStores(sensor);
  const ticks: TickResult[] = [];
  const stateListeners = new Set<(s: WatchState) => void>();
  const waiting: Array<(tick: TickResult) => void> = [];
  const start = async (): Promise<Watcher> => {
    const w = await watchSensor({
      ...options,
      quietMs: 200,
      lockPollMs: 50,
      onState: (s) => stateListeners.forEach((l) => l(s)),
      onTick: (tick) => {
        const w = waiting.shift();
        if (w) w(tick);
        else ticks.push(tick);
      },
    });
    t.teardown(() => w.stop());
    await w.subscribed;
    return w;
  };
  /** The next tick the watcher records (a requested run, launched and finished in this process). */
  const nextTick = (): Promise<TickResult> => (ticks.length ? Promise.resolve(ticks.shift()!) : new Promise((resolve) => waiting.push(resolve)));
  /** Resolves on the first state the watcher reports that satisfies `ok`. */
  const whenState = (ok: (s: WatchState) => boolean): Promise<WatchState> =>
    new Promise((resolve) => {
      const l = (s: WatchState): void => {
        if (!ok(s)) return;
        stateListeners.delete(l);
        resolve(s);
      };
      stateListeners.add(l);
    });
  return { start, nextTick, whenState, runs, runLock: options.runLock };
}

async function divisionOf(h: Harness, id: string): Promise<unknown> {
  const [row] = await h.query(`SELECT division FROM sf_raw.sf_user WHERE id = '${id}' ORDER BY systemmodstamp DESC LIMIT 1`);
  return row?.division;
}


test('a change in the simulator reaches a requested run, recorded with the trigger sensor:sf_user_cdc', async (t) => {
  t.timeout(60_000);
  const h = await startHarness({ sim: { users: 200, streamingTimeoutMs: 5000 } });
  t.teardown(() => h.close());
  t.is((await h.run()).result.status, 'SUCCESS', 'the first load');
  const env = watchEnv(t, h);
  const w = await env.start();
  t.is(w.state().subscription, 'subscribed');

  const id = h.changeUser(7, 'Pushed Division');
  const tick = await env.nextTick();
  t.is(tick.tick.status, 'REQUESTED');
  const [req] = tick.tick.runRequests;
  const replayId = h.sim.org.changeEvents.lastReplayId;
  t.like(req, { runKey: `UserChangeEvent.replayId=${replayId}`, selection: 'sf_raw/sf_user+', new: true, launch: 'LAUNCHED', detail: 'SUCCESS' });
  t.is(tick.tick.cursor, String(replayId), 'the cursor is the last replay id the run covers');
  t.like(tick.tick.metadata, { mode: 'push', events: 1 });
  t.like(await h.eventLog.getRun(req!.runId), { trigger: 'sensor:sf_user_cdc', status: 'SUCCESS' });
  t.is((await h.eventLog.lastSensorTick('sf_user_cdc'))?.cursor, String(replayId), 'stored in the event log');
  t.is(await divisionOf(h, id), 'Pushed Division', "the run's data has the change");
  t.deepEqual(env.runs, [req!.runId]);
});

test('a watcher stopped and started again across three changes misses none (replay from the stored id)', async (t) => {
  t.timeout(90_000);
  const h = await startHarness({ sim: { users: 200, streamingTimeoutMs: 5000 } });
  t.teardown(() => h.close());
  await h.run();
  const env = watchEnv(t, h);
  const first = await env.start();
  h.changeUser(5, 'Before');
  const before = await env.nextTick();
  t.is(before.tick.status, 'REQUESTED');
  await first.stop();

  // Three changes while no one watches.
  const ids = [h.changeUser(11, 'Down 1'), h.changeUser(12, 'Down 2'), h.changeUser(13, 'Down 3')];
  const newest = h.sim.org.changeEvents.lastReplayId;

  await env.start();
  const after = await env.nextTick();
  t.is(after.tick.status, 'REQUESTED');
  t.is(after.tick.cursorBefore, before.tick.cursor, 'resumed from the stored replay id');
  t.is(after.tick.cursor, String(newest));
  t.like(after.tick.metadata, { events: 3, last: String(newest) });
  const seen = (after.tick.metadata.changes as Array<{ recordIds: string[] }>).flatMap((c) => c.recordIds);
  t.deepEqual(seen, ids, 'all three changes, in order');
  t.is(after.tick.runRequests[0]?.launch, 'LAUNCHED');
  t.deepEqual(await Promise.all(ids.map((id) => divisionOf(h, id))), ['Down 1', 'Down 2', 'Down 3']);
  t.is(env.runs.length, 2);
});

test('a duplicate delivery makes no second run; a run already going is not doubled', async (t) => {
  t.timeout(90_000);
  const h = await startHarness({ sim: { users: 200, streamingTimeoutMs: 5000 } });
  t.teardown(() => h.close());
  await h.run();
  const env = watchEnv(t, h);
  const w = await env.start();
  h.changeUser(3, 'Pair A');
  h.changeUser(4, 'Pair B');
  const pairFirst = h.sim.org.changeEvents.lastReplayId - 1;
  const pair = await env.nextTick();
  t.like(pair.tick.metadata, { events: 2 });

  // The first of the pair again, then a new change: the duplicate is dropped, the new one runs alone.
  t.true(h.sim.streaming.redeliver(pairFirst));
  h.changeUser(6, 'After duplicate');
  const next = await env.nextTick();
  t.like(next.tick.metadata, { events: 1, last: String(h.sim.org.changeEvents.lastReplayId) });
  t.is(w.state().duplicatesDropped, 1);
  t.is(env.runs.length, 2, 'one run per burst, none for the duplicate');

  // A run holds the run lock: the burst waits for it instead of starting a second run.
  const lease = await env.runLock.acquire('run-going', { timeoutMs: 0 });
  const waits = env.whenState((s) => s.waitingForRun === 'run-going');
  h.changeUser(8, 'While locked');
  await waits;
  t.is(env.runs.length, 2, 'nothing launched while the run lock is held');
  await lease.release();
  const locked = await env.nextTick();
  t.is(locked.tick.runRequests[0]?.launch, 'LAUNCHED');
  t.like(locked.tick.metadata, { events: 1 });
  t.is(env.runs.length, 3);
});
