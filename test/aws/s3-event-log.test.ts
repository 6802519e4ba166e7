/**
 * S3EventLog against moto's S3 over HTTP (SigV4): the EventLog and sensor contracts (test/contracts), its
 * object layout, other instances (pods) sharing it, and concurrent writers on the "latest" pointers.
 */
import test from 'ava';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

import { S3EventLog } from '../../assets/stores/s3-event-log.js';
import { eventLogContract, iso, runInput } from '../contracts/event-log-contract.js';
import { sensorContract } from '../contracts/sensor-contract.js';
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

eventLogContract(test, (t) => openLog(t));
// Sensors: the cursor survives a restart (a new instance on the same bucket and prefix), a run key
// claimed once by concurrent instances (If-None-Match: *), a crashed tick run again without a second run.
sensorContract(test, {
  open: (t) => openLog(t),
  reopen: (t, log) => openLog(t, (log as S3EventLog).location.slice(`s3://${BUCKET}/`.length)),
});

async function keysUnder(prefix: string): Promise<string[]> {
  const res = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key!.slice(prefix.length));
}

test('the objects are where the layout says: run record, time index, numbered events, per-asset pointer', async (t) => {
  const log = openLog(t, 'layout/');
  await log.startRun(runInput('run-aaaa-1', iso(0)));
  await log.finishRun('run-aaaa-1', 'FAILURE', iso(5000), 'boom');
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

test('sensor objects are where the layout says: ticks newest first, the cursor pointer, one object per run key', async (t) => {
  const log = openLog(t, 'sensor-layout/');
  const tick = { sensorName: 'sf_user_changes', status: 'SKIPPED' as const, cursorBefore: null, skipReason: 'quiet', error: null, runRequests: [], metadata: {} };
  await log.recordSensorTick({ ...tick, tickId: 'tick-1', timestamp: iso(0), cursor: 'c0' });
  await log.recordSensorTick({ ...tick, tickId: 'tick-2', timestamp: iso(1000), cursor: 'c1' });
  await log.claimRunKey({ sensorName: 'sf_user_changes', runKey: 'User.SystemModstamp=2024-01-01T00:00:00.000Z', runId: 'r1', tickId: 'tick-2', timestamp: iso(1000) });
  t.deepEqual(await keysUnder('sensor-layout/'), [
    'sensors/sf_user_changes/last-tick.json',
    'sensors/sf_user_changes/run-keys/User.SystemModstamp%3D2024-01-01T00%3A00%3A00.000Z.json',
    'sensors/sf_user_changes/ticks/8295932798999-tick-2.json',
    'sensors/sf_user_changes/ticks/8295932799999-tick-1.json',
  ]);
});

test('a create-only write refused as conflicting (409: a concurrent write that then failed) is made again, not lost: run-key claims, open alerts, escalation markers', async (t) => {
  // S3 answers 409 ConditionalRequestConflict while another conditional write of the key is in
  // flight; that write may fail, leaving nothing stored. moto never answers 409: a client does here.
  let conflicts = 0;
  const client = new S3Client({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS, forcePathStyle: true });
  t.teardown(() => client.destroy());
  const send = client.send.bind(client) as (cmd: unknown) => Promise<unknown>;
  (client as unknown as { send: (cmd: unknown) => Promise<unknown> }).send = async (cmd) => {
    if (cmd instanceof PutObjectCommand && /\/(run-keys|alerts)\//.test(cmd.input.Key ?? '') && conflicts < 2) {
      conflicts++;
      throw Object.assign(new Error('A conditional request to this object is in progress'), { name: 'ConditionalRequestConflict', $metadata: { httpStatusCode: 409 } });
    }
    return send(cmd);
  };
  const log = new S3EventLog({ location: `s3://${BUCKET}/conflict-${++n}/`, client });
  t.teardown(() => log.close());
  const claim = { sensorName: 's', runKey: 'k', runId: 'run-1', tickId: 'tick-1', timestamp: iso(0) };
  t.deepEqual(await log.claimRunKey(claim), { claim, created: true });
  t.is(conflicts, 2);
  t.deepEqual(await log.claimRunKey({ ...claim, runId: 'run-2', tickId: 'tick-2' }), { claim, created: false });
  // The alert ledger's create-only objects go through the same write.
  conflicts = 0;
  const alert = { alertId: 'a-1', openedAt: iso(1), event: { state: 'FAILURE' } };
  t.true(await log.alerts!.openAlert(alert));
  t.is(conflicts, 2);
  t.false(await log.alerts!.openAlert(alert), 'opened once');
  conflicts = 0;
  t.true(await log.alerts!.claimAlertMarker('a-1', iso(1), 'escalated', iso(2)));
  t.is(conflicts, 2);
  t.false(await log.alerts!.claimAlertMarker('a-1', iso(1), 'escalated', iso(3)), 'claimed once');
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

test('a store whose ticks predate last-request.json: the newest requesting tick among the recent ones', async (t) => {
  const prefix = `t${++n}/event-log/`;
  const log = openLog(t, prefix);
  const tick = (tickId: string, ms: number, runId: string | null) => ({
    sensorName: 'old',
    tickId,
    timestamp: iso(ms),
    status: runId ? ('REQUESTED' as const) : ('SKIPPED' as const),
    cursorBefore: null,
    cursor: tickId,
    skipReason: runId ? null : 'quiet',
    error: null,
    runRequests: runId ? [{ runKey: `k-${runId}`, runId, selection: 'a+', new: true, launch: 'LAUNCHED' as const, detail: 'ran here' }] : [],
    metadata: {},
  });
  const requested = tick('t1', 1000, 'r1');
  await log.recordSensorTick(requested);
  await log.recordSensorTick(tick('t2', 2000, null));
  // As an older sfpipe left it: the ticks, no pointer.
  await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${prefix}sensors/old/last-request.json` }));
  t.false((await keysUnder(`${prefix}sensors/old/`)).includes('last-request.json'));
  t.deepEqual(await log.lastSensorRequest('old'), requested);
});
