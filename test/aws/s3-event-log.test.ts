/**
 * S3EventLog against moto's S3 over HTTP (SigV4): the behaviours of the SQLite event log
 * (test/runtime/event-log.test.ts) plus concurrent writers on the same "latest" pointers.
 */
import test from 'ava';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

import { S3EventLog } from '../../assets/aws/s3-event-log.js';
import { UsageError } from '../../runtime/errors.js';
import type { CheckResultRecord, FreshnessRecord, MaterializationRecord, RunRecord } from '../../runtime/event-log.js';
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto, type MotoServer } from '../services/moto/start.js';

const BUCKET = 'sfpipe-events';
let moto: MotoServer;
let s3: S3Client;
let n = 0;

test.before(async () => {
  moto = await startMoto();
  s3 = new S3Client({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});
test.after.always(async () => {
  s3?.destroy();
  await moto?.stop();
});

/** A log under a prefix of its own (tests run concurrently against one bucket). */
function openLog(t: { teardown(fn: () => void | Promise<void>): void }, prefix = `t${++n}/event-log/`): S3EventLog {
  const log = new S3EventLog({ location: `s3://${BUCKET}/${prefix}`, region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS });
  t.teardown(() => log.close());
  return log;
}

const iso = (ms: number) => new Date(Date.UTC(2024, 0, 1) + ms).toISOString();

function runInput(runId: string, startedAt: string): Omit<RunRecord, 'status' | 'endedAt' | 'error'> {
  return { runId, selection: 'sf_raw/*', assets: ['sf_raw/sf_user', 'staging/stg_user'], trigger: 'cli', fullRefresh: true, startedAt };
}

async function keysUnder(prefix: string): Promise<string[]> {
  const res = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key!.slice(prefix.length));
}

test('runs round-trip: startRun, finishRun, getRun; the objects are where the layout says', async (t) => {
  const log = openLog(t, 'layout/');
  await log.startRun(runInput('run-aaaa-1', iso(0)));
  t.deepEqual(await log.getRun('run-aaaa-1'), { ...runInput('run-aaaa-1', iso(0)), status: 'STARTED', endedAt: null, error: null });
  await log.finishRun('run-aaaa-1', 'FAILURE', iso(5000), 'boom');
  t.deepEqual(await log.getRun('run-aaaa-1'), { ...runInput('run-aaaa-1', iso(0)), status: 'FAILURE', endedAt: iso(5000), error: 'boom' });
  t.is(await log.getRun('nope'), null);
  await t.throwsAsync(log.startRun(runInput('run-aaaa-1', iso(1))), { message: /already in the event log/ });
  await t.throwsAsync(log.finishRun('missing', 'SUCCESS', iso(1)), { message: /not in the event log/ });
  await log.recordMaterialization({ runId: 'run-aaaa-1', assetKey: 'sf_raw/sf_user', timestamp: iso(10), metadata: {} });

  t.deepEqual((await keysUnder('layout/')).sort(), [
    'assets/sf_raw%2Fsf_user/last-materialization.json',
    'runs-by-time/8295932799999-run-aaaa-1',
    'runs/run-aaaa-1/events/0000000001.json',
    'runs/run-aaaa-1/events/0000000002.json',
    'runs/run-aaaa-1/events/0000000003.json',
    'runs/run-aaaa-1/run.json',
  ]);
  const run = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'layout/runs/run-aaaa-1/run.json' }))).Body!.transformToString());
  t.is(run.status, 'FAILURE');
});

test('materializations, check results and freshness round-trip', async (t) => {
  const log = openLog(t);
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
  const log = openLog(t);
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
  const log = openLog(t);
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
  t.deepEqual([...results.keys()], ['accepted values: a/b "c"', 'not_null', 'unique']);
  t.is(results.get('not_null')?.runId, 'r2');
  t.true(results.get('not_null')?.passed);
  t.is(results.get('unique')?.runId, 'r3');
  t.false(results.get('unique')?.passed);
});

test('recentRuns: newest first by startedAt, limited', async (t) => {
  const log = openLog(t);
  for (const i of [3, 1, 4, 0, 2]) await log.startRun(runInput(`run-${i}`, iso(i * 1000)));
  t.deepEqual((await log.recentRuns(10)).map((r) => r.runId), ['run-4', 'run-3', 'run-2', 'run-1', 'run-0']);
  t.deepEqual((await log.recentRuns(2)).map((r) => r.runId), ['run-4', 'run-3']);
  t.deepEqual(await log.recentRuns(0), []);
  await log.finishRun('run-3', 'SUCCESS', iso(3500));
  t.like((await log.recentRuns(2))[1], { runId: 'run-3', status: 'SUCCESS', endedAt: iso(3500) });
});

test('getRun accepts a unique prefix of at least 6 chars and rejects an ambiguous one', async (t) => {
  const log = openLog(t);
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
  const log = openLog(t);
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

test('another instance (another pod) reads everything back and continues the run without reusing a seq', async (t) => {
  const prefix = `shared-${++n}/`;
  const first = openLog(t, prefix);
  await first.startRun(runInput('keep-me-1', iso(0)));
  await first.recordMaterialization({ runId: 'keep-me-1', assetKey: 'k', timestamp: iso(1), metadata: { v: 1 } });
  await first.close();
  await first.close(); // idempotent
  await t.throwsAsync(first.getRun('keep-me-1'), { message: /closed/ });

  const second = openLog(t, prefix);
  t.is((await second.getRun('keep-me-1'))?.status, 'STARTED');
  t.deepEqual((await second.lastMaterialization('k'))?.metadata, { v: 1 });
  await second.finishRun('keep-me-1', 'SUCCESS', iso(2));
  const events = await second.runEvents('keep-me-1');
  t.deepEqual(events.map((e) => `${e.seq}:${e.type}`), ['1:RUN_START', '2:ASSET_MATERIALIZATION', '3:RUN_SUCCESS']);
});

test('concurrent writers: 20 parallel materializations of one asset leave the newest on the pointer; no event is lost', async (t) => {
  const prefix = `race-${++n}/`;
  // Two writers (two log instances = two pods), each with 10 materializations in flight at once.
  const a = openLog(t, prefix);
  const b = openLog(t, prefix);
  await a.startRun(runInput('run-a', iso(0)));
  await b.startRun(runInput('run-b', iso(0)));
  const key = 'sf_raw/sf_user';
  // Distinct timestamps in a shuffled order, so the newest is not the last one sent.
  const order = Array.from({ length: 20 }, (_, i) => (i * 7) % 20);
  await Promise.all(
    order.map((i) => (i % 2 ? a : b).recordMaterialization({ runId: i % 2 ? 'run-a' : 'run-b', assetKey: key, timestamp: iso(10_000 + i * 1000), metadata: { i } })),
  );
  const newest = await a.lastMaterialization(key);
  t.deepEqual(newest, { runId: 'run-a', assetKey: key, timestamp: iso(10_000 + 19 * 1000), metadata: { i: 19 } });
  // Each run has its 10 materialization events with distinct seqs.
  for (const run of ['run-a', 'run-b']) {
    const events = await b.runEvents(run);
    t.is(events.filter((e) => e.type === 'ASSET_MATERIALIZATION').length, 10, run);
    t.is(new Set(events.map((e) => e.seq)).size, events.length);
  }
  // The same with check pointers and freshness, and an older write racing a newer one.
  await Promise.all(
    order.map((i) =>
      (i % 2 ? a : b).recordCheckResult({ runId: 'run-a', assetKey: key, checkName: 'count', severity: 'WARN', passed: i % 3 === 0, description: null, metadata: { i }, timestamp: iso(i * 1000) }),
    ),
  );
  t.deepEqual((await b.lastCheckResults(key)).get('count')?.metadata, { i: 19 });
  await Promise.all(
    order.map((i) => (i % 2 ? a : b).recordFreshness({ runId: null, assetKey: key, state: i % 2 ? 'PASS' : 'WARN', previousState: null, timestamp: iso(i * 1000), metadata: { i } })),
  );
  t.deepEqual((await a.lastFreshness(key))?.metadata, { i: 19 });
});

test('two writers appending events to the same run never share a seq', async (t) => {
  const prefix = `seq-${++n}/`;
  const a = openLog(t, prefix);
  const b = openLog(t, prefix);
  await a.startRun(runInput('run-s', iso(0)));
  await Promise.all(
    Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).recordEvent({ runId: 'run-s', assetKey: null, type: 'STEP_LOG', timestamp: iso(i), data: { i } })),
  );
  const events = await a.runEvents('run-s');
  t.is(events.length, 21);
  t.deepEqual(events.map((e) => e.seq), Array.from({ length: 21 }, (_, i) => i + 1));
  t.deepEqual(new Set(events.slice(1).map((e) => e.data['i'])).size, 20);
});

test('conditional writes reach the emulator: a stale ETag is refused with 412', async (t) => {
  // What the pointer updates rely on (moto implements If-Match / If-None-Match on PutObject).
  const Key = `cond-${++n}/x.json`;
  const put1 = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: '1', IfNoneMatch: '*' }));
  const e1 = await t.throwsAsync(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: '2', IfNoneMatch: '*' })));
  t.is((e1 as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 412);
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: '3', IfMatch: put1.ETag! }));
  const e2 = await t.throwsAsync(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: '4', IfMatch: put1.ETag! })));
  t.is((e2 as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 412);
  t.is(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key }))).Body!.transformToString(), '3');
});

test('a location that is not s3://bucket/prefix is refused', (t) => {
  t.throws(() => new S3EventLog({ location: 'bucket/prefix', region: MOTO_REGION }), { message: /not s3:\/\/bucket\/prefix/ });
});
