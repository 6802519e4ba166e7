import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { COMMIT_BATCH_ROWS, DuckDbRawWarehouse, commitBatches } from '../../assets/warehouse/duckdb-raw-warehouse.js';
import { SchemaTypeChangeError, type RawRow } from '../../assets/warehouse/raw-warehouse.js';
import { tempDir } from '../helpers/temp.js';
import {
  BASE_TIME,
  USER_COLUMNS,
  fingerprint,
  queryFile,
  userBatches,
  userId,
  userRow,
} from './fixtures/duckdb-fixture.js';

const KILL_WRITER = fileURLToPath(new URL('./fixtures/duckdb-kill-writer.js', import.meta.url));
const EXTRACTED_AT = new Date('2024-06-01T12:00:00.123Z');

function tempFile(): string {
  return path.join(tempDir('sfpipe-duckdb-'), 'nested', 'dir', 'warehouse.duckdb');
}

async function openWith(file: string): Promise<DuckDbRawWarehouse> {
  const wh = await DuckDbRawWarehouse.open(file);
  await wh.ensureRawTables(USER_COLUMNS);
  return wh;
}

async function load(
  wh: DuckDbRawWarehouse,
  runId: string,
  batches: Iterable<RawRow[]>,
  opts: { tombstonesAt?: Date; extractedAt?: Date } = {},
) {
  const l = await wh.beginLoad(runId, opts.extractedAt ?? EXTRACTED_AT);
  for (const rows of batches) await l.append(rows);
  return l.commit(opts.tombstonesAt ? { tombstonesAt: opts.tombstonesAt } : {});
}

test('ensureRawTables creates the raw and quarantine tables with the mapped types', async (t) => {
  const file = tempFile();
  const wh = await DuckDbRawWarehouse.open(file);
  t.is(wh.engine, 'duckdb');
  t.is(wh.location, file);
  const extra = [
    { name: 'score', type: 'double' as const },
    { name: 'employeenumber', type: 'bigint' as const },
    { name: 'hired', type: 'date' as const },
  ];
  t.deepEqual(await wh.ensureRawTables([...USER_COLUMNS, ...extra]), { added: [] });
  // Idempotent.
  t.deepEqual(await wh.ensureRawTables([...USER_COLUMNS, ...extra]), { added: [] });
  t.deepEqual(await wh.rawStats(), { rows: 0, ids: 0 });
  await wh.close();

  const cols = await queryFile(
    file,
    `SELECT table_name, column_name, data_type FROM information_schema.columns
     WHERE table_schema = 'sf_raw' ORDER BY table_name, ordinal_position`,
  );
  const raw = cols.filter((c) => c['table_name'] === 'sf_user').map((c) => `${String(c['column_name'])} ${String(c['data_type'])}`);
  t.deepEqual(raw, [
    'id VARCHAR',
    'name VARCHAR',
    'division VARCHAR',
    'audit_phase__c VARCHAR',
    'isactive BOOLEAN',
    'isdeleted BOOLEAN',
    'lastmodifieddate TIMESTAMP',
    'systemmodstamp TIMESTAMP',
    'score DOUBLE',
    'employeenumber BIGINT',
    'hired DATE',
    '_extracted_at TIMESTAMP',
    '_extraction_run_id VARCHAR',
  ]);
  const q = cols.filter((c) => c['table_name'] === 'sf_user_quarantine').map((c) => `${String(c['column_name'])} ${String(c['data_type'])}`);
  t.deepEqual(q, ['raw_json VARCHAR', 'reason VARCHAR', '_extraction_run_id VARCHAR', '_extracted_at TIMESTAMP']);
});

test('ensureRawTables requires id and systemmodstamp and rejects reserved or repeated names', async (t) => {
  const wh = await DuckDbRawWarehouse.open(tempFile());
  t.teardown(() => wh.close());
  await t.throwsAsync(wh.ensureRawTables(USER_COLUMNS.filter((c) => c.name !== 'id')), { message: /id/ });
  await t.throwsAsync(wh.ensureRawTables(USER_COLUMNS.filter((c) => c.name !== 'systemmodstamp')), {
    message: /systemmodstamp/,
  });
  await t.throwsAsync(wh.ensureRawTables([...USER_COLUMNS, { name: '_extracted_at', type: 'timestamp' }]), {
    message: /reserved/,
  });
  await t.throwsAsync(wh.ensureRawTables([...USER_COLUMNS, { name: 'Name', type: 'string' }]), { message: /twice/ });
  // Nothing was created by the failed calls.
  t.deepEqual(await wh.rawStats(), { rows: 0, ids: 0 });
  t.is(await wh.watermark('systemmodstamp'), null);
});

test('identifiers are quoted: odd column names work', async (t) => {
  const file = tempFile();
  const wh = await DuckDbRawWarehouse.open(file);
  const odd = 'we"ird col';
  await wh.ensureRawTables([...USER_COLUMNS, { name: odd, type: 'string' }, { name: 'select', type: 'bigint' }]);
  t.like(await load(wh, 'r1', [[{ ...userRow(1), [odd]: 'x', select: 42 }]]), { inserted: 1 });
  await wh.close();
  const rows = await queryFile(file, `SELECT "we""ird col" AS w, "select" AS s FROM sf_raw.sf_user`);
  t.deepEqual(rows, [{ w: 'x', s: 42n }]);
});

test('adding a configured column keeps every row (new column null on old rows)', async (t) => {
  const file = tempFile();
  let wh = await openWith(file);
  await load(wh, 'r1', userBatches(0, 100));
  await wh.close();

  wh = await DuckDbRawWarehouse.open(file);
  const added = await wh.ensureRawTables([
    ...USER_COLUMNS,
    { name: 'department', type: 'string' },
    { name: 'employeenumber', type: 'bigint' },
  ]);
  t.deepEqual(added, { added: ['department', 'employeenumber'] });
  t.deepEqual(await wh.rawStats(), { rows: 100, ids: 100 });
  const summary = await load(wh, 'r2', [[{ ...userRow(0, 1), department: 'Finance', employeenumber: 7 }]]);
  t.like(summary, { inserted: 1, duplicates: 0 });
  await wh.close();

  const rows = await queryFile(
    file,
    `SELECT count(*) AS n, count(department) AS dep, count(employeenumber) AS emp,
            max(department) AS d, max(employeenumber) AS e FROM sf_raw.sf_user`,
  );
  t.deepEqual(rows, [{ n: 101n, dep: 1n, emp: 1n, d: 'Finance', e: 7n }]);
});

test('a column whose type changes is a SchemaTypeChangeError naming table, column, types and the fix', async (t) => {
  const file = tempFile();
  const wh = await openWith(file);
  t.teardown(() => wh.close());
  await load(wh, 'r1', userBatches(0, 10));
  const err = await t.throwsAsync(
    wh.ensureRawTables(USER_COLUMNS.map((c) => (c.name === 'division' ? { ...c, type: 'bigint' as const } : c))),
    { instanceOf: SchemaTypeChangeError },
  );
  t.is(err?.name, 'SchemaTypeChangeError');
  t.regex(err?.message ?? '', /sf_raw\.sf_user\.division/);
  t.regex(err?.message ?? '', /VARCHAR/);
  t.regex(err?.message ?? '', /BIGINT/);
  t.regex(err?.message ?? '', /rename the column in the config or migrate the table/);
  t.log(err?.message);
  // The failed call changed nothing, not even a column it would have added first.
  await t.throwsAsync(
    wh.ensureRawTables([
      { name: 'aaa_new', type: 'string' },
      ...USER_COLUMNS.map((c) => (c.name === 'isactive' ? { ...c, type: 'string' as const } : c)),
    ]),
    { instanceOf: SchemaTypeChangeError, message: /isactive.*BOOLEAN/s },
  );
  t.deepEqual(await wh.ensureRawTables(USER_COLUMNS), { added: [] });
  t.deepEqual(await wh.rawStats(), { rows: 10, ids: 10 });
});

test('append + commit inserts the versions with the load columns set', async (t) => {
  const file = tempFile();
  const wh = await openWith(file);
  const summary = await load(wh, 'run-1', userBatches(0, 5000));
  t.deepEqual(summary, { inserted: 5000, duplicates: 0, quarantined: 0, tombstones: 0, revived: 0, rewritten: 0 });
  t.deepEqual(await wh.rawStats(), { rows: 5000, ids: 5000 });
  // A second version of some records is a new row.
  t.like(await load(wh, 'run-2', userBatches(0, 10, 1)), { inserted: 10, duplicates: 0 });
  t.deepEqual(await wh.rawStats(), { rows: 5010, ids: 5000 });
  await wh.close();
  const rows = await queryFile(
    file,
    `SELECT _extraction_run_id AS run, min(_extracted_at) AS lo, max(_extracted_at) AS hi, count(*) AS n
     FROM sf_raw.sf_user GROUP BY ALL ORDER BY run`,
  );
  t.deepEqual(rows, [
    { run: 'run-1', lo: EXTRACTED_AT, hi: EXTRACTED_AT, n: 5000n },
    { run: 'run-2', lo: EXTRACTED_AT, hi: EXTRACTED_AT, n: 10n },
  ]);
});

test('re-committing the same versions inserts nothing: all duplicates', async (t) => {
  const file = tempFile();
  const wh = await openWith(file);
  t.like(await load(wh, 'r1', userBatches(0, 3000)), { inserted: 3000 });
  const before = await (async () => {
    await wh.close();
    return fingerprint(file);
  })();
  const wh2 = await DuckDbRawWarehouse.open(file);
  t.deepEqual(await load(wh2, 'r2', userBatches(0, 3000)), {
    inserted: 0,
    duplicates: 3000,
    quarantined: 0,
    tombstones: 0,
    revived: 0,
    rewritten: 0,
  });
  await wh2.close();
  // Not even _extracted_at / _extraction_run_id moved.
  t.is(await fingerprint(file), before);
});

test('repeats within one load are inserted once and counted as duplicates', async (t) => {
  const wh = await openWith(tempFile());
  t.teardown(() => wh.close());
  await load(wh, 'r0', [[userRow(0)]]);
  const l = await wh.beginLoad('r1', EXTRACTED_AT);
  const batch = [...userBatches(0, 50)][0]!;
  await l.append(batch);
  await l.append(batch); // the same page twice (lookback overlap)
  await l.append([userRow(10), userRow(10, 1), userRow(10, 1)]);
  // 103 staged: users 0..49 (v0) twice, then userRow(10) again and userRow(10, 1) twice.
  // Unique versions: 50 (v0 of 0..49) + userRow(10, 1) = 51, of which userRow(0) was already in raw.
  t.deepEqual(await l.commit(), { inserted: 50, duplicates: 53, quarantined: 0, tombstones: 0, revived: 0, rewritten: 0 });
  t.deepEqual(await wh.rawStats(), { rows: 51, ids: 50 });
});

test('watermark is the max cursor over committed live rows, ignores tombstones, null when empty', async (t) => {
  const file = tempFile();
  const wh = await DuckDbRawWarehouse.open(file);
  t.teardown(() => wh.close());
  t.is(await wh.watermark('systemmodstamp'), null, 'no table yet');
  await wh.ensureRawTables(USER_COLUMNS);
  t.is(await wh.watermark('systemmodstamp'), null, 'empty table');

  await load(wh, 'r1', userBatches(0, 100));
  const max = userRow(99)['systemmodstamp'] as Date;
  t.is(max.getUTCMilliseconds(), 99, 'the fixture has millis');
  t.deepEqual(await wh.watermark('systemmodstamp'), max);
  t.deepEqual(await wh.watermark('lastmodifieddate'), new Date(max.getTime() - 7));

  // A full refresh that saw only users 0..49: tombstones at a much later time must not move the watermark.
  const summary = await load(wh, 'r2', userBatches(0, 50), { tombstonesAt: new Date('2030-01-01T00:00:00.000Z') });
  t.is(summary.tombstones, 50);
  t.deepEqual(await wh.watermark('systemmodstamp'), max);

  // Staged but uncommitted rows do not count either.
  const l = await wh.beginLoad('r3', EXTRACTED_AT);
  await l.append([{ ...userRow(1, 9), systemmodstamp: new Date('2029-01-01T00:00:00.000Z') }]);
  t.deepEqual(await wh.watermark('systemmodstamp'), max);
  await l.commit();
  t.deepEqual(await wh.watermark('systemmodstamp'), new Date('2029-01-01T00:00:00.000Z'));

  await t.throwsAsync(wh.watermark('nope'), { message: /no column nope/ });
});

test('two raw rows of one version: the later observation is the latest version a tombstone copies, whatever the row order', async (t) => {
  const file = tempFile();
  let wh = await openWith(file);
  t.like(await load(wh, 'r1', [[userRow(1), userRow(2)]]), { inserted: 2 });
  await wh.close();
  // Another loader wrote a second row of user 1's version, observed earlier than raw's but
  // appended after it: its values must not win.
  await queryFile(
    file,
    `INSERT INTO sf_raw.sf_user
     SELECT id, name, 'Stale', audit_phase__c, isactive, isdeleted, lastmodifieddate, systemmodstamp,
            _extracted_at - INTERVAL 1 DAY, 'r0'
     FROM sf_raw.sf_user WHERE id = '${userId(1)}'`,
  );
  wh = await openWith(file);
  const refreshAt = new Date(BASE_TIME + 10 * 86_400_000);
  t.like(await load(wh, 'r2', [[userRow(2)]], { tombstonesAt: refreshAt, extractedAt: new Date(EXTRACTED_AT.getTime() + 1) }), { tombstones: 1 });
  await wh.close();
  const rows = await queryFile(file, `SELECT division FROM sf_raw.sf_user WHERE id = '${userId(1)}' AND isdeleted`);
  t.deepEqual(rows, [{ division: userRow(1).division }]);
});

test('an uncommitted load is invisible: to another reader while staged, after abort, after close', async (t) => {
  const file = tempFile();
  let wh = await openWith(file);
  await load(wh, 'seed', userBatches(0, 10));
  const stats = await wh.rawStats();

  const l = await wh.beginLoad('r1', EXTRACTED_AT);
  for (const rows of userBatches(0, 5000, 1)) await l.append(rows);
  await l.quarantine([{ rawJson: '{}', reason: 'x' }]);
  t.deepEqual(await wh.rawStats(), stats, 'staged rows are not visible to the warehouse connection');
  await l.abort();
  await l.abort(); // idempotent
  t.deepEqual(await wh.rawStats(), stats);
  await t.throwsAsync(l.commit(), { message: /after the load was committed or aborted/ });
  await t.throwsAsync(l.append([userRow(1)]), { message: /after the load was committed or aborted/ });
  await wh.close();
  const before = await fingerprint(file);

  // Staged, then the warehouse is closed without commit.
  wh = await DuckDbRawWarehouse.open(file);
  const l2 = await wh.beginLoad('r2', EXTRACTED_AT);
  for (const rows of userBatches(0, 5000, 2)) await l2.append(rows);
  await wh.close();
  t.is(await fingerprint(file), before);
  await t.throwsAsync(l2.commit(), { message: /after the load was committed or aborted/ });

  // A committed load is finished too.
  wh = await DuckDbRawWarehouse.open(file);
  t.teardown(() => wh.close());
  const l3 = await wh.beginLoad('r3', EXTRACTED_AT);
  await l3.append([userRow(1, 3)]);
  t.like(await l3.commit(), { inserted: 1 });
  await t.throwsAsync(l3.commit(), { message: /after the load was committed or aborted/ });
  t.deepEqual(await wh.rawStats(), { rows: 11, ids: 10 });
});

test('append rejects rows without the version key or with unknown columns, staging nothing of the batch', async (t) => {
  const wh = await openWith(tempFile());
  t.teardown(() => wh.close());
  const l = await wh.beginLoad('r1', EXTRACTED_AT);
  await t.throwsAsync(l.append([userRow(1), { ...userRow(2), id: null }]), { message: /lacks id or systemmodstamp/ });
  await t.throwsAsync(l.append([userRow(1), { ...userRow(2), systemmodstamp: null }]), { message: /lacks id/ });
  await t.throwsAsync(l.append([{ ...userRow(3), surprise: 'x' }]), { message: /surprise/ });
  await t.throwsAsync(l.append([{ ...userRow(3), isactive: 'maybe' }]), { message: /isactive/ });
  await l.append([{ id: userId(4), systemmodstamp: new Date(BASE_TIME) }]); // missing keys are null
  t.deepEqual(await l.commit(), { inserted: 1, duplicates: 0, quarantined: 0, tombstones: 0, revived: 0, rewritten: 0 });
});

test('tombstones: latest live version copied with isdeleted, none for ids in the load or already deleted', async (t) => {
  const file = tempFile();
  const wh = await openWith(file);
  const day = 86_400_000;
  const T1 = new Date(BASE_TIME + 10 * day);
  const T2 = new Date(BASE_TIME + 11 * day);
  const T3 = new Date(BASE_TIME + 12 * day);
  const T4 = new Date(BASE_TIME + 13 * day);
  const at2 = new Date(EXTRACTED_AT.getTime() + 1);

  t.like(await load(wh, 'r1', userBatches(0, 10)), { inserted: 10 });
  // Full refresh seeing 0..5 (new versions): 6..9 vanished.
  t.deepEqual(await load(wh, 'r2', userBatches(0, 6, 1), { tombstonesAt: T1, extractedAt: at2 }), {
    inserted: 6,
    duplicates: 0,
    quarantined: 0,
    tombstones: 4,
    revived: 0,
    rewritten: 0,
  });
  // The same refresh again: nothing new, 6..9 are already deleted.
  t.deepEqual(await load(wh, 'r3', userBatches(0, 6, 1), { tombstonesAt: T2 }), {
    inserted: 0,
    duplicates: 6,
    quarantined: 0,
    tombstones: 0,
    revived: 0,
    rewritten: 0,
  });
  // User 7 comes back (a new version after its tombstone).
  const back7 = { ...userRow(7, 2), systemmodstamp: new Date(T2.getTime() + 3_600_000) };
  t.deepEqual(await load(wh, 'r4', [[...userBatches(0, 6, 1)][0]!, [back7]], { tombstonesAt: T3 }), {
    inserted: 1,
    duplicates: 6,
    quarantined: 0,
    tombstones: 0,
    revived: 0,
    rewritten: 0,
  });
  // A refresh that saw only user 7: 0..5 vanish.
  t.like(await load(wh, 'r5', [[back7]], { tombstonesAt: T4 }), { inserted: 0, duplicates: 1, tombstones: 6 });
  // A record whose latest version is newer than the refresh time gets no tombstone.
  await load(wh, 'r6', [[{ ...userRow(30), systemmodstamp: new Date(T4.getTime() + day) }, userRow(31)]]);
  t.like(await load(wh, 'r7', [[back7]], { tombstonesAt: new Date(T4.getTime() + 3_600_000) }), {
    tombstones: 1,
  });
  await wh.close();

  const tomb = await queryFile(
    file,
    `SELECT id, name, division, audit_phase__c, isactive, isdeleted, lastmodifieddate, systemmodstamp,
            _extracted_at, _extraction_run_id
     FROM sf_raw.sf_user WHERE _extraction_run_id = 'r2' AND isdeleted ORDER BY id`,
  );
  t.deepEqual(
    tomb,
    [6, 7, 8, 9].map((i) => ({
      ...userRow(i),
      isdeleted: true,
      systemmodstamp: T1,
      _extracted_at: at2,
      _extraction_run_id: 'r2',
    })),
  );
  const latest = await queryFile(
    file,
    `SELECT id, isdeleted, systemmodstamp FROM sf_raw.sf_user
     QUALIFY row_number() OVER (PARTITION BY id ORDER BY systemmodstamp DESC) = 1 ORDER BY id`,
  );
  const expected = new Map<string, [boolean, Date]>();
  for (let i = 0; i <= 5; i++) expected.set(userId(i), [true, T4]);
  for (const i of [6, 8, 9]) expected.set(userId(i), [true, T1]);
  expected.set(userId(7), [false, back7.systemmodstamp]);
  expected.set(userId(30), [false, new Date(T4.getTime() + day)]);
  expected.set(userId(31), [true, new Date(T4.getTime() + 3_600_000)]);
  t.deepEqual(
    latest,
    [...expected.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, [isdeleted, systemmodstamp]]) => ({ id, isdeleted, systemmodstamp })),
  );
});

test('commitBatches: one batch up to COMMIT_BATCH_ROWS rows, then one per COMMIT_BATCH_ROWS; a bad size is refused', (t) => {
  t.is(commitBatches(0), 1);
  t.is(commitBatches(COMMIT_BATCH_ROWS), 1);
  t.is(commitBatches(COMMIT_BATCH_ROWS + 1), 2);
  t.is(commitBatches(1_000_000, 50_000), 20);
  t.is(commitBatches(7, 1), 7);
  t.throws(() => commitBatches(10, 0), { instanceOf: RangeError });
});

/**
 * Loads that exercise every statement of a commit: repeats within a load, a version seen with
 * other values (rewrite), full refreshes (tombstones), records seen again behind their tombstone
 * (revival) and new versions. Returns each commit's summary and raw's rows at the end.
 */
async function batchingScenario(commitBatchRows: number | undefined): Promise<{ summaries: unknown[]; raw: Record<string, unknown>[] }> {
  const file = tempFile();
  const wh = await openWith(file);
  const day = 86_400_000;
  const at = (k: number) => new Date(EXTRACTED_AT.getTime() + k * 1000);
  const T1 = new Date(BASE_TIME + 10 * day);
  const T2 = new Date(BASE_TIME + 11 * day);
  const summaries: unknown[] = [];
  const commit = async (runId: string, k: number, pages: RawRow[][], opts: { tombstonesAt?: Date; observedAt?: Date }) => {
    const l = await wh.beginLoad(runId, at(k), commitBatchRows === undefined ? {} : { commitBatchRows });
    for (const rows of pages) await l.append(rows);
    summaries.push(await l.commit(opts));
  };
  const users = (from: number, to: number, v = 0) => [...userBatches(from, to, v, 7)].flat();
  // 30 users, user 3 seen twice with other values (the later one wins).
  await commit('r1', 1, [users(0, 30), [{ ...userRow(3), name: 'User 3 renamed' }]], {});
  // A full refresh that sees 0..19 at v1: 20..29 get tombstones.
  await commit('r2', 2, [users(0, 20, 1)], { tombstonesAt: T1, observedAt: T1 });
  // An incremental load: 25 seen behind its tombstone (revived), 5's v1 with another name
  // (rewritten), 6 at v2, a new user 40, and 7's v1 again (a duplicate).
  await commit('r3', 3, [[userRow(25), { ...userRow(5, 1), name: 'five' }, userRow(6, 2), userRow(40), userRow(7, 1)]], { observedAt: at(3) });
  // A full refresh seeing 0..9 at v1 and 25: 10..19 and 40 get tombstones.
  await commit('r4', 4, [users(0, 10, 1), [userRow(25)]], { tombstonesAt: T2, observedAt: T2 });
  // 12 seen again behind its tombstone, 7's v1 with another division.
  await commit('r5', 5, [[userRow(12, 1), { ...userRow(7, 1), division: 'Moon' }]], { observedAt: at(5) });
  await wh.close();
  const raw = await queryFile(
    file,
    `SELECT * FROM sf_raw.sf_user ORDER BY id, systemmodstamp, _extraction_run_id, isdeleted, name`,
  );
  return { summaries, raw };
}

test('a commit in batches of ids writes the same raw rows and summaries as one batch', async (t) => {
  const whole = await batchingScenario(undefined);
  // The scenario reaches every statement of a commit.
  const total = (k: string) => whole.summaries.reduce((n: number, s) => n + Number((s as Record<string, number>)[k]), 0);
  for (const k of ['inserted', 'duplicates', 'rewritten', 'tombstones', 'revived']) t.true(total(k) > 0, `the scenario ${k} nothing`);
  for (const batchRows of [1, 4]) {
    const batched = await batchingScenario(batchRows);
    t.deepEqual(batched.summaries, whole.summaries, `summaries, batches of ${batchRows}`);
    t.deepEqual(batched.raw, whole.raw, `raw rows, batches of ${batchRows}`);
  }
});

test('rawStats counts the ids a batch at a time beyond COMMIT_BATCH_ROWS rows, exactly', async (t) => {
  const wh = await openWith(tempFile());
  t.teardown(() => wh.close());
  const n = COMMIT_BATCH_ROWS + 5000;
  await load(wh, 'r1', userBatches(0, n));
  await load(wh, 'r2', userBatches(0, 1000, 1));
  t.true(commitBatches(n + 1000) > 1, 'raw is large enough for more than one batch');
  t.deepEqual(await wh.rawStats(), { rows: n + 1000, ids: n });
});

test('a merge beyond memory_limit fails naming the setting and the fix, and leaves raw unchanged', async (t) => {
  const file = tempFile();
  const wh = await DuckDbRawWarehouse.open(file, { memoryLimit: '8MB' });
  await wh.ensureRawTables(USER_COLUMNS);
  const l = await wh.beginLoad('big', EXTRACTED_AT, { commitBatchRows: 1_000_000 });
  for (const rows of userBatches(0, 300_000)) await l.append(rows);
  const err = await t.throwsAsync(l.commit());
  t.regex(err!.message, /^raw load big: DuckDB needed more than its memory_limit \(8MB\) to merge 300000 staged rows; raw is unchanged\. Fix: raise warehouse\.duckdb\.memory_limit/);
  t.deepEqual(await wh.rawStats(), { rows: 0, ids: 0 });
  await wh.close();
});

test('tombstones need an isdeleted column; the failed commit leaves raw unchanged', async (t) => {
  const wh = await DuckDbRawWarehouse.open(tempFile());
  t.teardown(() => wh.close());
  await wh.ensureRawTables(USER_COLUMNS.filter((c) => c.name !== 'isdeleted'));
  const strip = (r: RawRow): RawRow => {
    const { isdeleted: _drop, ...rest } = r;
    return rest;
  };
  await load(wh, 'r1', [[strip(userRow(1)), strip(userRow(2))]]);
  t.deepEqual(await wh.watermark('systemmodstamp'), userRow(2)['systemmodstamp']);
  const l = await wh.beginLoad('r2', EXTRACTED_AT);
  await l.append([strip(userRow(1, 1))]);
  await t.throwsAsync(l.commit({ tombstonesAt: new Date(BASE_TIME + 1e9) }), { message: /isdeleted/ });
  t.deepEqual(await wh.rawStats(), { rows: 2, ids: 2 });
});

test('quarantine rows are inserted once per (raw_json, reason)', async (t) => {
  const file = tempFile();
  const wh = await openWith(file);
  const a = { rawJson: '{"Id":"005A","Name":"O\'Brien \\"x\\""}', reason: 'missing SystemModstamp' };
  const b = { rawJson: '{"Id":"005B"}', reason: 'bad date' };
  const l1 = await wh.beginLoad('r1', EXTRACTED_AT);
  await l1.quarantine([a, a, b]);
  await l1.append([userRow(1)]);
  t.deepEqual(await l1.commit(), { inserted: 1, duplicates: 0, quarantined: 2, tombstones: 0, revived: 0, rewritten: 0 });
  const l2 = await wh.beginLoad('r2', EXTRACTED_AT);
  await l2.quarantine([a]);
  await l2.quarantine([{ ...a, reason: 'another reason' }, b]);
  t.deepEqual(await l2.commit(), { inserted: 0, duplicates: 0, quarantined: 1, tombstones: 0, revived: 0, rewritten: 0 });
  await wh.close();
  const rows = await queryFile(
    file,
    `SELECT raw_json, reason, _extraction_run_id AS run, _extracted_at AS at FROM sf_raw.sf_user_quarantine
     ORDER BY run, reason`,
  );
  t.deepEqual(rows, [
    { raw_json: b.rawJson, reason: 'bad date', run: 'r1', at: EXTRACTED_AT },
    { raw_json: a.rawJson, reason: 'missing SystemModstamp', run: 'r1', at: EXTRACTED_AT },
    { raw_json: a.rawJson, reason: 'another reason', run: 'r2', at: EXTRACTED_AT },
  ]);
});

test('strings round-trip byte for byte and timestamps at millisecond precision', async (t) => {
  const file = tempFile();
  const extra = [
    { name: 'score', type: 'double' as const },
    { name: 'employeenumber', type: 'bigint' as const },
    { name: 'hired', type: 'date' as const },
  ];
  const strings = [
    `it's "quoted" \\ back\\slash \\n not a newline`,
    'line1\nline2\r\nline3\ttab\u000b\u000c',
    'Ελληνικά Русский 日本語テキスト 中文 한국어 العربية עברית हिन्दी ไทย',
    '😀 👩‍💻 🏳️‍🌈 🇫🇷 emoji',
    'e\u0301 vs \u00e9 (combining vs precomposed)',
    "'); DROP TABLE sf_raw.sf_user; --",
    '',
    '  padded  ',
    'x'.repeat(100_000),
    '\u2028\u2029\ufeff\u200b zero-width and separators',
  ];
  const stamps = [
    '2024-02-29T23:59:59.999Z',
    '1970-01-01T00:00:00.001Z',
    '1969-07-20T20:17:40.123Z',
    '1900-01-01T00:00:00.000Z',
    '2000-01-01T00:00:00.500Z',
    '9999-12-31T23:59:59.999Z',
  ].map((s) => new Date(s));
  const rows: RawRow[] = strings.map((s, i) => ({
    ...userRow(i),
    name: s,
    division: Array.from(s).reverse().join(''), // code points, so no lone surrogates
    systemmodstamp: stamps[i % stamps.length]!,
    lastmodifieddate: stamps[(i + 1) % stamps.length]!,
    score: [0.1, -1e300, 5e-324, 1.7976931348623157e308][i % 4]!,
    employeenumber: [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0][i % 3]!,
    hired: new Date(Date.UTC(1960 + i * 7, 1, 29)),
  }));
  let wh = await DuckDbRawWarehouse.open(file);
  await wh.ensureRawTables([...USER_COLUMNS, ...extra]);
  const l = await wh.beginLoad('run "quoted" \'run\'', EXTRACTED_AT);
  await l.append(rows);
  await l.quarantine(strings.map((s) => ({ rawJson: JSON.stringify({ s }), reason: s })));
  t.like(await l.commit(), { inserted: rows.length, quarantined: strings.length });
  await wh.close();

  // Through a fresh warehouse...
  wh = await DuckDbRawWarehouse.open(file);
  t.deepEqual(await wh.watermark('systemmodstamp'), new Date('9999-12-31T23:59:59.999Z'));
  await wh.close();
  // ...and raw SQL.
  const back = await queryFile(
    file,
    `SELECT id, name, division, systemmodstamp, lastmodifieddate, score, employeenumber, hired, _extraction_run_id
     FROM sf_raw.sf_user ORDER BY id`,
  );
  t.is(back.length, rows.length);
  back.forEach((r, i) => {
    const want = rows[i]!;
    t.is(r['id'], want['id']);
    t.is(r['name'], want['name'], `name #${i}`);
    t.is(Buffer.compare(Buffer.from(String(r['name'])), Buffer.from(String(want['name']))), 0);
    t.is(r['division'], want['division']);
    t.deepEqual(r['systemmodstamp'], want['systemmodstamp'], `systemmodstamp #${i}`);
    t.deepEqual(r['lastmodifieddate'], want['lastmodifieddate']);
    t.is(r['score'], want['score']);
    t.is(r['employeenumber'], BigInt(want['employeenumber'] as number));
    t.deepEqual(r['hired'], want['hired']);
    t.is(r['_extraction_run_id'], 'run "quoted" \'run\'');
  });
  const q = await queryFile(file, `SELECT raw_json, reason FROM sf_raw.sf_user_quarantine`);
  const qBack = q.map((r) => `${String(r['reason'])}|${String(r['raw_json'])}`).sort();
  const qWant = strings.map((s) => `${s}|${JSON.stringify({ s })}`).sort();
  t.true(qBack.length === qWant.length && qBack.every((v, i) => v === qWant[i]), 'quarantine strings round-trip');
  // Byte-level check in SQL as well: DuckDB sees the UTF-8 the JS side meant.
  const [emoji] = await queryFile(file, `SELECT octet_length(encode(name)) AS n FROM sf_raw.sf_user WHERE id = '${userId(3)}'`);
  t.is(emoji?.['n'], BigInt(Buffer.byteLength(strings[3]!)));
});

test('close() releases the file: reopen in this process and from another process', async (t) => {
  const file = tempFile();
  const wh = await openWith(file);
  await load(wh, 'r1', userBatches(0, 10));
  await t.throwsAsync(DuckDbRawWarehouse.open(file), { message: /already open in this process/ });
  const l = await wh.beginLoad('r2', EXTRACTED_AT);
  await l.append([userRow(1, 1)]);
  await wh.close(); // also ends the open load and its connection
  await wh.close(); // idempotent
  await t.throwsAsync(wh.rawStats(), { message: /closed/ });

  const again = await DuckDbRawWarehouse.open(file);
  t.deepEqual(await again.rawStats(), { rows: 10, ids: 10 });
  await again.close();

  // Another process (as dbt would be) can take the file right away.
  const child = await runWriter([file, 'none', '0', '20', 'other-process', String(EXTRACTED_AT.getTime()), String(BASE_TIME + 1e9)]);
  t.is(child.code, 0, child.stderr);
  t.regex(child.stdout, /^done /m);
  const back = await DuckDbRawWarehouse.open(file);
  t.deepEqual(await back.rawStats(), { rows: 30, ids: 20 });

  // close() while a commit is running: the commit finishes first, then the file is released.
  const busy = await back.beginLoad('r3', EXTRACTED_AT);
  for (const rows of userBatches(100, 20_100)) await busy.append(rows);
  const committing = busy.commit();
  const aborting = busy.abort(); // waits for the commit, does not undo it
  await back.close();
  t.like(await committing, { inserted: 20_000 });
  await aborting;
  const last = await DuckDbRawWarehouse.open(file);
  t.deepEqual(await last.rawStats(), { rows: 20_030, ids: 20_020 });
  await last.close();
});

test('100k rows load quickly (timing logged, not asserted)', async (t) => {
  const wh = await openWith(tempFile());
  t.teardown(() => wh.close());
  const n = 100_000;
  const batches = [...userBatches(0, n)];
  let started = performance.now();
  const l = await wh.beginLoad('big', EXTRACTED_AT);
  for (const rows of batches) await l.append(rows);
  const staged = performance.now();
  const summary = await l.commit();
  const committed = performance.now();
  t.deepEqual(summary, { inserted: n, duplicates: 0, quarantined: 0, tombstones: 0, revived: 0, rewritten: 0 });
  t.log(
    `100k rows: staging ${(staged - started).toFixed(0)} ms, commit ${(committed - staged).toFixed(0)} ms, ` +
      `total ${(committed - started).toFixed(0)} ms`,
  );
  started = performance.now();
  const again = await load(wh, 'big-again', batches, { tombstonesAt: new Date(BASE_TIME + 1e10) });
  t.deepEqual(again, { inserted: 0, duplicates: n, quarantined: 0, tombstones: 0, revived: 0, rewritten: 0 });
  t.log(`100k rows re-load (all duplicates, with tombstone pass): ${(performance.now() - started).toFixed(0)} ms`);
  t.deepEqual(await wh.rawStats(), { rows: n, ids: n });
});

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  killed: boolean;
}

/** Runs the kill writer; with `killOn`, SIGKILLs it as soon as it prints that line. */
function runWriter(args: string[], killOn?: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KILL_WRITER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (killOn && !killed && stdout.split('\n').includes(killOn)) {
        killed = child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
}

test('kill -9 while staging or inside the commit leaves raw as it was; a rerun equals an undisturbed run', async (t) => {
  const dir = tempDir('sfpipe-duckdb-kill-');
  const victim = path.join(dir, 'victim.duckdb');
  const reference = path.join(dir, 'reference.duckdb');
  for (const file of [victim, reference]) {
    const wh = await openWith(file);
    await load(wh, 'seed', userBatches(0, 5000));
    await wh.close();
  }
  const before = await fingerprint(victim);
  t.is(await fingerprint(reference), before);
  // Users 2500..202500 at version 1 (the first batch staged twice); 0..2499 vanish -> tombstones.
  const args = (file: string, mode: string): string[] => [
    file,
    mode,
    '2500',
    '202500',
    'kill-run',
    String(EXTRACTED_AT.getTime()),
    String(BASE_TIME + 400 * 86_400_000),
  ];

  const staging = await runWriter(args(victim, 'staging'), 'staging');
  t.is(staging.signal, 'SIGKILL', staging.stderr);
  t.is(await fingerprint(victim), before, 'killed while staging');

  const inCommit = await runWriter(args(victim, 'commit-hold'), 'in-commit');
  t.is(inCommit.signal, 'SIGKILL', inCommit.stderr);
  t.is(await fingerprint(victim), before, 'killed inside the commit transaction, before COMMIT');

  const undisturbed = await runWriter(args(reference, 'none'));
  t.is(undisturbed.code, 0, undisturbed.stderr);
  const summary = JSON.parse(undisturbed.stdout.replace(/^[\s\S]*done /, '')) as unknown;
  t.deepEqual(summary, { inserted: 200_000, duplicates: 2000, quarantined: 2, tombstones: 2500, revived: 0, rewritten: 0 });
  const after = await fingerprint(reference);
  t.not(after, before);

  // Killed right as commit() is called: all or nothing.
  const racing = await runWriter(args(victim, 'commit'), 'committing');
  t.is(racing.signal, 'SIGKILL', racing.stderr);
  const raced = await fingerprint(victim);
  t.true(raced === before || raced === after, 'a kill around COMMIT leaves either the old or the new table');
  t.log(`kill around commit() left the ${raced === before ? 'old' : 'new'} table`);

  const rerun = await runWriter(args(victim, 'none'));
  t.is(rerun.code, 0, rerun.stderr);
  t.is(await fingerprint(victim), after, 'the rerun gives the same table as the undisturbed run');
});
