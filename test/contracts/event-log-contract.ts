/**
 * The EventLog contract: what every event log store (SQLite in the state directory, objects in S3)
 * must do, as ava tests registered by each store's test file with its own `open`.
 */
import type { ExecutionContext, TestFn } from 'ava';

import { UsageError } from '../../runtime/errors.js';
import type { CheckResultRecord, EventLog, FreshnessRecord, MaterializationRecord, RunRecord } from '../../runtime/storage/event-log.js';

export const iso = (ms: number) => new Date(Date.UTC(2024, 0, 1) + ms).toISOString();

export function runInput(runId: string, startedAt: string): Omit<RunRecord, 'status' | 'endedAt' | 'error'> {
  return { runId, selection: 'sf_raw/*', assets: ['sf_raw/sf_user', 'staging/stg_user'], trigger: 'cli', fullRefresh: true, startedAt };
}

/** Registers the contract's tests; `open` gives a fresh, empty log closed when the test ends. */
export function eventLogContract(test: TestFn, open: (t: ExecutionContext) => EventLog | Promise<EventLog>): void {
  test('runs round-trip: startRun, finishRun, getRun', async (t) => {
    const log = await open(t);
    await log.startRun(runInput('run-aaaa-1', iso(0)));
    t.deepEqual(await log.getRun('run-aaaa-1'), { ...runInput('run-aaaa-1', iso(0)), status: 'STARTED', endedAt: null, error: null });
    await log.finishRun('run-aaaa-1', 'FAILURE', iso(5000), 'boom');
    t.deepEqual(await log.getRun('run-aaaa-1'), { ...runInput('run-aaaa-1', iso(0)), status: 'FAILURE', endedAt: iso(5000), error: 'boom' });
    t.is(await log.getRun('nope'), null);
    await t.throwsAsync(log.startRun(runInput('run-aaaa-1', iso(1))), { message: /already in the event log/ });
    await t.throwsAsync(log.finishRun('missing', 'SUCCESS', iso(1)), { message: /not in the event log/ });
  });

  test('materializations, check results and freshness round-trip', async (t) => {
    const log = await open(t);
    await log.startRun(runInput('r1', iso(0)));
    const m: MaterializationRecord = { runId: 'r1', assetKey: 'sf_raw/sf_user', timestamp: iso(10), metadata: { rows: 42, nested: { a: [1, 2] }, name: "O'Brien \"x\" \\ 山田\n" } };
    await log.recordMaterialization(m);
    t.deepEqual(await log.lastMaterialization('sf_raw/sf_user'), m);
    t.is(await log.lastMaterialization('other'), null);
    t.is(await log.lastMaterialization('sf_raw'), null, 'a key prefix is another asset');

    const c: CheckResultRecord = {
      runId: 'r1',
      assetKey: 'sf_raw/sf_user',
      checkName: 'unique_id',
      severity: 'ERROR',
      passed: false,
      description: 'dupes',
      metadata: { dupes: 3 },
      timestamp: iso(20),
    };
    await log.recordCheckResult(c);
    t.deepEqual([...(await log.lastCheckResults('sf_raw/sf_user')).entries()], [['unique_id', c]]);
    t.is((await log.lastCheckResults('other')).size, 0);

    const f: FreshnessRecord = { runId: null, assetKey: 'sf_raw/sf_user', state: 'WARN', previousState: 'PASS', timestamp: iso(30), metadata: { lagMs: 1000 } };
    await log.recordFreshness(f);
    t.deepEqual(await log.lastFreshness('sf_raw/sf_user'), f);
    const f2: FreshnessRecord = { ...f, runId: 'r1', state: 'PASS', previousState: 'WARN', timestamp: iso(40), metadata: {} };
    await log.recordFreshness(f2);
    t.deepEqual(await log.lastFreshness('sf_raw/sf_user'), f2);
    t.is(await log.lastFreshness('other'), null);
  });

  test('lastMaterialization picks the newest by timestamp, then the later write', async (t) => {
    const log = await open(t);
    const key = 'dbt/stg_user';
    await log.recordMaterialization({ runId: 'r1', assetKey: key, timestamp: iso(1000), metadata: { n: 1 } });
    await log.recordMaterialization({ runId: 'r2', assetKey: key, timestamp: iso(3000), metadata: { n: 2 } });
    await log.recordMaterialization({ runId: 'r3', assetKey: key, timestamp: iso(2000), metadata: { n: 3 } }); // later but older
    await log.recordMaterialization({ runId: 'x', assetKey: 'other', timestamp: iso(9000), metadata: {} });
    t.is((await log.lastMaterialization(key))?.runId, 'r2');
    await log.recordMaterialization({ runId: 'r4', assetKey: key, timestamp: iso(3000), metadata: { n: 4 } });
    t.deepEqual(await log.lastMaterialization(key), { runId: 'r4', assetKey: key, timestamp: iso(3000), metadata: { n: 4 } });
    // Offsets compare by instant, not by text.
    await log.recordMaterialization({ runId: 'r5', assetKey: key, timestamp: '2024-01-01T02:00:00+02:00', metadata: {} });
    t.is((await log.lastMaterialization(key))?.runId, 'r4');
    // Every materialization is still an event of its run.
    t.deepEqual((await log.runEvents('r3')).map((e) => [e.type, e.data]), [['ASSET_MATERIALIZATION', { metadata: { n: 3 } }]]);
  });

  test('lastCheckResults returns the newest result per check name', async (t) => {
    const log = await open(t);
    const key = 'scd/user_history';
    const base = { assetKey: key, severity: 'WARN' as const, description: null, metadata: {} };
    await log.recordCheckResult({ ...base, runId: 'r1', checkName: 'not_null', passed: false, timestamp: iso(100) });
    await log.recordCheckResult({ ...base, runId: 'r2', checkName: 'not_null', passed: true, timestamp: iso(200) });
    await log.recordCheckResult({ ...base, runId: 'r1', checkName: 'unique', passed: true, timestamp: iso(100) });
    await log.recordCheckResult({ ...base, runId: 'r3', checkName: 'unique', passed: false, timestamp: iso(300) });
    await log.recordCheckResult({ ...base, runId: 'r0', checkName: 'unique', passed: true, timestamp: iso(50) });
    await log.recordCheckResult({ ...base, runId: 'r9', assetKey: 'other', checkName: 'unique', passed: true, timestamp: iso(999) });
    await log.recordCheckResult({ ...base, runId: 'r9', checkName: 'accepted values: a/b "c"', passed: true, timestamp: iso(1) });
    const results = await log.lastCheckResults(key);
    t.deepEqual([...results.keys()].sort(), ['accepted values: a/b "c"', 'not_null', 'unique']);
    t.is(results.get('not_null')?.runId, 'r2');
    t.true(results.get('not_null')?.passed);
    t.is(results.get('unique')?.runId, 'r3');
    t.false(results.get('unique')?.passed);
  });

  test('recentRuns: newest first by startedAt, limited', async (t) => {
    const log = await open(t);
    for (const i of [3, 1, 4, 0, 2]) await log.startRun(runInput(`run-${i}`, iso(i * 1000)));
    t.deepEqual((await log.recentRuns(10)).map((r) => r.runId), ['run-4', 'run-3', 'run-2', 'run-1', 'run-0']);
    t.deepEqual((await log.recentRuns(2)).map((r) => r.runId), ['run-4', 'run-3']);
    t.deepEqual(await log.recentRuns(0), []);
    await log.finishRun('run-3', 'SUCCESS', iso(3500));
    t.like((await log.recentRuns(2))[1], { runId: 'run-3', status: 'SUCCESS', endedAt: iso(3500) });
  });

  test('getRun accepts a unique prefix of at least 6 chars and rejects an ambiguous one', async (t) => {
    const log = await open(t);
    await log.startRun(runInput('3f9a1c22-aaaa-4000-8000-000000000001', iso(0)));
    await log.startRun(runInput('3f9a1c77-bbbb-4000-8000-000000000002', iso(1)));
    await log.startRun(runInput('abcdef', iso(2)));
    await log.startRun(runInput('abcdef12', iso(3)));

    t.is((await log.getRun('3f9a1c2'))?.runId, '3f9a1c22-aaaa-4000-8000-000000000001');
    t.is((await log.getRun('3f9a1c77'))?.runId, '3f9a1c77-bbbb-4000-8000-000000000002');
    t.is(await log.getRun('3f9a1'), null, 'too short to be a prefix');
    t.is(await log.getRun('zzzzzzzz'), null);
    t.is((await log.getRun('abcdef'))?.runId, 'abcdef', 'an exact id wins over being a prefix');

    const err = await t.throwsAsync(log.getRun('3f9a1c'), { instanceOf: UsageError });
    t.regex(err!.message, /ambiguous/);
    t.regex(err!.message, /3f9a1c22-aaaa/);
    t.regex(err!.message, /3f9a1c77-bbbb/);
  });

  test('runEvents returns every event of the run in order', async (t) => {
    const log = await open(t);
    await log.startRun(runInput('run-e', iso(0)));
    await log.startRun(runInput('run-other', iso(0)));
    await log.recordEvent({ runId: 'run-e', assetKey: 'a/x', type: 'STEP_START', timestamp: iso(1), data: { attempt: 1 } });
    await log.recordEvent({ runId: 'run-other', assetKey: 'a/x', type: 'STEP_START', timestamp: iso(1), data: {} });
    await log.recordMaterialization({ runId: 'run-e', assetKey: 'a/x', timestamp: iso(2), metadata: { rows: 5 } });
    await log.recordCheckResult({ runId: 'run-e', assetKey: 'a/x', checkName: 'c1', severity: 'ERROR', passed: true, description: null, metadata: {}, timestamp: iso(3) });
    await log.recordFreshness({ runId: 'run-e', assetKey: 'a/x', state: 'PASS', previousState: null, timestamp: iso(4), metadata: {} });
    await log.recordFreshness({ runId: null, assetKey: 'a/x', state: 'PASS', previousState: 'PASS', timestamp: iso(5), metadata: {} });
    await log.recordEvent({ runId: 'run-e', assetKey: null, type: 'STEP_SKIPPED', timestamp: iso(6), data: { why: 'x' } });
    await log.finishRun('run-e', 'CANCELED', iso(7));

    const events = await log.runEvents('run-e');
    t.deepEqual(
      events.map((e) => e.type),
      ['RUN_START', 'STEP_START', 'ASSET_MATERIALIZATION', 'ASSET_CHECK_EVALUATION', 'FRESHNESS_EVALUATION', 'STEP_SKIPPED', 'RUN_CANCELED'],
    );
    for (let i = 1; i < events.length; i++) t.true(events[i]!.seq > events[i - 1]!.seq);
    t.true(events.every((e) => e.runId === 'run-e'));
    t.deepEqual(events[0]!.data, { selection: 'sf_raw/*', assets: ['sf_raw/sf_user', 'staging/stg_user'], trigger: 'cli', fullRefresh: true });
    t.is(events[0]!.assetKey, null);
    t.deepEqual(events[1]!.data, { attempt: 1 });
    t.deepEqual(events[2]!.data, { metadata: { rows: 5 } });
    t.is(events[2]!.assetKey, 'a/x');
    t.is(events[2]!.timestamp, iso(2));
    t.deepEqual(events[3]!.data, { checkName: 'c1', severity: 'ERROR', passed: true, description: null, metadata: {} });
    t.deepEqual(events[4]!.data, { state: 'PASS', previousState: null, metadata: {} });
    t.deepEqual(events[6]!.data, { error: null });
    t.deepEqual(await log.runEvents('nobody'), []);
  });

  test('alert ledger: one open alert per id, closed once; each marker claimed by exactly one caller', async (t) => {
    const log = await open(t);
    const ledger = log.alerts;
    if (!ledger) return t.fail('the store has no alert ledger');
    const a = { alertId: 'freshness|sf_raw/sf_user|', openedAt: iso(0), event: { state: 'FAIL', reason: "O'Brien / 山田" } };
    t.true(await ledger.openAlert(a));
    t.false(await ledger.openAlert({ ...a, openedAt: iso(10) }), 'an open alert keeps its first opening');
    t.true(await ledger.openAlert({ alertId: 'check|x|c', openedAt: iso(5), event: {} }));
    t.deepEqual((await ledger.openAlerts()).map((x) => [x.alertId, x.openedAt]), [[a.alertId, iso(0)], ['check|x|c', iso(5)]]);
    t.deepEqual((await ledger.openAlerts())[0], a);
    const claims = await Promise.all([1, 2, 3, 4].map(() => ledger.claimAlertMarker(a.alertId, a.openedAt, 'escalated', iso(100))));
    t.is(claims.filter(Boolean).length, 1, 'concurrent claims: one winner');
    t.true(await ledger.hasAlertMarker(a.alertId, a.openedAt, 'escalated'));
    t.false(await ledger.hasAlertMarker(a.alertId, a.openedAt, 'recovered'));
    t.false(await ledger.hasAlertMarker(a.alertId, iso(1), 'escalated'), 'markers belong to one opening');
    t.deepEqual(await ledger.closeAlert(a.alertId), a);
    t.is(await ledger.closeAlert(a.alertId), null);
    t.deepEqual((await ledger.openAlerts()).map((x) => x.alertId), ['check|x|c']);
    t.true(await ledger.openAlert({ ...a, openedAt: iso(200) }), 'reopened after its recovery');
    t.true(await ledger.claimAlertMarker(a.alertId, iso(200), 'escalated', iso(300)), 'a new opening escalates anew');
  });
}
