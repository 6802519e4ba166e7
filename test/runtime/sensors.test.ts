/**
 * The runtime's sensors (runtime/sensors.ts) with a sensor of the test's own and the SQLite event
 * log: the sensor contract (test/contracts/sensor-contract.ts: the cursor across ticks and
 * restarts, run keys deduplicated, a tick that crashed at each point and is run again, two ticks
 * at once; the S3 store passes it in test/aws/s3-event-log.test.ts), the minimum interval, a
 * failed evaluation. No wall clock: the ticks' clock is the test's.
 */
import test from 'ava';
import path from 'node:path';
import { SqliteEventLog } from '../../runtime/storage/sqlite-event-log.js';
import { silentLogger } from '../../runtime/logging.js';
import { FileRunLock } from '../../runtime/storage/file-run-lock.js';
import { defineSensor, tickSensor, type RunLauncher, type SensorResult } from '../../runtime/sensors.js';
import { sensorContract } from '../contracts/sensor-contract.js';
import { tempDir } from '../helpers/temp.js';

/** A fresh log in a directory of its own; reopen: another instance on the same file (a new process). */
sensorContract(test, {
  open(t) {
    const log = SqliteEventLog.open(path.join(tempDir('sfpipe-sensors-'), 'events.sqlite'));
    t.teardown(() => log.close());
    return log;
  },
  reopen(t, log) {
    const again = SqliteEventLog.open((log as SqliteEventLog).path);
    t.teardown(() => again.close());
    return again;
  },
});

const noLaunch: RunLauncher = {
  async launch() {
    throw new Error('this sensor requests no run');
  },
};

/** A sensor answering `answer()` every `interval` seconds of the test's clock, on a SQLite log. */
function setup(t: { teardown(fn: () => void | Promise<void>): void }, answer: () => SensorResult, interval = 60) {
  const dir = tempDir('sfpipe-sensors-');
  let clock = Date.UTC(2030, 0, 1);
  const log = SqliteEventLog.open(path.join(dir, 'events.sqlite'));
  t.teardown(() => log.close());
  const sensor = defineSensor({ name: 'test_sensor', minimumIntervalSeconds: interval, target: 'a+', evaluate: async () => answer() });
  /** A tick one interval after the last (or `afterMs`), forced past the interval with `force`. */
  const tick = (o: { afterMs?: number; force?: boolean } = {}) => {
    clock += o.afterMs ?? interval * 1000;
    return tickSensor({
      ...(o.force ? { force: true } : {}),
      sensor,
      eventLog: log,
      sensorLock: new FileRunLock(path.join(dir, 'sensor.lock')),
      runLock: new FileRunLock(path.join(dir, 'run.lock')),
      launcher: noLaunch,
      log: silentLogger(),
      stateDir: dir,
      now: () => new Date(clock),
    });
  };
  return { dir, log, tick, launcher: noLaunch };
}

test('the minimum interval: a tick sooner is skipped unevaluated unless forced', async (t) => {
  const env = setup(t, () => ({ skipReason: 'quiet' }), 300);
  await env.tick();
  const soon = await env.tick({ afterMs: 60_000 });
  t.false(soon.evaluated);
  t.regex(soon.tick.skipReason!, /less than the minimum interval of 300 s/);
  t.is((await env.log.sensorTicks('test_sensor', 10)).length, 1, 'a tick not evaluated records nothing');
  const forced = await env.tick({ afterMs: 0, force: true });
  t.true(forced.evaluated);
  t.like(forced.tick, { status: 'SKIPPED', skipReason: 'quiet' });
  t.is((await env.log.sensorTicks('test_sensor', 10)).length, 2);
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
