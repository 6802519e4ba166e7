import test from 'ava';
import path from 'node:path';
import { alertsForTransitions } from '../../runtime/alerts/index.js';
import { runTransition } from '../../runtime/observability.js';
import { SqliteEventLog } from '../../runtime/storage/sqlite-event-log.js';
import type { RunStatus } from '../../runtime/storage/event-log.js';
import { tempDir } from '../helpers/temp.js';

const iso = (minute: number) => new Date(Date.UTC(2026, 10, 26, 6, minute)).toISOString();

test('run outcomes alert on change per selection: a first failure, a failure after success, a recovery; canceled runs do not count', async (t) => {
  const log = SqliteEventLog.open(path.join(tempDir(), 'events.sqlite'));
  t.teardown(() => log.close());
  let minute = 0;
  /** Records a finished run and returns the alerts its outcome raises. */
  const run = async (status: Exclude<RunStatus, 'STARTED'>, selection = '*') => {
    const runId = `run-${String(++minute).padStart(4, '0')}`;
    await log.startRun({ runId, selection, assets: ['sf_raw/sf_user'], trigger: 'schedule', fullRefresh: false, startedAt: iso(minute) });
    await log.finishRun(runId, status, iso(minute));
    const failed = status === 'FAILURE' ? ['sf_raw/sf_user'] : [];
    const error = status === 'FAILURE' ? 'sf_raw/sf_user failed: INVALID_LOGIN' : null;
    return alertsForTransitions(await runTransition(log, { runId, status, startedAt: iso(minute), selection, failedAssets: failed, error }, 'sfpipe'));
  };
  const first = await run('FAILURE');
  t.is(first.length, 1, 'the very first run failing alerts (nothing ever worked)');
  t.like(first[0], { kind: 'run', assetKey: 'sf_raw/sf_user', state: 'FAILED', previousState: null, recovered: false, reason: 'sf_raw/sf_user failed: INVALID_LOGIN', command: 'sfpipe events run-0001' });
  t.deepEqual(await run('FAILURE'), [], 'still failing: no second message');
  t.deepEqual(await run('CANCELED'), [], 'a canceled run is no outcome');
  const recovered = await run('SUCCESS');
  t.like(recovered[0], { kind: 'run', state: 'SUCCESS', previousState: 'FAILED', recovered: true, assetKey: '*' });
  t.deepEqual(await run('SUCCESS'), []);
  t.deepEqual(await run('CANCELED'), []);
  t.like((await run('FAILURE'))[0], { previousState: 'SUCCESS', state: 'FAILED' }, 'a failure after a success (the canceled run in between does not count)');
  // Another selection has its own history: its first failure alerts, the schedule's state is untouched.
  t.like((await run('FAILURE', 'sf_raw/sf_user'))[0], { previousState: null, state: 'FAILED' });
  t.deepEqual(await run('FAILURE'), [], 'the scheduled selection was already failing');
});
