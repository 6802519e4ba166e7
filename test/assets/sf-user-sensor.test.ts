/**
 * The Salesforce change sensor against the simulator (over HTTP, through jsforce) and the real
 * sf_raw/sf_user asset: quiet ticks cost one API call and start nothing; a change in the org
 * makes the next tick request exactly one run, whose data holds the change; two ticks at once
 * request one run; a run holding the run lock is not doubled (and costs no call).
 */
import test from 'ava';
import { sfUserChangesSensor } from '../../assets/sensors/sf-user-changes.js';
import { tickSensor } from '../../runtime/sensors.js';
import { startHarness, type Harness } from '../helpers/extract-harness.js';

function sensorEnv(h: Harness) {
  const sensor = sfUserChangesSensor({
    config: h.config,
    salesforce: (opts) => h.salesforce(opts),
  });
  const { options, launched: runs } = h.sensorStores(sensor);
  let clock = Date.UTC(2030, 0, 1);
  const tick = () => {
    clock += 61_000; // past the minimum interval: the test's clock, not the wall's
    return tickSensor({ ...options, now: () => new Date(clock) });
  };
  return { sensor, runs, tick, runLock: options.runLock };
}

test('10 quiet ticks make 10 API calls and no run; a change makes the next tick request exactly one run, whose data has it', async (t) => {
  const h = await startHarness({ sim: { users: 300 } });
  t.teardown(() => h.close());
  const { runs, tick } = sensorEnv(h);
  t.is((await h.run()).result.status, 'SUCCESS', 'the first load');

  h.sim.resetStats();
  for (let i = 0; i < 10; i++) {
    const r = await tick();
    t.true(r.evaluated);
    t.is(r.tick.status, 'SKIPPED', r.tick.error ?? '');
    t.regex(r.tick.skipReason!, /^no change: the newest SystemModstamp .* is not after raw's committed watermark/);
  }
  t.is(h.sim.stats.apiCalls, 10, 'one API call a quiet tick');
  t.deepEqual(runs, []);

  const id = h.changeUser(7, 'Sensor Division');
  const r = await tick();
  t.is(r.tick.status, 'REQUESTED', r.tick.skipReason ?? r.tick.error ?? '');
  t.is(r.tick.runRequests.length, 1);
  t.like(r.tick.runRequests[0], { selection: 'sf_raw/sf_user+', new: true, launch: 'LAUNCHED', detail: 'SUCCESS' });
  t.deepEqual(runs, [r.tick.runRequests[0]!.runId]);
  t.is(r.tick.cursor, r.tick.runRequests[0]!.runKey.split('=')[1] ?? null);
  t.like(await h.eventLog.getRun(runs[0]!), { trigger: 'sensor:sf_user_changes', status: 'SUCCESS' });
  const [row] = await h.query(`SELECT division FROM sf_raw.sf_user WHERE id = '${id}' ORDER BY systemmodstamp DESC LIMIT 1`);
  t.is(row?.division, 'Sensor Division', "the run's data includes the change");

  // And quiet again: the watermark moved.
  h.sim.resetStats();
  const after = await tick();
  t.is(after.tick.status, 'SKIPPED');
  t.is(h.sim.stats.apiCalls, 1);
  t.is(runs.length, 1);
});

test('two ticks at once request one run', async (t) => {
  const h = await startHarness({ sim: { users: 200 } });
  t.teardown(() => h.close());
  const { runs, tick } = sensorEnv(h);
  await h.run();
  h.changeUser(7, 'Twice');
  const both = await Promise.all([tick(), tick()]);
  t.is(runs.length, 1, JSON.stringify(both.map((b) => b.tick)));
  t.is(both.filter((b) => b.tick.status === 'REQUESTED').length, 1);
});

test('while a run holds the run lock the tick requests nothing and makes no API call', async (t) => {
  const h = await startHarness({ sim: { users: 200 } });
  t.teardown(() => h.close());
  const { runs, tick, runLock } = sensorEnv(h);
  await h.run();
  h.changeUser(7, 'Locked');
  const lease = await runLock.acquire('run-going', { timeoutMs: 0 });
  h.sim.resetStats();
  const held = await tick();
  t.is(held.tick.status, 'SKIPPED');
  t.regex(held.tick.skipReason!, /run run-going holds the run lock .*not doubled/);
  t.is(h.sim.stats.apiCalls, 0);
  await lease.release();
  const free = await tick();
  t.is(free.tick.status, 'REQUESTED');
  t.is(runs.length, 1);
});

test('a first tick before raw was ever loaded requests the first load', async (t) => {
  const h = await startHarness({ sim: { users: 100 } });
  t.teardown(() => h.close());
  const { runs, tick } = sensorEnv(h);
  const r = await tick();
  t.is(r.tick.status, 'REQUESTED');
  t.is(r.tick.metadata.reason, 'raw has never been loaded');
  t.is(runs.length, 1);
});
