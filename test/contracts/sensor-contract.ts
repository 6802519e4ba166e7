/**
 * The sensor part of the EventLog contract, for every store (SQLite in the state directory,
 * objects in S3): what runtime/sensors.ts relies on. The store's own methods (ticks newest
 * first, the cursor, atomic run-key claims from several instances at once) and ticks of a
 * sensor of the test's own through tickSensor: the cursor surviving a restart (a new store
 * instance on the same storage), a run key run once, a tick that crashed at each point and is
 * run again. The evaluation lock is a file lock here (a Lease in a pod): it is not the store's.
 * No wall clock: the ticks' clock is the test's.
 */
import type { ExecutionContext, TestFn } from 'ava';
import path from 'node:path';

import type { EventLog, SensorRunKeyClaim, SensorTickRecord } from '../../runtime/storage/event-log.js';
import { silentLogger } from '../../runtime/logging.js';
import { FileRunLock } from '../../runtime/storage/file-run-lock.js';
import { defineSensor, sensorRunId, tickSensor, type RunLauncher, type SensorContext, type SensorResult } from '../../runtime/sensors.js';
import { tempDir } from '../helpers/temp.js';
import { iso } from './event-log-contract.js';

/** A store as the contract needs it: a fresh empty one, and another instance on the same storage (a restart, another pod). */
export interface SensorStore {
  open(t: ExecutionContext): EventLog | Promise<EventLog>;
  reopen(t: ExecutionContext, log: EventLog): EventLog | Promise<EventLog>;
}

function tickRecord(name: string, tickId: string, ms: number, cursor: string | null, extra: Partial<SensorTickRecord> = {}): SensorTickRecord {
  return {
    sensorName: name,
    tickId,
    timestamp: iso(ms),
    status: 'SKIPPED',
    cursorBefore: null,
    cursor,
    skipReason: 'quiet',
    error: null,
    runRequests: [],
    metadata: {},
    ...extra,
  };
}

interface Env {
  /** The store the next tick uses: reopen() replaces it, as a restarted process would. */
  log: EventLog;
  launched: string[];
  launcher: RunLauncher;
  seen: (string | null)[];
  tick(opts?: { eventLog?: EventLog; force?: boolean }): ReturnType<typeof tickSensor>;
  reopen(): Promise<void>;
}

/** A sensor answering `answer(ctx)`; a launcher that records the run in the event log, once per run id. */
async function setup(t: ExecutionContext, store: SensorStore, answer: (ctx: SensorContext) => SensorResult | Promise<SensorResult>): Promise<Env> {
  const dir = tempDir('sfpipe-sensor-contract-');
  const interval = 60;
  let clock = Date.UTC(2030, 0, 1);
  const sensor = defineSensor({
    name: 'test_sensor',
    minimumIntervalSeconds: interval,
    target: 'a+',
    async evaluate(ctx) {
      env.seen.push(ctx.cursor);
      return answer(ctx);
    },
  });
  const env: Env = {
    log: await store.open(t),
    launched: [],
    seen: [],
    launcher: {
      async launch(req) {
        const existing = await env.log.getRun(req.runId);
        if (existing?.runId === req.runId) return { status: 'ALREADY_LAUNCHED', detail: `run ${req.runId} exists` };
        env.launched.push(req.runId);
        const at = new Date(clock).toISOString();
        await env.log.startRun({ runId: req.runId, selection: req.selection, assets: ['a'], trigger: req.trigger, fullRefresh: false, startedAt: at });
        await env.log.finishRun(req.runId, 'SUCCESS', at);
        return { status: 'LAUNCHED', detail: 'ran' };
      },
    },
    tick(opts = {}) {
      clock += interval * 1000; // each tick one interval after the last
      return tickSensor({
        sensor,
        eventLog: opts.eventLog ?? env.log,
        sensorLock: new FileRunLock(path.join(dir, 'sensor.lock')),
        runLock: new FileRunLock(path.join(dir, 'run.lock')),
        launcher: env.launcher,
        log: silentLogger(),
        stateDir: dir,
        now: () => new Date(clock),
        ...(opts.force ? { force: true } : {}),
      });
    },
    async reopen() {
      const before = env.log;
      env.log = await store.reopen(t, before);
      await before.close();
    },
  };
  return env;
}

/** Registers the sensor contract's tests. */
export function sensorContract(test: TestFn, store: SensorStore): void {
  test('sensor store: ticks newest first, the newest is the cursor; another instance reads them back', async (t) => {
    const log = await store.open(t);
    t.is(await log.lastSensorTick('s1'), null);
    t.deepEqual(await log.sensorTicks('s1', 5), []);
    const a = tickRecord('s1', 'tick-a', 1000, 'c1');
    const b = tickRecord('s1', 'tick-b', 3000, 'c3', {
      status: 'REQUESTED',
      cursorBefore: 'c1',
      skipReason: null,
      runRequests: [{ runKey: 'k "1"/é', runId: 'r1', selection: 'a+', new: true, launch: 'LAUNCHED', detail: 'job.batch/x created' }],
      metadata: { newest: iso(2500), api_calls: { sensor: 1 } },
    });
    const older = tickRecord('s1', 'tick-c', 2000, 'c2'); // recorded last, but older
    await log.recordSensorTick(a);
    await log.recordSensorTick(b);
    await log.recordSensorTick(older);
    await log.recordSensorTick(tickRecord('s1-other', 'tick-x', 9000, 'other')); // a name that extends s1 is another sensor
    t.deepEqual(await log.lastSensorTick('s1'), b);
    t.deepEqual((await log.sensorTicks('s1', 10)).map((x) => x.tickId), ['tick-b', 'tick-c', 'tick-a']);
    t.deepEqual((await log.sensorTicks('s1', 2)).map((x) => x.tickId), ['tick-b', 'tick-c']);
    t.deepEqual(await log.sensorTicks('s1', 0), []);

    const again = await store.reopen(t, log);
    t.deepEqual(await again.lastSensorTick('s1'), b, 'the cursor survives a restart');
    t.deepEqual((await again.sensorTicks('s1', 10))[0], b);
    t.is((await again.lastSensorTick('s1-other'))?.cursor, 'other');
  });

  test('sensor store: the newest tick that requested runs, however many quiet ticks came after it', async (t) => {
    const log = await store.open(t);
    t.is(await log.lastSensorRequest('s2'), null);
    const requesting = (id: string, ms: number, runId: string) =>
      tickRecord('s2', id, ms, `c${ms}`, {
        status: 'REQUESTED',
        cursorBefore: null,
        skipReason: null,
        runRequests: [{ runKey: `k-${runId}`, runId, selection: 'a+', new: true, launch: 'LAUNCHED', detail: 'ran here' }],
        metadata: {},
      });
    await log.recordSensorTick(tickRecord('s2', 'quiet-0', 1000, 'c1000'));
    t.is(await log.lastSensorRequest('s2'), null, 'a sensor that never requested a run');
    const first = requesting('req-1', 2000, 'r1');
    await log.recordSensorTick(first);
    // More quiet ticks than any look-back of recent ticks would cover.
    for (let i = 1; i <= 250; i++) await log.recordSensorTick(tickRecord('s2', `quiet-${i}`, 2000 + i * 1000, `q${i}`));
    t.deepEqual(await log.lastSensorRequest('s2'), first);
    const newer = requesting('req-2', 400_000, 'r2');
    await log.recordSensorTick(newer);
    await log.recordSensorTick(requesting('req-old', 1500, 'r0')); // recorded last, but older
    t.deepEqual(await log.lastSensorRequest('s2'), newer);
    t.is(await log.lastSensorRequest('s2-other'), null);
    const again = await store.reopen(t, log);
    t.deepEqual(await again.lastSensorRequest('s2'), newer, 'after a restart');
  });

  test('sensor store: a run key is claimed once, also by several instances at once; the claim survives a restart', async (t) => {
    const log = await store.open(t);
    const others = await Promise.all([1, 2, 3].map(() => store.reopen(t, log)));
    const claim = (tickId: string): SensorRunKeyClaim => ({ sensorName: 's', runKey: 'User.SystemModstamp=2030-01-01T00:00:00.000Z', runId: `run-${tickId}`, tickId, timestamp: iso(0) });
    // Eight claims of one run key from four instances (four pods), all in flight at once.
    const results = await Promise.all([log, ...others, log, ...others].map((l, i) => l.claimRunKey(claim(`t${i}`))));
    const created = results.filter((r) => r.created);
    t.is(created.length, 1, 'exactly one claim is created');
    const winner = created[0]!.claim;
    t.true(results.every((r) => r.claim.runId === winner.runId && r.claim.tickId === winner.tickId), 'every caller gets the stored claim');

    const later = await (await store.reopen(t, log)).claimRunKey(claim('late'));
    t.deepEqual(later, { claim: winner, created: false });
    // Another run key, and the same run key of another sensor, are claims of their own.
    t.true((await log.claimRunKey({ ...claim('k2'), runKey: 'other key' })).created);
    t.true((await log.claimRunKey({ ...claim('s2'), sensorName: 's2' })).created);
  });

  test('sensor ticks: the cursor goes from tick to tick and survives a restart (a new store instance, the same storage)', async (t) => {
    const env = await setup(t, store, (ctx) => ({ skipReason: 'nothing new', cursor: `${Number(ctx.cursor ?? 0) + 1}` }));
    const first = await env.tick();
    t.like(first, { evaluated: true, tick: { status: 'SKIPPED', cursorBefore: null, cursor: '1', skipReason: 'nothing new' } });
    await env.tick();
    await env.reopen();
    const third = await env.tick();
    t.like(third.tick, { cursorBefore: '2', cursor: '3' });
    t.deepEqual(env.seen, [null, '1', '2']);
    t.deepEqual((await env.log.sensorTicks('test_sensor', 10)).map((x) => x.cursor), ['3', '2', '1'], 'every tick recorded, newest first');
    t.deepEqual(env.launched, []);
  });

  test('sensor ticks: a run key is run once however many ticks request it, recorded with the trigger sensor:<name>', async (t) => {
    const env = await setup(t, store, () => ({ runRequests: [{ runKey: 'k1' }], cursor: 'c' }));
    const a = await env.tick();
    await env.reopen();
    const b = await env.tick();
    const id = sensorRunId('test_sensor', 'k1');
    t.deepEqual(env.launched, [id]);
    t.like(a.tick, { status: 'REQUESTED', runRequests: [{ runKey: 'k1', runId: id, selection: 'a+', new: true, launch: 'LAUNCHED' }] });
    t.like(b.tick, { status: 'REQUESTED', runRequests: [{ runKey: 'k1', runId: id, new: false, launch: 'ALREADY_LAUNCHED' }] });
    t.like(await env.log.getRun(id), { trigger: 'sensor:test_sensor', status: 'SUCCESS' });
  });

  test('sensor ticks: a tick that crashed after claiming the run key, before launching, launches it when run again (once)', async (t) => {
    let key = 'k1';
    const env = await setup(t, store, (ctx) => (ctx.cursor === key ? { skipReason: 'seen' } : { runRequests: [{ runKey: key }], cursor: key }));
    // The process dies right after the claim is stored: nothing else happens in that tick.
    const crashing: EventLog = Object.create(env.log, {
      claimRunKey: {
        value: async (claim: SensorRunKeyClaim) => {
          await env.log.claimRunKey(claim);
          throw new Error('killed');
        },
      },
    });
    await t.throwsAsync(env.tick({ eventLog: crashing }), { message: 'killed' });
    t.deepEqual(env.launched, []);
    await env.reopen(); // the tick is run again by a new process
    t.deepEqual(await env.log.sensorTicks('test_sensor', 5), [], 'the crashed tick recorded nothing: its cursor did not move');
    const again = await env.tick();
    t.like(again.tick, { status: 'REQUESTED', runRequests: [{ runKey: 'k1', new: false, launch: 'LAUNCHED' }] });
    t.deepEqual(env.launched, [sensorRunId('test_sensor', 'k1')]);
    t.like((await env.tick()).tick, { status: 'SKIPPED', skipReason: 'seen' });
    key = 'k2';
    await env.tick();
    t.is(env.launched.length, 2);
  });

  test('sensor ticks: a tick that crashed after launching, before recording, does not start a second run when run again', async (t) => {
    const env = await setup(t, store, (ctx) => (ctx.cursor === 'k1' ? { skipReason: 'seen' } : { runRequests: [{ runKey: 'k1' }], cursor: 'k1' }));
    const crashing: EventLog = Object.create(env.log, {
      recordSensorTick: {
        value: async () => {
          throw new Error('killed');
        },
      },
    });
    await t.throwsAsync(env.tick({ eventLog: crashing }), { message: 'killed' });
    t.is(env.launched.length, 1);
    await env.reopen();
    const again = await env.tick();
    t.like(again.tick, { status: 'REQUESTED', runRequests: [{ runKey: 'k1', new: false, launch: 'ALREADY_LAUNCHED' }] });
    t.is(env.launched.length, 1, 'still one run');
    t.like((await env.tick()).tick, { status: 'SKIPPED', cursorBefore: 'k1' });
  });

  test('sensor ticks: two ticks at once (two store instances) evaluate once and request one run', async (t) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const env = await setup(t, store, async (ctx) => {
      if (ctx.cursor === 'k') return { skipReason: 'seen' };
      entered();
      await gate; // held inside the evaluation until the second tick has come and gone
      return { runRequests: [{ runKey: 'k' }], cursor: 'k' };
    });
    const first = env.tick({ force: true });
    await inside;
    const second = await env.tick({ force: true, eventLog: await store.reopen(t, env.log) });
    t.like(second, { evaluated: false, tick: { status: 'SKIPPED' } });
    t.regex(second.tick.skipReason!, /another evaluation of sensor test_sensor is going/);
    release();
    t.like((await first).tick, { status: 'REQUESTED' });
    t.is(env.launched.length, 1);
    t.is((await env.log.sensorTicks('test_sensor', 10)).length, 1, 'the skipped tick recorded nothing');
  });
}
