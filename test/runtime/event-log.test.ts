import test from 'ava';
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { EVENT_LOG_SCHEMA_VERSION, SqliteEventLog } from '../../runtime/storage/sqlite-event-log.js';
import { eventLogContract, iso, runInput } from '../contracts/event-log-contract.js';

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

eventLogContract(test, (t) => openLog(t));

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
