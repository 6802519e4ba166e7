/**
 * `sfpipe sensor tick` on a laptop, on the embedded default: the requested run goes in the
 * ticking process (in its event log, with the sensor's trigger), and a tick only looks: it does not
 * move the embedded simulator's org on a day, so the tick after a run is quiet.
 */
import test from 'ava';
import { runPipelineCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

interface TickJson {
  ticks: { sensorName: string; status: string; evaluated: boolean; runRequests: { runId: string; launch: string; failed?: boolean }[] }[];
}

test('a first tick runs sf_raw/sf_user+ in this process; the next tick finds nothing new and starts nothing', async (t) => {
  const env = { SFPIPE_HOME: tempDir('sfpipe-sensor-tick-') };
  const first = await runPipelineCli(['sensor', 'tick', 'sf_user_changes', '--json'], env);
  t.is(first.code, 0, first.stderr);
  const [tick] = (JSON.parse(first.stdout) as TickJson).ticks;
  t.like(tick, { sensorName: 'sf_user_changes', status: 'REQUESTED', evaluated: true });
  t.is(tick!.runRequests.length, 1);
  t.like(tick!.runRequests[0], { launch: 'LAUNCHED' });
  const runId = tick!.runRequests[0]!.runId;

  const runs = JSON.parse((await runPipelineCli(['runs', '--json'], env)).stdout) as { runs: { runId: string; trigger: string; status: string; selection: string }[] };
  t.deepEqual(
    runs.runs.map((r) => ({ runId: r.runId, trigger: r.trigger, status: r.status, selection: r.selection })),
    [{ runId, trigger: 'sensor:sf_user_changes', status: 'SUCCESS', selection: 'sf_raw/sf_user+' }],
  );

  const second = await runPipelineCli(['sensor', 'tick', 'sf_user_changes', '--force', '--json'], env);
  t.is(second.code, 0, second.stderr);
  t.like((JSON.parse(second.stdout) as TickJson).ticks[0], { status: 'SKIPPED', evaluated: true, runRequests: [] });
  const after = JSON.parse((await runPipelineCli(['runs', '--json'], env)).stdout) as { runs: unknown[] };
  t.is(after.runs.length, 1, 'no second run: the tick did not move the org');
});
