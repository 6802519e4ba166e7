/**
 * The raw layer on three engines, load for load: DuckDbRawWarehouse, AthenaRawWarehouse (Athena's
 * API answered by a real Trino over Iceberg on moto's Glue and S3: fixtures/athena-on-trino.ts) and
 * TrinoRawWarehouse (Trino's own protocol, same Trino). The same loads give the same summaries, and
 * raw holds the same rows on all three (the Iceberg tables read back through Trino).
 *
 * Trino and moto are shared by every test process: each test has its own buckets and databases.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import test from 'ava';
import { GetQueryExecutionCommand, ListQueryExecutionsCommand } from '@aws-sdk/client-athena';
import { CreateDatabaseCommand, CreateTableCommand, GetTableCommand, GetTablesCommand, GlueClient, UpdateTableCommand } from '@aws-sdk/client-glue';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { DuckDBInstance } from '@duckdb/node-api';

import { parseS3Url } from '../../assets/warehouse/athena-glue.js';
import { AthenaRawWarehouse } from '../../assets/warehouse/athena-raw-warehouse.js';
import type { StatementRecord } from '../../assets/warehouse/athena-query.js';
import { DuckDbRawWarehouse } from '../../assets/warehouse/duckdb-raw-warehouse.js';
import { SchemaTypeChangeError, type ColumnSpec, type RawRow, type RawWarehouse } from '../../assets/warehouse/raw-warehouse.js';
import type { TrinoStatementRecord } from '../../assets/warehouse/trino-query.js';
import { TrinoRawWarehouse } from '../../assets/warehouse/trino-raw-warehouse.js';
import { MOTO_CREDENTIALS, MOTO_REGION } from '../services/moto/start.js';
import { sharedTrino, TRINO_ICEBERG_CATALOG } from '../services/trino/start.js';
import { openAthenaOnTrino, type AthenaOnTrinoWorld } from './fixtures/athena-emulation.js';

const BASE: ColumnSpec[] = [
  { name: 'id', type: 'string' },
  { name: 'name', type: 'string' },
  { name: 'isactive', type: 'boolean' },
  { name: 'isdeleted', type: 'boolean' },
  { name: 'lastmodifieddate', type: 'timestamp' },
  { name: 'systemmodstamp', type: 'timestamp' },
];
const FULL: ColumnSpec[] = [...BASE, { name: 'division', type: 'string' }, { name: 'audit_phase__c', type: 'string' }];

const HOSTILE_NAMES = ["O'Brien", 'back\\slash \\n', 'multi\nline\r\nname', '山田 太郎', 'Дмитрий', 'محمد', '😀 "quoted" `tick`', "''; DROP TABLE sf_raw.sf_user; --"];

const T = (s: string): Date => new Date(`${s}Z`);

function user(i: number, stamp: string, division: string | null): RawRow {
  return {
    id: `005${String(i).padStart(15, '0')}`,
    name: HOSTILE_NAMES[i % HOSTILE_NAMES.length]!,
    isactive: i % 3 !== 0,
    isdeleted: false,
    lastmodifieddate: T(stamp),
    systemmodstamp: T(stamp),
    division,
    audit_phase__c: i % 2 ? 'P1' : null,
  };
}

const TS_COLUMNS = new Set(['lastmodifieddate', 'systemmodstamp', '_extracted_at']);
const RAW_COLUMNS = ['id', 'name', 'isactive', 'isdeleted', 'lastmodifieddate', 'systemmodstamp', 'division', 'audit_phase__c', '_extracted_at', '_extraction_run_id'];

/** Rows as comparable text, sorted; timestamps as `YYYY-MM-DD hh:mm:ss.ffffff` on every engine. */
const canonical = (rows: unknown[][]): string[] => rows.map((r) => JSON.stringify(r)).sort();

/** Raw of the DuckDB warehouse (through its own instance: DuckDB allows one instance per file in a process). */
async function duckRaw(w: DuckDbRawWarehouse): Promise<string[]> {
  const inst = (w as unknown as { instance: DuckDBInstance }).instance;
  const c = await inst.connect();
  try {
    const cols = RAW_COLUMNS.map((n) => (TS_COLUMNS.has(n) ? `strftime(${n}, '%Y-%m-%d %H:%M:%S.%f')` : n)).join(', ');
    return canonical((await c.runAndReadAll(`SELECT ${cols} FROM sf_raw.sf_user`)).getRowsJS());
  } finally {
    c.closeSync();
  }
}

/** Raw of an Iceberg table, read through Trino (timestamp(6) as varchar is `YYYY-MM-DD hh:mm:ss.ffffff`). */
async function icebergRaw(w: AthenaOnTrinoWorld, database: string): Promise<string[]> {
  const cols = RAW_COLUMNS.map((n) => (TS_COLUMNS.has(n) ? `CAST(${n} AS varchar)` : n)).join(', ');
  return canonical((await w.trinoQuery(`SELECT ${cols} FROM "${database}"."sf_user"`)).rows);
}

test.serial('loads, reruns, tombstones and quarantine: the same summaries and raw rows on DuckDB, Athena (on Trino) and Trino', async (t) => {
  t.timeout(600_000);
  const w = await openAthenaOnTrino(t, 'sfpipe-athena-', ['lake', 'athena-results']);
  const { front, athena, glue, s3 } = w;
  const lake = w.bucket('lake');
  const athenaDb = w.database('sf_raw');
  const trinoDb = w.database('sf_trino');
  const log: StatementRecord[] = [];
  const athenaWh = new AthenaRawWarehouse({
    aws: w.aws,
    workGroup: 'primary',
    database: athenaDb,
    outputLocation: `s3://${w.bucket('athena-results')}/sfpipe/`,
    tableLocation: `s3://${lake}/warehouse/${athenaDb}/`,
    stagingLocation: `s3://${lake}/staging/sf_user/`,
    pollInitialMs: 5,
    pollMaxMs: 50,
    onStatement: (r) => log.push(r),
    clients: { athena, glue, s3, destroy: () => undefined },
  });
  const trinoLog: TrinoStatementRecord[] = [];
  const trinoWh = new TrinoRawWarehouse({
    connection: { server: w.trino.url, catalog: TRINO_ICEBERG_CATALOG, schema: trinoDb, user: 'sfpipe' },
    database: trinoDb,
    schemaLocation: `s3://${lake}/trino/${trinoDb}/`,
    onStatement: (r) => trinoLog.push(r),
  });
  const duck = await DuckDbRawWarehouse.open(path.join(w.dir, 'reference.duckdb'));
  const all: RawWarehouse[] = [duck, athenaWh, trinoWh];
  const icebergs: [AthenaRawWarehouse | TrinoRawWarehouse, string][] = [
    [athenaWh, athenaDb],
    [trinoWh, trinoDb],
  ];
  const sameRaw = async (step: string): Promise<void> => {
    const reference = await duckRaw(duck);
    for (const [wh, db] of icebergs) t.deepEqual(await icebergRaw(w, db), reference, `${step}: ${wh.engine} raw == DuckDB raw`);
    t.deepEqual(front.failures, [], `${step}: every statement Athena received ran on Trino`);
  };
  const onAthenaRaw = async (sql: (table: string) => string): Promise<unknown[][]> => (await w.trinoQuery(sql(`"${athenaDb}"."sf_user"`))).rows;

  try {
    // Create, then evolve.
    for (const e of all) t.deepEqual(await e.ensureRawTables(BASE), { added: [] }, e.engine);
    for (const e of all) t.deepEqual(await e.ensureRawTables(FULL), { added: ['division', 'audit_phase__c'] }, e.engine);
    const before = log.length;
    const trinoBefore = trinoLog.length;
    for (const e of all) t.deepEqual(await e.ensureRawTables(FULL), { added: [] }, e.engine);
    t.is(log.length, before, 'an up-to-date schema issues no Athena statement');
    t.deepEqual([...new Set(trinoLog.slice(trinoBefore).map((r) => r.purpose))].sort(), ['create raw schema', 'read table columns'], 'an up-to-date schema issues no Trino DDL');
    for (const [e, db] of icebergs) {
      await t.throwsAsync(e.ensureRawTables([...FULL.filter((c) => c.name !== 'division'), { name: 'division', type: 'bigint' }]), {
        instanceOf: SchemaTypeChangeError,
        message: new RegExp(`^${db}\\.sf_user\\.division has type (string|varchar) `),
      });
    }
    // What Athena's catalog (Glue) says of the table Trino made, and what Trino says of both.
    const athenaTable = (await glue.send(new GetTableCommand({ DatabaseName: athenaDb, Name: 'sf_user' }))).Table!;
    t.deepEqual(
      athenaTable.StorageDescriptor!.Columns!.map((c) => c.Name),
      [...BASE.map((c) => c.name), '_extracted_at', '_extraction_run_id', 'division', 'audit_phase__c'],
    );
    t.is(athenaTable.Parameters?.['table_type']?.toUpperCase(), 'ICEBERG');
    t.true(athenaTable.Parameters?.['metadata_location']?.startsWith(`s3://${lake}/warehouse/${athenaDb}/sf_user/metadata/`), athenaTable.Parameters?.['metadata_location']);
    for (const [e, db] of icebergs) {
      const ddl = String((await w.trinoQuery(`SHOW CREATE TABLE "${db}"."sf_user"`)).rows[0]![0]);
      t.regex(ddl, /format = 'PARQUET'/, e.engine);
      t.regex(ddl, /partitioning = ARRAY\['day\(_extracted_at\)'\]/, e.engine);
      t.regex(ddl, /systemmodstamp timestamp\(6\)/, e.engine);
    }
    t.regex(String((await w.trinoQuery(`SHOW CREATE TABLE "${athenaDb}"."sf_user"`)).rows[0]![0]), /compression_codec = 'SNAPPY'[\s\S]*location = 's3:\/\/[^']+\/sf_user'/);

    for (const e of all) t.is(await e.watermark('systemmodstamp'), null, e.engine);

    const rows1 = Array.from({ length: 40 }, (_, i) => user(i, `2024-01-0${1 + (i % 5)}T10:00:00.${String(i).padStart(3, '0')}`, `D${i % 4}`));
    const quarantine = [
      { rawJson: '{"Id":null,"Name":"O\'Brien\\n"}', reason: 'missing Id' },
      { rawJson: '{"Id":"x","SystemModstamp":"bad"}', reason: 'bad SystemModstamp: "bad" \\ 名' },
    ];
    const extracted1 = T('2024-01-06T00:00:00.000');
    for (const e of all) {
      const load = await e.beginLoad('run-1', extracted1);
      await load.append(rows1.slice(0, 25));
      await load.append([...rows1.slice(25), rows1[3]!]); // a version repeated within the load
      await load.quarantine(quarantine);
      t.deepEqual(await load.commit(), { inserted: 40, duplicates: 1, quarantined: 2, tombstones: 0, revived: 0, rewritten: 0 }, e.engine);
    }
    await sameRaw('run-1');
    const names = (await onAthenaRaw((tbl) => `SELECT DISTINCT name FROM ${tbl}`)).map((r) => r[0] as string).sort();
    t.deepEqual(names, [...HOSTILE_NAMES].sort(), 'every hostile name round-tripped exactly');
    for (const [e, db] of icebergs) {
      const q = (await w.trinoQuery(`SELECT raw_json, reason, _extraction_run_id FROM "${db}"."sf_user_quarantine"`)).rows.map((r) => JSON.stringify(r)).sort();
      t.deepEqual(q, quarantine.map((x) => JSON.stringify([x.rawJson, x.reason, 'run-1'])).sort(), `${e.engine}: quarantine rows byte for byte`);
    }

    // Rerun of the same versions: nothing new (idempotent MERGE).
    for (const e of all) {
      const load = await e.beginLoad('run-2', T('2024-01-07T00:00:00.000'));
      await load.append(rows1);
      await load.quarantine(quarantine);
      t.deepEqual(await load.commit(), { inserted: 0, duplicates: 40, quarantined: 0, tombstones: 0, revived: 0, rewritten: 0 }, e.engine);
    }
    await sameRaw('run-2');

    // Full refresh: user 7 disappeared, user 1 changed, user 40 is new.
    const refreshAt = T('2024-01-08T00:00:00.000');
    const rows3 = rows1.filter((r) => r['id'] !== user(7, '2024-01-01T00:00:00', null)['id']);
    rows3.push(user(1, '2024-01-07T12:00:00.000', 'Moved'), user(40, '2024-01-07T13:00:00.000', 'New'));
    for (const e of all) {
      const load = await e.beginLoad('run-3', refreshAt);
      await load.append(rows3);
      t.deepEqual(await load.commit({ tombstonesAt: refreshAt }), { inserted: 2, duplicates: 39, quarantined: 0, tombstones: 1, revived: 0, rewritten: 0 }, e.engine);
    }
    await sameRaw('run-3');
    for (const e of all) t.deepEqual(await e.watermark('systemmodstamp'), T('2024-01-07T13:00:00.000'), `${e.engine} watermark ignores the tombstone`);
    for (const e of all) t.deepEqual(await e.rawStats(), { rows: 43, ids: 41 }, e.engine);
    // Rerunning the refresh writes no second tombstone.
    for (const e of all) {
      const again = await e.beginLoad('run-3b', refreshAt);
      await again.append(rows3);
      t.deepEqual(await again.commit({ tombstonesAt: refreshAt }), { inserted: 0, duplicates: 41, quarantined: 0, tombstones: 0, revived: 0, rewritten: 0 }, e.engine);
    }

    // Next full refresh: user 7 is visible again, unchanged (same SystemModstamp as before its
    // tombstone): it is alive again. User 12 comes back unparseable: quarantined, not tombstoned.
    const refreshAt2 = T('2024-01-10T00:00:00.000');
    const id12 = user(12, '2024-01-01T00:00:00', null)['id'] as string;
    const rows5 = [...rows3.filter((r) => r['id'] !== id12), rows1[7]!];
    const bad12 = [{ rawJson: JSON.stringify({ Id: id12, SystemModstamp: 'not a time' }), reason: 'unparseable SystemModstamp: "not a time"' }];
    for (const e of all) {
      const load = await e.beginLoad('run-5', refreshAt2);
      await load.append(rows5);
      await load.quarantine(bad12);
      t.deepEqual(await load.commit({ tombstonesAt: refreshAt2 }), { inserted: 0, duplicates: 41, quarantined: 1, tombstones: 0, revived: 1, rewritten: 0 }, e.engine);
    }
    await sameRaw('run-5');
    const id7 = rows1[7]!['id'] as string;
    const latest7 = await onAthenaRaw((tbl) => `SELECT isdeleted, CAST(systemmodstamp AS varchar), division FROM ${tbl} WHERE id = '${id7}' ORDER BY systemmodstamp DESC LIMIT 1`);
    t.deepEqual(latest7, [[null, '2024-01-10 00:00:00.000000', rows1[7]!['division']]], 'a live version at the refresh time');
    for (const e of all) {
      const load = await e.beginLoad('run-5b', refreshAt2);
      await load.append(rows5);
      t.deepEqual((await load.commit({ tombstonesAt: refreshAt2 })).revived, 0, `${e.engine}: a rerun revives nothing twice`);
    }

    // Two changes within one SystemModstamp second: a load sees user 3's version with other values
    // under the same (id, systemmodstamp). Raw takes the later observation (and this load's stamp,
    // so dbt reprocesses the user); a rerun changes nothing.
    const sameSecond = { ...rows1[3]!, division: 'Changed within the second' };
    const at6 = T('2024-01-11T00:00:00.000');
    for (const e of all) {
      const load = await e.beginLoad('run-6', at6);
      await load.append([sameSecond]);
      t.deepEqual(await load.commit(), { inserted: 0, duplicates: 0, rewritten: 1, quarantined: 0, tombstones: 0, revived: 0 }, e.engine);
      const again6 = await e.beginLoad('run-6b', at6);
      await again6.append([sameSecond]);
      t.like(await again6.commit(), { duplicates: 1, rewritten: 0 }, `${e.engine}: a rerun rewrites nothing`);
    }
    await sameRaw('run-6');
    const stamp3 = (rows1[3]!['systemmodstamp'] as Date).toISOString().replace('T', ' ').replace('Z', '');
    const row3 = await onAthenaRaw((tbl) => `SELECT division, _extraction_run_id FROM ${tbl} WHERE id = '${rows1[3]!['id']}' AND systemmodstamp = TIMESTAMP '${stamp3}'`);
    t.deepEqual(row3, [['Changed within the second', 'run-6']]);

    // A load that did not read a field (dropped from the config, or optional and hidden) never
    // blanks it: user 3's version seen again without division is a duplicate, not a rewrite.
    const { division: _dropped, ...withoutDivision } = sameSecond;
    // Repeats of a new version within one load (a Bulk→REST fallback stages both): the last wins.
    const fresh = user(60, '2024-01-11T10:00:00.000', 'Bulk pass');
    for (const e of all) {
      const unread = await e.beginLoad('run-7', T('2024-01-12T00:00:00.000'));
      await unread.append([withoutDivision]);
      t.deepEqual(await unread.commit(), { inserted: 0, duplicates: 1, rewritten: 0, quarantined: 0, tombstones: 0, revived: 0 }, `${e.engine}: unread field`);
      const repeated = await e.beginLoad('run-8', T('2024-01-12T00:00:00.000'));
      await repeated.append([fresh]);
      await repeated.append([{ ...fresh, division: 'REST re-read' }]);
      t.deepEqual(await repeated.commit(), { inserted: 1, duplicates: 1, rewritten: 0, quarantined: 0, tombstones: 0, revived: 0 }, `${e.engine}: repeats`);
    }
    await sameRaw('run-8');
    const divisions = await onAthenaRaw((tbl) => `SELECT id, division FROM ${tbl} WHERE id IN ('${rows1[3]!['id']}', '${fresh['id']}')`);
    t.true(divisions.some(([id, d]) => id === rows1[3]!['id'] && d === 'Changed within the second'), 'division kept');
    t.true(divisions.some(([id, d]) => id === fresh['id'] && d === 'REST re-read'), 'the later observation of the new version');

    // A record seen again in the very second a full refresh missed it (user 7's tombstone, run-3):
    // the version seen replaces the tombstone under that key — it was counted a duplicate and lost.
    const backAt = { ...rows1[7]!, systemmodstamp: refreshAt, lastmodifieddate: refreshAt, division: 'Back in the same second' };
    for (const e of all) {
      const load = await e.beginLoad('run-9', T('2024-01-12T01:00:00.000'));
      await load.append([backAt]);
      t.deepEqual(await load.commit(), { inserted: 0, duplicates: 0, rewritten: 1, quarantined: 0, tombstones: 0, revived: 0 }, `${e.engine}: the tombstone is replaced`);
      const again9 = await e.beginLoad('run-9b', T('2024-01-12T01:00:00.000'));
      await again9.append([backAt]);
      t.like(await again9.commit(), { duplicates: 1, rewritten: 0 }, `${e.engine}: a rerun changes nothing`);
    }
    await sameRaw('run-9');
    const at8 = await onAthenaRaw((tbl) => `SELECT isdeleted, division, _extraction_run_id FROM ${tbl} WHERE id = '${id7}' AND systemmodstamp = TIMESTAMP '2024-01-08 00:00:00'`);
    t.deepEqual(at8, [[false, 'Back in the same second', 'run-9']]);

    // A late change of user 7 (stamped 2024-01-09, between its tombstone and its revival on the
    // 10th) becomes visible after the revival: raw's latest row (the revival's copy) is behind the
    // source, so a live copy of what was seen is added at the load's observation time.
    const late7 = { ...rows1[7]!, systemmodstamp: T('2024-01-09T12:00:00.000'), lastmodifieddate: T('2024-01-09T12:00:00.000'), division: 'Late after the revival' };
    const seenAt = T('2024-01-12T02:00:00.000');
    for (const e of all) {
      const load = await e.beginLoad('run-10', seenAt);
      await load.append([late7]);
      t.deepEqual(await load.commit({ observedAt: seenAt }), { inserted: 1, duplicates: 0, rewritten: 0, quarantined: 0, tombstones: 0, revived: 1 }, `${e.engine}: the late version and a live copy`);
      const again10 = await e.beginLoad('run-10b', seenAt);
      await again10.append([late7]);
      t.deepEqual(await again10.commit({ observedAt: T('2024-01-12T03:00:00.000') }), { inserted: 0, duplicates: 1, rewritten: 0, quarantined: 0, tombstones: 0, revived: 0 }, `${e.engine}: a rerun changes nothing`);
    }
    await sameRaw('run-10');
    const latest7b = await onAthenaRaw((tbl) => `SELECT isdeleted, CAST(systemmodstamp AS varchar), division FROM ${tbl} WHERE id = '${id7}' ORDER BY systemmodstamp DESC LIMIT 1`);
    t.deepEqual(latest7b, [[null, '2024-01-12 02:00:00.000000', 'Late after the revival']], "raw's latest row agrees with the source again");

    // Abort: the stage (S3 files and table for Athena; the Iceberg stage table for Trino) is gone, raw untouched.
    for (const [e] of icebergs) {
      const aborted = await e.beginLoad('run-4', T('2024-01-09T00:00:00.000'));
      await aborted.append([user(99, '2024-01-09T00:00:00.000', 'X')]);
      await aborted.quarantine([{ rawJson: '{}', reason: 'r' }]);
      await aborted.abort();
    }
    const staged = await s3.send(new ListObjectsV2Command({ Bucket: lake, Prefix: 'staging/' }));
    t.is(staged.KeyCount ?? 0, 0, 'staging objects removed after commits and abort');
    for (const e of all) t.deepEqual(await e.rawStats(), { rows: 48, ids: 42 }, `${e.engine}: run-5b tombstoned user 12 (neither staged nor quarantined then); run-8 added user 60; run-10 two rows of user 7`);
    await sameRaw('after the abort');
    for (const [e, db] of icebergs) {
      const tables = (await w.trinoQuery(`SELECT table_name FROM information_schema.tables WHERE table_schema = '${db}' ORDER BY table_name`)).rows.map((r) => r[0]);
      t.deepEqual(tables, ['sf_user', 'sf_user_quarantine'], `${e.engine}: stage tables dropped`);
    }
    const glueTables = ((await glue.send(new GetTablesCommand({ DatabaseName: athenaDb }))).TableList ?? []).map((x) => x.Name).sort();
    t.deepEqual(glueTables, ['sf_user', 'sf_user_quarantine'], 'no stage table left in Glue');

    // What Athena received: exactly the statements the adapter logged, verbatim, under their ids;
    // Hive DDL is the only thing the front adapted for Trino.
    t.deepEqual(front.statements, log.map((r) => r.sql), 'every statement Athena received was logged, in order');
    t.deepEqual(front.failures, [], 'every statement succeeded on Trino');
    const ids = new Set((await athena.send(new ListQueryExecutionsCommand({ WorkGroup: 'primary' }))).QueryExecutionIds ?? []);
    for (const r of log) {
      t.true(ids.has(r.queryExecutionId));
      const exec = (await athena.send(new GetQueryExecutionCommand({ QueryExecutionId: r.queryExecutionId }))).QueryExecution!;
      t.is(exec.Query, r.sql);
      t.is(exec.Status?.State, 'SUCCEEDED');
    }
    t.true(front.rewrites.every((x) => /^(CREATE|ALTER|DROP) /.test(x.sql)), 'only DDL was adapted');
    const purposes = log.map((r) => r.purpose);
    t.deepEqual(purposes.slice(0, 3), ['create raw table', 'create quarantine table', 'add raw columns']);
    t.true(purposes.includes('merge raw') && purposes.includes('merge quarantine') && purposes.includes('read watermark'));
    t.regex(log[0]!.sql, new RegExp(`^CREATE TABLE IF NOT EXISTS \`${athenaDb}\`\\.\`sf_user\` \\(`));
    t.is(log[2]!.sql, `ALTER TABLE \`${athenaDb}\`.\`sf_user\` ADD COLUMNS (\n  \`division\` string,\n  \`audit_phase__c\` string\n)`);
    for (const n of HOSTILE_NAMES) t.false(log.some((r) => r.sql.includes(n)), `record value ${JSON.stringify(n)} never appears in Athena SQL text`);
    t.log(`${log.length} Athena statements (${front.rewrites.length} DDL adapted), ${trinoLog.length} Trino statements; purposes: ${[...new Set(purposes)].join(', ')}`);
  } finally {
    await athenaWh.close();
    await trinoWh.close();
    await duck.close();
  }
});

test.serial('Glue: Iceberg metadata location and the current snapshot commit time (freshness from the table itself)', async (t) => {
  t.timeout(300_000);
  const w = await openAthenaOnTrino(t, 'sfpipe-athena-fresh-', ['lake']);
  const { glue, s3, front } = w;
  const lake = w.bucket('lake');
  const db = w.database('sf_raw_fresh');
  const wh = new AthenaRawWarehouse({
    aws: w.aws,
    workGroup: 'primary',
    database: db,
    tableLocation: `s3://${lake}/warehouse/`,
    stagingLocation: `s3://${lake}/staging/`,
    clients: { athena: w.athena, glue, s3, destroy: () => undefined },
    pollInitialMs: 5,
    pollMaxMs: 50,
  });
  t.teardown(() => wh.close());
  t.is(await wh.rawTableFreshness(), null, 'no table yet');

  // Trino made the table (Athena's CREATE TABLE): Glue points at its metadata file, whose current
  // snapshot is Trino's (the empty table's first commit).
  const glueTable = async () => (await glue.send(new GetTableCommand({ DatabaseName: db, Name: 'sf_user' }))).Table!;
  const trinoCurrent = async (): Promise<{ id: string; committedAt: Date; operation: string }> => {
    const rows = (await w.trinoQuery(`SELECT CAST(snapshot_id AS varchar), CAST(to_unixtime(committed_at) * 1000 AS bigint), operation FROM "${db}"."sf_user$snapshots" ORDER BY committed_at DESC LIMIT 1`)).rows;
    t.is(rows.length, 1, 'Trino lists the snapshot');
    return { id: rows[0]![0] as string, committedAt: new Date(Number(rows[0]![1])), operation: rows[0]![2] as string };
  };
  await wh.ensureRawTables(FULL);
  const created = await wh.rawTableFreshness();
  t.is(created?.metadataLocation, (await glueTable()).Parameters?.['metadata_location']);
  t.regex(created?.metadataLocation ?? '', new RegExp(`^s3://${lake}/warehouse/sf_user/metadata/.*\\.metadata\\.json$`));
  const first = await trinoCurrent();
  t.like(created?.snapshot, { metadataLocation: created?.metadataLocation, currentSnapshotId: first.id, currentSnapshotCommittedAt: first.committedAt, operation: first.operation });

  // A load commits: a new metadata file, naming Trino's new current snapshot.
  const load = await wh.beginLoad('run-1', T('2024-06-01T00:00:00.000'));
  await load.append([user(1, '2024-05-31T10:00:00.000', 'D1'), user(2, '2024-05-31T11:00:00.000', null)]);
  t.like(await load.commit(), { inserted: 2 });
  const fresh = await wh.rawTableFreshness();
  const merged = await trinoCurrent();
  t.not(merged.id, first.id, 'the MERGE made a snapshot');
  t.not(fresh?.metadataLocation, created?.metadataLocation, 'the commit moved metadata_location');
  t.is(fresh?.metadataLocation, (await glueTable()).Parameters?.['metadata_location']);
  t.like(fresh?.snapshot, { currentSnapshotId: merged.id, currentSnapshotCommittedAt: merged.committedAt, operation: merged.operation });
  t.true(fresh!.snapshot!.lastUpdatedAt! >= fresh!.snapshot!.currentSnapshotCommittedAt!);
  t.true(fresh!.glueUpdateTime instanceof Date);

  // Another writer's commit as a gzip metadata file (as some engines write it): Glue's
  // metadata_location moves (UpdateTable) and the snapshot is read from the gzip file.
  const { bucket, key } = parseS3Url(fresh!.metadataLocation!);
  // The text as Trino wrote it (snapshot ids are 64-bit: no JSON round trip), one commit later.
  const text = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
  const laterMs = Number(/"last-updated-ms"\s*:\s*(\d+)/.exec(text)![1]) + 1000;
  const gzKey = key.replace(/[^/]+$/, '99999-outside-writer.gz.metadata.json');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: gzKey, Body: gzipSync(text.replace(/("last-updated-ms"\s*:\s*)\d+/, `$1${laterMs}`)) }));
  const tbl = await glueTable();
  await glue.send(
    new UpdateTableCommand({
      DatabaseName: db,
      TableInput: { Name: 'sf_user', TableType: tbl.TableType, StorageDescriptor: tbl.StorageDescriptor, Parameters: { ...tbl.Parameters, metadata_location: `s3://${bucket}/${gzKey}`, previous_metadata_location: fresh!.metadataLocation! } },
    }),
  );
  const outside = await wh.rawTableFreshness();
  t.deepEqual(outside?.snapshot, { ...fresh!.snapshot!, metadataLocation: `s3://${bucket}/${gzKey}`, lastUpdatedAt: new Date(laterMs) });
  t.deepEqual(front.failures, []);
});

test('a killed run\'s stage tables and staged files are swept once stale; live, young and foreign ones stay', async (t) => {
  // Glue and S3 only (no Athena statement): straight to the shared moto, under names of its own.
  const { motoEndpoint } = await sharedTrino();
  const aws = { region: MOTO_REGION, endpoint: motoEndpoint, credentials: MOTO_CREDENTIALS };
  const glue = new GlueClient(aws);
  const s3 = new S3Client({ ...aws, forcePathStyle: true });
  t.teardown(() => {
    glue.destroy();
    s3.destroy();
  });
  const suffix = randomBytes(4).toString('hex');
  const bucket = `sweep-lake-${suffix}`;
  const db = `sf_sweep_${suffix}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: db } }));
  const names = ['sf_user_stage_0123456789ab', 'sf_user_quarantine_stage_ba9876543210', 'sf_user_stage_not_ours', 'sf_user', 'other_stage_0123456789ab'];
  for (const Name of names) {
    // sf_user stands for raw (an Iceberg table in Glue): a load can begin on it.
    const raw = Name === 'sf_user' ? { Parameters: { table_type: 'ICEBERG' }, Columns: [{ Name: 'id', Type: 'string' }, { Name: 'systemmodstamp', Type: 'timestamp' }] } : { Columns: [] };
    await glue.send(
      new CreateTableCommand({
        DatabaseName: db,
        TableInput: { Name, ...(raw.Parameters ? { Parameters: raw.Parameters } : {}), StorageDescriptor: { Columns: raw.Columns, Location: `s3://${bucket}/staging/run-${Name}/rows/` } },
      }),
    );
  }
  const keys = [
    'staging/run-1-0123456789ab/rows/part-00000.json',
    'staging/run-1-0123456789ab/quarantine/part-00000.json',
    'staging/README.txt',
    'staging/someone-else/data.parquet',
    'warehouse/sf_user/data/keep.parquet',
  ];
  for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: '{}' }));
  const open = (staleStageAfterMs?: number, notices: string[] = []) =>
    new AthenaRawWarehouse({
      aws,
      workGroup: 'primary',
      database: db,
      tableLocation: `s3://${bucket}/warehouse/`,
      stagingLocation: `s3://${bucket}/staging/`,
      ...(staleStageAfterMs !== undefined ? { staleStageAfterMs } : {}),
      onNotice: (m) => notices.push(m),
    });
  const tablesLeft = async () => ((await glue.send(new GetTablesCommand({ DatabaseName: db }))).TableList ?? []).map((x) => x.Name).sort();
  const filesLeft = async () => ((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key).sort();

  // Default threshold (6 h): everything was made just now, so a concurrent load's stage is safe.
  const young = open();
  t.deepEqual(await young.sweepStaleStages(), { tables: [], files: 0 });
  await young.close();
  t.deepEqual(await tablesLeft(), [...names].sort());

  // Once stale: only the pipeline's stage tables (name pattern) and only files under the staging location go.
  const stale = open(0);
  t.teardown(() => stale.close());
  const swept = await stale.sweepStaleStages(new Date(Date.now() + 1000));
  t.deepEqual(swept.tables.sort(), ['sf_user_quarantine_stage_ba9876543210', 'sf_user_stage_0123456789ab']);
  t.is(swept.files, 2);
  t.deepEqual(await tablesLeft(), ['other_stage_0123456789ab', 'sf_user', 'sf_user_stage_not_ours']);
  t.deepEqual(await filesLeft(), ['staging/README.txt', 'staging/someone-else/data.parquet', 'warehouse/sf_user/data/keep.parquet'], 'only files the loader writes');

  // A warehouse's first load sweeps before it stages, and says what it removed in the run log.
  await glue.send(new CreateTableCommand({ DatabaseName: db, TableInput: { Name: 'sf_user_stage_0123456789ab', StorageDescriptor: { Location: `s3://${bucket}/staging/run-1-0123456789ab/rows/` } } }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'staging/run-1-0123456789ab/rows/part-00000.json', Body: '{}' }));
  const notices: string[] = [];
  const wh = open(0, notices);
  t.teardown(() => wh.close());
  const load = await wh.beginLoad('run-2', new Date());
  await load.abort();
  t.deepEqual(notices, [`removed what killed runs left behind: 1 stage table(s) in ${db} (sf_user_stage_0123456789ab) and 1 staged file(s)`]);
  t.deepEqual(await tablesLeft(), ['other_stage_0123456789ab', 'sf_user', 'sf_user_stage_not_ours']);
  t.deepEqual(await filesLeft(), ['staging/README.txt', 'staging/someone-else/data.parquet', 'warehouse/sf_user/data/keep.parquet']);
  t.deepEqual(await wh.sweepStaleStages(new Date(Date.now() + 1000)), { tables: [], files: 0 }, 'nothing left to sweep');
});
