/**
 * The runtime's sensors (runtime/sensors.ts) with a sensor of the test's own and the SQLite event
 * log: the cursor across ticks and restarts, run keys deduplicated, a tick that crashed at each
 * point and is run again, the lock, the minimum interval, a failed evaluation. No wall clock: the
 * ticks' clock is the test's.
 */
import test from 'ava';
import path from 'node:path';
import { SqliteEventLog } from '../../runtime/event-log-sqlite.js';
import type { EventLog, SensorRunKeyClaim } from '../../runtime/event-log.js';
import { silentLogger } from '../../runtime/logging.js';
import { FileRunLock } from '../../runtime/run-lock-file.js';
import { defineSensor, sensorRunId, tickSensor, type RunLauncher, type SensorContext, type SensorResult } from '../../runtime/sensors.js';
import { tempDir } from '../helpers/temp.js';

interface Env {
  dir: string;
  log: SqliteEventLog;
  launched: string[];
  launcher: RunLauncher;
  seen: (string | null)[];
  tick(opts?: { eventLog?: EventLog; launcher?: RunLauncher; force?: boolean }): ReturnType<typeof tickSensor>;
  reopen(): void;
}

/** A sensor answering `answer(cursor)`; a launcher that records runs in the event log, once per run id. */
function setup(t: { teardown(fn: () => void | Promise<void>): void }, answer: (ctx: SensorContext) => SensorResult | Promise<SensorResult>, interval = 60): Env {
  const dir = tempDir('sfpipe-sensors-');
  let clock = Date.UTC(2030, 0, 1);
  const env: Env = {
    dir,
    log: SqliteEventLog.open(path.join(dir, 'events.sqlite')),
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
        launcher: opts.launcher ?? env.launcher,
        log: silentLogger(),
        stateDir: dir,
        now: () => new Date(clock),
        ...(opts.force ? { force: true } : {}),
      });
    },
    reopen() {
      void env.log.close();
      env.log = SqliteEventLog.open(path.join(dir, 'events.sqlite'));
    },
  };
  const sensor = defineSensor({
    name: 'test_sensor',
    minimumIntervalSeconds: interval,
    target: 'a+',
    async evaluate(ctx) {
      env.seen.push(ctx.cursor);
      return answer(ctx);
    },
  });
  t.teardown(() => env.log.close());
  return env;
}

test('the cursor goes from tick to tick and survives a restart (a new process, the same event log)', async (t) => {
  const env = setup(t, (ctx) => ({ skipReason: 'nothing new', cursor: `${Number(ctx.cursor ?? 0) + 1}` }));
  const first = await env.tick();
  t.like(first, { evaluated: true, tick: { status: 'SKIPPED', cursorBefore: null, cursor: '1', skipReason: 'nothing new' } });
  await env.tick();
  env.reopen();
  const third = await env.tick();
  t.like(third.tick, { cursorBefore: '2', cursor: '3' });
  t.deepEqual(env.seen, [null, '1', '2']);
  t.deepEqual((await env.log.sensorTicks('test_sensor', 10)).map((x) => x.cursor), ['3', '2', '1'], 'every tick recorded, newest first');
  t.deepEqual(env.launched, []);
});

test('a run key is run once: the same request on every tick launches one run, recorded with the trigger sensor:<name>', async (t) => {
  const env = setup(t, () => ({ runRequests: [{ runKey: 'k1' }], cursor: 'c' }));
  const a = await env.tick();
  const b = await env.tick();
  const id = sensorRunId('test_sensor', 'k1');
  t.deepEqual(env.launched, [id]);
  t.like(a.tick, { status: 'REQUESTED', runRequests: [{ runKey: 'k1', runId: id, selection: 'a+', new: true, launch: 'LAUNCHED' }] });
  t.like(b.tick, { status: 'REQUESTED', runRequests: [{ runKey: 'k1', runId: id, new: false, launch: 'ALREADY_LAUNCHED' }] });
  t.like(await env.log.getRun(id), { trigger: 'sensor:test_sensor', status: 'SUCCESS' });
  t.regex(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.not(sensorRunId('test_sensor', 'k2'), id);
});

test('a tick that crashed after claiming the run key, before launching, launches it when run again (once)', async (t) => {
  let key = 'k1';
  const env = setup(t, (ctx) => (ctx.cursor === key ? { skipReason: 'seen' } : { runRequests: [{ runKey: key }], cursor: key }));
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
  t.deepEqual(await env.log.sensorTicks('test_sensor', 5), [], 'the crashed tick recorded nothing: its cursor did not move');
  const again = await env.tick();
  t.like(again.tick, { status: 'REQUESTED', runRequests: [{ runKey: 'k1', new: false, launch: 'LAUNCHED' }] });
  t.deepEqual(env.launched, [sensorRunId('test_sensor', 'k1')]);
  const quiet = await env.tick();
  t.like(quiet.tick, { status: 'SKIPPED', skipReason: 'seen' });
  key = 'k2';
  await env.tick();
  t.is(env.launched.length, 2);
});

test('a tick that crashed after launching, before recording, does not start a second run when run again', async (t) => {
  const env = setup(t, (ctx) => (ctx.cursor === 'k1' ? { skipReason: 'seen' } : { runRequests: [{ runKey: 'k1' }], cursor: 'k1' }));
  const crashing: EventLog = Object.create(env.log, {
    recordSensorTick: {
      value: async () => {
        throw new Error('killed');
      },
    },
  });
  await t.throwsAsync(env.tick({ eventLog: crashing }), { message: 'killed' });
  t.is(env.launched.length, 1);
  const again = await env.tick();
  t.like(again.tick, { status: 'REQUESTED', runRequests: [{ runKey: 'k1', new: false, launch: 'ALREADY_LAUNCHED' }] });
  t.is(env.launched.length, 1, 'still one run');
  t.like((await env.tick()).tick, { status: 'SKIPPED', cursorBefore: 'k1' });
});

test('two evaluations never overlap: a tick finding the lock held is skipped unevaluated; two ticks at once request one run', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  const env = setup(t, async (ctx) => {
    if (ctx.cursor === 'k') return { skipReason: 'seen' };
    entered();
    await gate; // held inside the evaluation until the second tick has come and gone
    return { runRequests: [{ runKey: 'k' }], cursor: 'k' };
  });
  const first = env.tick({ force: true });
  await inside;
  const second = await env.tick({ force: true });
  t.like(second, { evaluated: false, tick: { status: 'SKIPPED' } });
  t.regex(second.tick.skipReason!, /another evaluation of sensor test_sensor is going/);
  release();
  t.like((await first).tick, { status: 'REQUESTED' });
  t.is(env.launched.length, 1);
  t.is((await env.log.sensorTicks('test_sensor', 10)).length, 1, 'the skipped tick recorded nothing');
});

test('the minimum interval: a tick sooner is skipped unevaluated unless forced', async (t) => {
  const env = setup(t, () => ({ skipReason: 'quiet' }), 0);
  await env.tick();
  // interval 0 in setup's clock: the next tick is at the same instant as the last; give the sensor a real interval
  const soon = await tickSensor({
    sensor: defineSensor({ name: 'test_sensor', minimumIntervalSeconds: 300, target: 'a', evaluate: async () => ({ skipReason: 'x' }) }),
    eventLog: env.log,
    sensorLock: new FileRunLock(path.join(env.dir, 'sensor.lock')),
    runLock: new FileRunLock(path.join(env.dir, 'run.lock')),
    launcher: env.launcher,
    log: silentLogger(),
    stateDir: env.dir,
    now: () => new Date(Date.UTC(2030, 0, 1) + 60_000),
  });
  t.false(soon.evaluated);
  t.regex(soon.tick.skipReason!, /less than the minimum interval of 300 s/);
  t.is((await env.log.sensorTicks('test_sensor', 10)).length, 1);
});

test('a failed evaluation is recorded as FAILURE with its error; the cursor stays', async (t) => {
  let fail = false;
  const env = setup(t, () => {
    if (fail) throw new Error('Salesforce said no');
    return { skipReason: 'ok', cursor: 'c1' };
  });
  await env.tick();
  fail = true;
  const r = await env.tick();
  t.like(r, { evaluated: true, tick: { status: 'FAILURE', error: 'Salesforce said no', cursorBefore: 'c1', cursor: 'c1' } });
  fail = false;
  t.like((await env.tick()).tick, { cursorBefore: 'c1' });
});

test('sensor definitions are checked', (t) => {
  const evaluate = async () => ({});
  t.throws(() => defineSensor({ name: 'Bad Name', minimumIntervalSeconds: 1, target: 'a', evaluate }), { message: /lowercase letters/ });
  t.throws(() => defineSensor({ name: 'ok', minimumIntervalSeconds: -1, target: 'a', evaluate }), { message: /minimumIntervalSeconds/ });
  t.throws(() => defineSensor({ name: 'ok', minimumIntervalSeconds: 1, target: ' ', evaluate }), { message: /blank/ });
});
