import test from 'ava';
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { EVENT_LOG_SCHEMA_VERSION, SqliteEventLog } from '../../runtime/event-log-sqlite.js';
import type { CheckResultRecord, FreshnessRecord, MaterializationRecord, RunRecord } from '../../runtime/event-log.js';

const WRITER = fileURLToPath(new URL('./fixtures/event-log-writer.js', import.meta.url));

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sfpipe-eventlog-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function openLog(t: { teardown(fn: () => void | Promise<void>): void }, file?: string): SqliteEventLog {
  const log = SqliteEventLog.open(file ?? path.join(tempDir(t), 'state', 'events.db'));
  t.teardown(() => log.close());
  return log;
}

const iso = (ms: number) => new Date(Date.UTC(2024, 0, 1) + ms).toISOString();

function runInput(runId: string, startedAt: string): Omit<RunRecord, 'status' | 'endedAt' | 'error'> {
  return { runId, selection: 'sf_raw/*', assets: ['sf_raw/sf_user', 'staging/stg_user'], trigger: 'cli', fullRefresh: true, startedAt };
}

test('open creates parent dirs, the file, WAL mode and the schema version', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'a', 'b', 'events.db');
  const log = SqliteEventLog.open(file);
  await log.close();
  t.true(fs.existsSync(file));
  const db = new Database(file, { readonly: true });
  t.teardown(() => db.close());
  t.is(db.pragma('journal_mode', { simple: true }), 'wal');
  t.is(db.pragma('user_version', { simple: true }), EVENT_LOG_SCHEMA_VERSION);
  const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
  for (const name of ['check_results', 'events', 'freshness', 'materializations', 'runs']) t.true(tables.includes(name), name);
});

test('runs round-trip: startRun, finishRun, getRun', async (t) => {
  const log = openLog(t);
  await log.startRun(runInput('run-aaaa-1', iso(0)));
  t.deepEqual(await log.getRun('run-aaaa-1'), {
    ...runInput('run-aaaa-1', iso(0)),
    status: 'STARTED',
    endedAt: null,
    error: null,
  });
  await log.finishRun('run-aaaa-1', 'FAILURE', iso(5000), 'boom');
  t.deepEqual(await log.getRun('run-aaaa-1'), {
    ...runInput('run-aaaa-1', iso(0)),
    status: 'FAILURE',
    endedAt: iso(5000),
    error: 'boom',
  });
  t.is(await log.getRun('nope'), null);
  await t.throwsAsync(log.startRun(runInput('run-aaaa-1', iso(1))), { message: /already in the event log/ });
  await t.throwsAsync(log.finishRun('missing', 'SUCCESS', iso(1)), { message: /not in the event log/ });
});

test('materializations, check results and freshness round-trip', async (t) => {
  const log = openLog(t);
  await log.startRun(runInput('r1', iso(0)));
  const m: MaterializationRecord = { runId: 'r1', assetKey: 'sf_raw/sf_user', timestamp: iso(10), metadata: { rows: 42, nested: { a: [1, 2] } } };
  await log.recordMaterialization(m);
  t.deepEqual(await log.lastMaterialization('sf_raw/sf_user'), m);
  t.is(await log.lastMaterialization('other'), null);

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
  const checks = await log.lastCheckResults('sf_raw/sf_user');
  t.deepEqual([...checks.entries()], [['unique_id', c]]);
  t.is((await log.lastCheckResults('other')).size, 0);

  const f: FreshnessRecord = {
    runId: null,
    assetKey: 'sf_raw/sf_user',
    state: 'WARN',
    previousState: 'PASS',
    timestamp: iso(30),
    metadata: { lagMs: 1000 },
  };
  await log.recordFreshness(f);
  t.deepEqual(await log.lastFreshness('sf_raw/sf_user'), f);
  const f2: FreshnessRecord = { ...f, runId: 'r1', state: 'PASS', previousState: 'WARN', timestamp: iso(40), metadata: {} };
  await log.recordFreshness(f2);
  t.deepEqual(await log.lastFreshness('sf_raw/sf_user'), f2);
  t.is(await log.lastFreshness('other'), null);
});

test('lastMaterialization picks the newest by timestamp, then by insertion', async (t) => {
  const log = openLog(t);
  const key = 'dbt/stg_user';
  await log.recordMaterialization({ runId: 'r1', assetKey: key, timestamp: iso(1000), metadata: { n: 1 } });
  await log.recordMaterialization({ runId: 'r2', assetKey: key, timestamp: iso(3000), metadata: { n: 2 } });
  // Written later but older: not the newest.
  await log.recordMaterialization({ runId: 'r3', assetKey: key, timestamp: iso(2000), metadata: { n: 3 } });
  await log.recordMaterialization({ runId: 'x', assetKey: 'other', timestamp: iso(9000), metadata: {} });
  t.is((await log.lastMaterialization(key))?.runId, 'r2');
  // Same timestamp: the later write wins.
  await log.recordMaterialization({ runId: 'r4', assetKey: key, timestamp: iso(3000), metadata: { n: 4 } });
  t.deepEqual(await log.lastMaterialization(key), { runId: 'r4', assetKey: key, timestamp: iso(3000), metadata: { n: 4 } });
  // Timestamps with an offset compare by instant, not by text.
  await log.recordMaterialization({ runId: 'r5', assetKey: key, timestamp: '2024-01-01T02:00:00+02:00', metadata: {} });
  t.is((await log.lastMaterialization(key))?.runId, 'r4');
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
  const results = await log.lastCheckResults(key);
  t.deepEqual([...results.keys()].sort(), ['not_null', 'unique']);
  t.is(results.get('not_null')?.runId, 'r2');
  t.true(results.get('not_null')?.passed);
  t.is(results.get('unique')?.runId, 'r3');
  t.false(results.get('unique')?.passed);
});

test('recentRuns: newest first by startedAt, limited', async (t) => {
  const log = openLog(t);
  const order = [3, 1, 4, 0, 2];
  for (const i of order) await log.startRun(runInput(`run-${i}`, iso(i * 1000)));
  t.deepEqual(
    (await log.recentRuns(10)).map((r) => r.runId),
    ['run-4', 'run-3', 'run-2', 'run-1', 'run-0'],
  );
  t.deepEqual(
    (await log.recentRuns(2)).map((r) => r.runId),
    ['run-4', 'run-3'],
  );
  t.deepEqual(await log.recentRuns(0), []);
});

test('getRun accepts a unique prefix of at least 6 chars and rejects an ambiguous one', async (t) => {
  const log = openLog(t);
  await log.startRun(runInput('3f9a1c22-aaaa-4000-8000-000000000001', iso(0)));
  await log.startRun(runInput('3f9a1c77-bbbb-4000-8000-000000000002', iso(1)));
  await log.startRun(runInput('abcdef', iso(2)));
  await log.startRun(runInput('abcdef12', iso(3)));

  t.is((await log.getRun('3f9a1c2'))?.runId, '3f9a1c22-aaaa-4000-8000-000000000001');
  t.is((await log.getRun('3f9a1c77'))?.runId, '3f9a1c77-bbbb-4000-8000-000000000002');
  // Too short to be a prefix.
  t.is(await log.getRun('3f9a1'), null);
  t.is(await log.getRun('zzzzzzzz'), null);
  // An exact id wins over being a prefix of another id.
  t.is((await log.getRun('abcdef'))?.runId, 'abcdef');

  const err = await t.throwsAsync(log.getRun('3f9a1c'));
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
  await log.recordCheckResult({
    runId: 'run-e',
    assetKey: 'a/x',
    checkName: 'c1',
    severity: 'ERROR',
    passed: true,
    description: null,
    metadata: {},
    timestamp: iso(3),
  });
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

test('reopening the file keeps the data', async (t) => {
  const file = path.join(tempDir(t), 'events.db');
  const first = SqliteEventLog.open(file);
  await first.startRun(runInput('keep-me-1', iso(0)));
  await first.recordMaterialization({ runId: 'keep-me-1', assetKey: 'k', timestamp: iso(1), metadata: { v: 1 } });
  await first.finishRun('keep-me-1', 'SUCCESS', iso(2));
  await first.close();
  await first.close(); // idempotent

  const second = openLog(t, file);
  t.is((await second.getRun('keep-me-1'))?.status, 'SUCCESS');
  t.deepEqual((await second.lastMaterialization('k'))?.metadata, { v: 1 });
  t.is((await second.runEvents('keep-me-1')).length, 3);
});

test('an older schema version is migrated forward; a newer one is refused', async (t) => {
  const dir = tempDir(t);
  const old = path.join(dir, 'old.db');
  new Database(old).close(); // an empty file at user_version 0
  const log = SqliteEventLog.open(old);
  await log.startRun(runInput('migrated', iso(0)));
  t.is((await log.getRun('migrated'))?.runId, 'migrated');
  await log.close();

  const newer = path.join(dir, 'newer.db');
  const db = new Database(newer);
  db.pragma(`user_version = ${EVENT_LOG_SCHEMA_VERSION + 1}`);
  db.close();
  t.throws(() => SqliteEventLog.open(newer), { message: /newer than this program supports/ });
});

function runChild(file: string, args: string[]) {
  const child = fork(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, ready, exited };
}

test('two processes writing at once lose nothing and keep the file intact', async (t) => {
  const file = path.join(tempDir(t), 'shared', 'events.db');
  const count = 300;
  const writers = [runChild(WRITER, [file, 'A', String(count)]), runChild(WRITER, [file, 'B', String(count)])];
  await Promise.all(writers.map((w) => w.ready));
  for (const w of writers) w.child.send('go');
  t.deepEqual(await Promise.all(writers.map((w) => w.exited)), [0, 0]);

  const db = new Database(file, { readonly: true });
  t.teardown(() => db.close());
  t.is(db.pragma('integrity_check', { simple: true }), 'ok');
  const rows = db.prepare(`SELECT metadata FROM materializations`).all() as { metadata: string }[];
  t.is(rows.length, 2 * count);
  const seen = new Set(rows.map((r) => {
    const m = JSON.parse(r.metadata) as { writer: string; i: number };
    return `${m.writer}:${m.i}`;
  }));
  t.is(seen.size, 2 * count);
  const events = db.prepare(`SELECT type, COUNT(*) AS n FROM events GROUP BY type ORDER BY type`).all();
  t.deepEqual(events, [
    { type: 'ASSET_MATERIALIZATION', n: 2 * count },
    { type: 'RUN_START', n: 2 },
    { type: 'RUN_SUCCESS', n: 2 },
  ]);

  const log = openLog(t, file);
  const runs = await log.recentRuns(10);
  t.is(runs.length, 2);
  t.true(runs.every((r) => r.status === 'SUCCESS'));
  for (const r of runs) t.is((await log.runEvents(r.runId)).length, count + 2);
});
