/**
 * AthenaRawWarehouse end to end against moto (Athena + Glue + S3 over HTTP/SigV4), with the
 * statements' semantics executed on DuckDB by AthenaOracle, and compared with DuckDbRawWarehouse
 * doing the same loads: same summaries, same raw rows.
 */
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import test from 'ava';
import { AthenaClient, GetQueryExecutionCommand, ListQueryExecutionsCommand } from '@aws-sdk/client-athena';
import { CreateDatabaseCommand, CreateTableCommand, GetTablesCommand, GlueClient, GetTableCommand, UpdateTableCommand } from '@aws-sdk/client-glue';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';

import { AthenaRawWarehouse } from '../../assets/warehouse/athena-raw-warehouse.js';
import type { StatementRecord } from '../../assets/warehouse/athena-query.js';
import { DuckDbRawWarehouse } from '../../assets/warehouse/duckdb-raw-warehouse.js';
import { SchemaTypeChangeError, type ColumnSpec, type RawRow, type RawWarehouse } from '../../assets/warehouse/raw-warehouse.js';
import { tempDir } from '../helpers/temp.js';
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto, type MotoServer } from '../services/moto/start.js';
import { AthenaOracle } from './athena-oracle.js';

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

let moto: MotoServer;
test.before(async () => {
  moto = await startMoto();
});
test.after.always(async () => {
  await moto?.stop();
});

async function rawRows(conn: { runAndReadAll(sql: string): Promise<{ getRowsJS(): unknown[][] }> }): Promise<string[]> {
  const reader = await conn.runAndReadAll(
    `SELECT id, name, isactive, isdeleted, lastmodifieddate, systemmodstamp, division, audit_phase__c, _extracted_at, _extraction_run_id
     FROM sf_raw.sf_user ORDER BY id, systemmodstamp`,
  );
  return reader.getRowsJS().map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
}

test.serial('loads, reruns, tombstones and quarantine: Athena statements on moto, semantics on DuckDB, parity with DuckDbRawWarehouse', async (t) => {
  const dir = tempDir('sfpipe-athena-');
  const aws = { region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS };
  const athena = new AthenaClient(aws);
  const glue = new GlueClient(aws);
  const s3 = new S3Client({ ...aws, forcePathStyle: true });
  for (const Bucket of ['lake', 'athena-results']) await s3.send(new CreateBucketCommand({ Bucket }));

  const instance = await DuckDBInstance.create(path.join(dir, 'athena-mirror.duckdb'));
  const conn = await instance.connect();
  const oracle = new AthenaOracle(conn, moto.endpoint, glue, s3, dir);
  const log: StatementRecord[] = [];
  const wh = new AthenaRawWarehouse({
    aws,
    workGroup: 'primary',
    outputLocation: 's3://athena-results/sfpipe/',
    tableLocation: 's3://lake/warehouse/sf_raw/',
    stagingLocation: 's3://lake/staging/sf_user/',
    pollInitialMs: 2,
    pollMaxMs: 10,
    onStatement: (r) => log.push(r),
    clients: { athena: oracle.wrap(athena), glue, s3, destroy: () => undefined },
  });
  const duck = await DuckDbRawWarehouse.open(path.join(dir, 'reference.duckdb'));
  const both: RawWarehouse[] = [wh, duck];

  try {
    // Create, then evolve.
    for (const w of both) t.deepEqual(await w.ensureRawTables(BASE), { added: [] });
    for (const w of both) t.deepEqual(await w.ensureRawTables(FULL), { added: ['division', 'audit_phase__c'] });
    const before = log.length;
    for (const w of both) t.deepEqual(await w.ensureRawTables(FULL), { added: [] });
    t.is(log.length, before, 'an up-to-date schema issues no statement');
    await t.throwsAsync(wh.ensureRawTables([...FULL.filter((c) => c.name !== 'division'), { name: 'division', type: 'bigint' }]), {
      instanceOf: SchemaTypeChangeError,
      message: /sf_raw\.sf_user\.division has type string/,
    });
    const glueCols = (await glue.send(new GetTableCommand({ DatabaseName: 'sf_raw', Name: 'sf_user' }))).Table!.StorageDescriptor!.Columns!.map((c) => c.Name);
    t.deepEqual(glueCols, [...BASE.map((c) => c.name), '_extracted_at', '_extraction_run_id', 'division', 'audit_phase__c']);

    for (const w of both) t.is(await w.watermark('systemmodstamp'), null);

    const rows1 = Array.from({ length: 40 }, (_, i) => user(i, `2024-01-0${1 + (i % 5)}T10:00:00.${String(i).padStart(3, '0')}`, `D${i % 4}`));
    const quarantine = [
      { rawJson: '{"Id":null,"Name":"O\'Brien\\n"}', reason: 'missing Id' },
      { rawJson: '{"Id":"x","SystemModstamp":"bad"}', reason: 'bad SystemModstamp: "bad" \\ 名' },
    ];
    const extracted1 = T('2024-01-06T00:00:00.000');
    const summaries1 = [];
    for (const w of both) {
      const load = await w.beginLoad('run-1', extracted1);
      await load.append(rows1.slice(0, 25));
      await load.append([...rows1.slice(25), rows1[3]!]); // a version repeated within the load
      await load.quarantine(quarantine);
      summaries1.push(await load.commit());
    }
    t.deepEqual(summaries1[0], { inserted: 40, duplicates: 1, quarantined: 2, tombstones: 0, revived: 0, rewritten: 0 });
    t.deepEqual(summaries1[0], summaries1[1]);
    t.deepEqual(await rawRows(conn), await rawRowsOf(duck), 'Athena MERGE on DuckDB == DuckDbRawWarehouse');
    const names = (await conn.runAndReadAll('SELECT DISTINCT name FROM sf_raw.sf_user ORDER BY name')).getRowsJS().map((r) => r[0]);
    t.deepEqual(names, [...HOSTILE_NAMES].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).filter((n) => names.includes(n)));
    t.is(names.length, HOSTILE_NAMES.length, 'every hostile name round-tripped exactly');

    // Rerun of the same versions: nothing new (idempotent MERGE).
    for (const w of both) {
      const load = await w.beginLoad('run-2', T('2024-01-07T00:00:00.000'));
      await load.append(rows1);
      await load.quarantine(quarantine);
      t.deepEqual(await load.commit(), { inserted: 0, duplicates: 40, quarantined: 0, tombstones: 0, revived: 0, rewritten: 0 });
    }
    t.deepEqual(await rawRows(conn), await rawRowsOf(duck));

    // Full refresh: user 7 disappeared, user 1 changed, user 40 is new.
    const refreshAt = T('2024-01-08T00:00:00.000');
    const rows3 = rows1.filter((r) => r['id'] !== user(7, '2024-01-01T00:00:00', null)['id']);
    rows3.push(user(1, '2024-01-07T12:00:00.000', 'Moved'), user(40, '2024-01-07T13:00:00.000', 'New'));
    for (const w of both) {
      const load = await w.beginLoad('run-3', refreshAt);
      await load.append(rows3);
      t.deepEqual(await load.commit({ tombstonesAt: refreshAt }), { inserted: 2, duplicates: 39, quarantined: 0, tombstones: 1, revived: 0, rewritten: 0 });
    }
    t.deepEqual(await rawRows(conn), await rawRowsOf(duck));
    for (const w of both) t.deepEqual(await w.watermark('systemmodstamp'), T('2024-01-07T13:00:00.000'), `${w.engine} watermark ignores the tombstone`);
    for (const w of both) t.deepEqual(await w.rawStats(), { rows: 43, ids: 41 });
    // Rerunning the refresh writes no second tombstone.
    const again = await wh.beginLoad('run-3b', refreshAt);
    await again.append(rows3);
    t.deepEqual(await again.commit({ tombstonesAt: refreshAt }), { inserted: 0, duplicates: 41, quarantined: 0, tombstones: 0, revived: 0, rewritten: 0 });

    // Next full refresh: user 7 is visible again, unchanged (same SystemModstamp as before its
    // tombstone): it is alive again. User 12 comes back unparseable: quarantined, not tombstoned.
    const refreshAt2 = T('2024-01-10T00:00:00.000');
    const id12 = user(12, '2024-01-01T00:00:00', null)['id'] as string;
    const rows5 = [...rows3.filter((r) => r['id'] !== id12), rows1[7]!];
    const bad12 = [{ rawJson: JSON.stringify({ Id: id12, SystemModstamp: 'not a time' }), reason: 'unparseable SystemModstamp: "not a time"' }];
    for (const w of both) {
      const load = await w.beginLoad('run-5', refreshAt2);
      await load.append(rows5);
      await load.quarantine(bad12);
      t.deepEqual(await load.commit({ tombstonesAt: refreshAt2 }), { inserted: 0, duplicates: 41, quarantined: 1, tombstones: 0, revived: 1, rewritten: 0 }, w.engine);
    }
    t.deepEqual(await rawRows(conn), await rawRowsOf(duck));
    const latest7 = (
      await conn.runAndReadAll(`SELECT isdeleted, CAST(systemmodstamp AS varchar), division FROM sf_raw.sf_user WHERE id = '${rows1[7]!['id']}' ORDER BY systemmodstamp DESC LIMIT 1`)
    ).getRowsJS()[0];
    t.deepEqual(latest7, [null, '2024-01-10 00:00:00', rows1[7]!['division']], 'a live version at the refresh time');
    for (const w of both) {
      const load = await w.beginLoad('run-5b', refreshAt2);
      await load.append(rows5);
      t.deepEqual((await load.commit({ tombstonesAt: refreshAt2 })).revived, 0, `${w.engine}: a rerun revives nothing twice`);
    }

    // Two changes within one SystemModstamp second: a load sees user 3's version with other values
    // under the same (id, systemmodstamp). Raw takes the later observation (and this load's stamp,
    // so dbt reprocesses the user); a rerun changes nothing.
    const sameSecond = { ...rows1[3]!, division: 'Changed within the second' };
    const at6 = T('2024-01-11T00:00:00.000');
    for (const w of both) {
      const load = await w.beginLoad('run-6', at6);
      await load.append([sameSecond]);
      t.deepEqual(await load.commit(), { inserted: 0, duplicates: 0, rewritten: 1, quarantined: 0, tombstones: 0, revived: 0 }, w.engine);
      const again6 = await w.beginLoad('run-6b', at6);
      await again6.append([sameSecond]);
      t.like(await again6.commit(), { duplicates: 1, rewritten: 0 }, `${w.engine}: a rerun rewrites nothing`);
    }
    t.deepEqual(await rawRows(conn), await rawRowsOf(duck));
    const row3 = (
      await conn.runAndReadAll(`SELECT division, _extraction_run_id FROM sf_raw.sf_user WHERE id = '${rows1[3]!['id']}' AND systemmodstamp = '${(rows1[3]!['systemmodstamp'] as Date).toISOString().replace('T', ' ').replace('Z', '')}'`)
    ).getRowsJS();
    t.deepEqual(row3, [['Changed within the second', 'run-6']]);

    // A load that did not read a field (dropped from the config, or optional and hidden) never
    // blanks it: user 3's version seen again without division is a duplicate, not a rewrite.
    const { division: _dropped, ...withoutDivision } = sameSecond;
    // Repeats of a new version within one load (a Bulk→REST fallback stages both): the last wins.
    const fresh = user(60, '2024-01-11T10:00:00.000', 'Bulk pass');
    for (const w of both) {
      const unread = await w.beginLoad('run-7', T('2024-01-12T00:00:00.000'));
      await unread.append([withoutDivision]);
      t.deepEqual(await unread.commit(), { inserted: 0, duplicates: 1, rewritten: 0, quarantined: 0, tombstones: 0, revived: 0 }, `${w.engine}: unread field`);
      const repeated = await w.beginLoad('run-8', T('2024-01-12T00:00:00.000'));
      await repeated.append([fresh]);
      await repeated.append([{ ...fresh, division: 'REST re-read' }]);
      t.deepEqual(await repeated.commit(), { inserted: 1, duplicates: 1, rewritten: 0, quarantined: 0, tombstones: 0, revived: 0 }, `${w.engine}: repeats`);
    }
    t.deepEqual(await rawRows(conn), await rawRowsOf(duck));
    const divisions = (
      await conn.runAndReadAll(`SELECT id, division FROM sf_raw.sf_user WHERE id IN ('${rows1[3]!['id']}', '${fresh['id']}') AND systemmodstamp >= TIMESTAMP '2024-01-01' ORDER BY id, systemmodstamp`)
    ).getRowsJS();
    t.true(divisions.some(([id, d]) => id === rows1[3]!['id'] && d === 'Changed within the second'), 'division kept');
    t.true(divisions.some(([id, d]) => id === fresh['id'] && d === 'REST re-read'), 'the later observation of the new version');

    // A record seen again in the very second a full refresh missed it (user 7's tombstone, run-3):
    // the version seen replaces the tombstone under that key — it was counted a duplicate and lost.
    const backAt = { ...rows1[7]!, systemmodstamp: refreshAt, lastmodifieddate: refreshAt, division: 'Back in the same second' };
    for (const w of both) {
      const load = await w.beginLoad('run-9', T('2024-01-12T01:00:00.000'));
      await load.append([backAt]);
      t.deepEqual(await load.commit(), { inserted: 0, duplicates: 0, rewritten: 1, quarantined: 0, tombstones: 0, revived: 0 }, `${w.engine}: the tombstone is replaced`);
      const again9 = await w.beginLoad('run-9b', T('2024-01-12T01:00:00.000'));
      await again9.append([backAt]);
      t.like(await again9.commit(), { duplicates: 1, rewritten: 0 }, `${w.engine}: a rerun changes nothing`);
    }
    t.deepEqual(await rawRows(conn), await rawRowsOf(duck));
    const at8 = (
      await conn.runAndReadAll(`SELECT isdeleted, division, _extraction_run_id FROM sf_raw.sf_user WHERE id = '${rows1[7]!['id']}' AND systemmodstamp = TIMESTAMP '2024-01-08 00:00:00'`)
    ).getRowsJS();
    t.deepEqual(at8, [[false, 'Back in the same second', 'run-9']]);

    // A late change of user 7 (stamped 2024-01-09, between its tombstone and its revival on the
    // 10th) becomes visible after the revival: raw's latest row (the revival's copy) is behind the
    // source, so a live copy of what was seen is added at the load's observation time — before,
    // the revival's old values stayed current for good.
    const late7 = { ...rows1[7]!, systemmodstamp: T('2024-01-09T12:00:00.000'), lastmodifieddate: T('2024-01-09T12:00:00.000'), division: 'Late after the revival' };
    const seenAt = T('2024-01-12T02:00:00.000');
    for (const w of both) {
      const load = await w.beginLoad('run-10', seenAt);
      await load.append([late7]);
      t.deepEqual(await load.commit({ observedAt: seenAt }), { inserted: 1, duplicates: 0, rewritten: 0, quarantined: 0, tombstones: 0, revived: 1 }, `${w.engine}: the late version and a live copy`);
      const again10 = await w.beginLoad('run-10b', seenAt);
      await again10.append([late7]);
      t.deepEqual(await again10.commit({ observedAt: T('2024-01-12T03:00:00.000') }), { inserted: 0, duplicates: 1, rewritten: 0, quarantined: 0, tombstones: 0, revived: 0 }, `${w.engine}: a rerun changes nothing`);
    }
    t.deepEqual(await rawRows(conn), await rawRowsOf(duck));
    const latest7b = (
      await conn.runAndReadAll(`SELECT isdeleted, CAST(systemmodstamp AS varchar), division FROM sf_raw.sf_user WHERE id = '${rows1[7]!['id']}' ORDER BY systemmodstamp DESC LIMIT 1`)
    ).getRowsJS()[0];
    t.deepEqual(latest7b, [null, '2024-01-12 02:00:00', 'Late after the revival'], "raw's latest row agrees with the source again");

    // Abort: staged objects are deleted, raw untouched.
    const aborted = await wh.beginLoad('run-4', T('2024-01-09T00:00:00.000'));
    await aborted.append([user(99, '2024-01-09T00:00:00.000', 'X')]);
    await aborted.quarantine([{ rawJson: '{}', reason: 'r' }]);
    await aborted.abort();
    const staged = await s3.send(new ListObjectsV2Command({ Bucket: 'lake', Prefix: 'staging/' }));
    t.is(staged.KeyCount ?? 0, 0, 'staging objects removed after commits and abort');
    t.deepEqual(await wh.rawStats(), { rows: 48, ids: 42 }, 'run-5b tombstoned user 12 (neither staged nor quarantined then); run-8 added user 60; run-10 two rows of user 7');
    const leftovers = (await conn.runAndReadAll(`SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%stage%'`)).getRowsJS();
    t.deepEqual(leftovers, [], 'stage tables dropped');

    // The statements reached moto verbatim, with their query execution ids.
    const ids = new Set((await athena.send(new ListQueryExecutionsCommand({ WorkGroup: 'primary' }))).QueryExecutionIds ?? []);
    for (const r of log) {
      t.true(ids.has(r.queryExecutionId));
      const exec = (await athena.send(new GetQueryExecutionCommand({ QueryExecutionId: r.queryExecutionId }))).QueryExecution!;
      t.is(exec.Query, r.sql);
    }
    const purposes = log.map((r) => r.purpose);
    t.deepEqual(purposes.slice(0, 3), ['create raw table', 'create quarantine table', 'add raw columns']);
    t.true(purposes.includes('merge raw') && purposes.includes('merge quarantine') && purposes.includes('read watermark'));
    const create = log[0]!.sql;
    t.regex(create, /^CREATE TABLE IF NOT EXISTS `sf_raw`\.`sf_user` \(/);
    t.regex(create, /PARTITIONED BY \(day\(`_extracted_at`\)\)\nLOCATION 's3:\/\/lake\/warehouse\/sf_raw\/sf_user\/'\nTBLPROPERTIES \('table_type'='ICEBERG', 'format'='parquet', 'write_compression'='snappy'\)$/);
    t.is(log[2]!.sql, 'ALTER TABLE `sf_raw`.`sf_user` ADD COLUMNS (\n  `division` string,\n  `audit_phase__c` string\n)');
    const merge = log.find((r) => r.purpose === 'merge raw')!.sql;
    t.regex(merge, /^MERGE INTO "sf_raw"\."sf_user" AS t\nUSING \(/);
    t.regex(merge, /ON \(t\."id" = s\."id" AND t\."systemmodstamp" = s\."systemmodstamp"\)\nWHEN NOT MATCHED THEN INSERT /);
    for (const n of HOSTILE_NAMES) t.false(log.some((r) => r.sql.includes(n)), `record value ${JSON.stringify(n)} never appears in SQL text`);
    t.log(`${log.length} Athena statements; purposes: ${[...new Set(purposes)].join(', ')}`);
  } finally {
    await wh.close();
    await duck.close();
    conn.closeSync();
    instance.closeSync();
    athena.destroy();
    glue.destroy();
    s3.destroy();
  }

  async function rawRowsOf(w: DuckDbRawWarehouse): Promise<string[]> {
    // DuckDB allows one instance per file in a process: read through the warehouse's own instance.
    const inst = (w as unknown as { instance: DuckDBInstance }).instance;
    const c = await inst.connect();
    try {
      return await rawRows(c);
    } finally {
      c.closeSync();
    }
  }
});

test.serial('Glue: Iceberg metadata location and the current snapshot commit time (freshness from the table itself)', async (t) => {
  const aws = { region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS };
  const glue = new GlueClient(aws);
  const s3 = new S3Client({ ...aws, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: 'lake2' }));
  const athena = new AthenaClient(aws);
  const wh = new AthenaRawWarehouse({
    aws,
    workGroup: 'primary',
    database: 'sf_raw_fresh',
    tableLocation: 's3://lake2/warehouse/',
    stagingLocation: 's3://lake2/staging/',
    clients: { athena, glue, s3, destroy: () => undefined },
    pollInitialMs: 2,
  });
  try {
    t.is(await wh.rawTableFreshness(), null, 'no table yet');
    // moto does not run the CREATE TABLE: play Athena's part in the catalog (Glue CreateTable via the oracle-free path).
    await wh.ensureRawTables(FULL);
    const { CreateTableCommand } = await import('@aws-sdk/client-glue');
    await glue.send(
      new CreateTableCommand({
        DatabaseName: 'sf_raw_fresh',
        TableInput: {
          Name: 'sf_user',
          Parameters: { table_type: 'ICEBERG' },
          StorageDescriptor: { Columns: FULL.map((c) => ({ Name: c.name, Type: c.type })), Location: 's3://lake2/warehouse/sf_user/' },
        },
      }),
    );
    t.deepEqual(await wh.rawTableFreshness(), { glueUpdateTime: (await glue.send(new GetTableCommand({ DatabaseName: 'sf_raw_fresh', Name: 'sf_user' }))).Table!.UpdateTime, metadataLocation: undefined, snapshot: null });
    // An outside writer commits: new metadata file (gzip), Glue's metadata_location moves (UpdateTable).
    const meta = `{"format-version":2,"last-updated-ms":1717243200500,"current-snapshot-id":3051729675574597004,"snapshots":[{"snapshot-id":1,"timestamp-ms":1717000000000,"summary":{"operation":"append"}},{"snapshot-id":3051729675574597004,"parent-snapshot-id":1,"timestamp-ms":1717243200000,"summary":{"operation":"overwrite"}}]}`;
    const key = 'warehouse/sf_user/metadata/00002-abc.gz.metadata.json';
    await s3.send(new PutObjectCommand({ Bucket: 'lake2', Key: key, Body: gzipSync(meta) }));
    const tbl = (await glue.send(new GetTableCommand({ DatabaseName: 'sf_raw_fresh', Name: 'sf_user' }))).Table!;
    await glue.send(
      new UpdateTableCommand({
        DatabaseName: 'sf_raw_fresh',
        TableInput: { Name: 'sf_user', StorageDescriptor: tbl.StorageDescriptor, Parameters: { ...tbl.Parameters, metadata_location: `s3://lake2/${key}`, previous_metadata_location: 's3://lake2/warehouse/sf_user/metadata/00001-x.metadata.json' } },
      }),
    );
    const fresh = await wh.rawTableFreshness();
    t.is(fresh?.metadataLocation, `s3://lake2/${key}`);
    t.deepEqual(fresh?.snapshot, {
      metadataLocation: `s3://lake2/${key}`,
      currentSnapshotCommittedAt: new Date(1717243200000),
      currentSnapshotId: '3051729675574597004',
      operation: 'overwrite',
      lastUpdatedAt: new Date(1717243200500),
    });
    t.true(fresh!.glueUpdateTime instanceof Date);
  } finally {
    await wh.close();
    athena.destroy();
    glue.destroy();
    s3.destroy();
  }
});

test('a killed run\'s stage tables and staged files are swept once stale; live, young and foreign ones stay', async (t) => {
  const aws = { region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS };
  const glue = new GlueClient(aws);
  const s3 = new S3Client({ ...aws, forcePathStyle: true });
  t.teardown(() => {
    glue.destroy();
    s3.destroy();
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'sweep-lake' }));
  await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: 'sf_sweep' } }));
  const names = ['sf_user_stage_0123456789ab', 'sf_user_quarantine_stage_ba9876543210', 'sf_user_stage_not_ours', 'sf_user', 'other_stage_0123456789ab'];
  for (const Name of names) {
    await glue.send(new CreateTableCommand({ DatabaseName: 'sf_sweep', TableInput: { Name, StorageDescriptor: { Location: `s3://sweep-lake/staging/run-${Name}/rows/` } } }));
  }
  const keys = [
    'staging/run-1-0123456789ab/rows/part-00000.json',
    'staging/run-1-0123456789ab/quarantine/part-00000.json',
    'staging/README.txt',
    'staging/someone-else/data.parquet',
    'warehouse/sf_user/data/keep.parquet',
  ];
  for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: 'sweep-lake', Key, Body: '{}' }));
  const open = (staleStageAfterMs?: number, notices: string[] = []) =>
    new AthenaRawWarehouse({
      aws,
      workGroup: 'primary',
      database: 'sf_sweep',
      tableLocation: 's3://sweep-lake/warehouse/',
      stagingLocation: 's3://sweep-lake/staging/',
      ...(staleStageAfterMs !== undefined ? { staleStageAfterMs } : {}),
      onNotice: (m) => notices.push(m),
    });
  const tablesLeft = async () => ((await glue.send(new GetTablesCommand({ DatabaseName: 'sf_sweep' }))).TableList ?? []).map((x) => x.Name).sort();
  const filesLeft = async () => ((await s3.send(new ListObjectsV2Command({ Bucket: 'sweep-lake' }))).Contents ?? []).map((o) => o.Key).sort();

  // Default threshold (6 h): everything was made just now, so a concurrent load's stage is safe.
  const young = open();
  t.deepEqual(await young.sweepStaleStages(), { tables: [], files: 0 });
  await young.close();
  t.deepEqual(await tablesLeft(), [...names].sort());

  // Once stale: only the pipeline's stage tables (name pattern) and only files under the staging location go.
  const notices: string[] = [];
  const wh = open(0, notices);
  t.teardown(() => wh.close());
  const swept = await wh.sweepStaleStages(new Date(Date.now() + 1000));
  t.deepEqual(swept.tables.sort(), ['sf_user_quarantine_stage_ba9876543210', 'sf_user_stage_0123456789ab']);
  t.is(swept.files, 2);
  t.deepEqual(await tablesLeft(), ['other_stage_0123456789ab', 'sf_user', 'sf_user_stage_not_ours']);
  t.deepEqual(await filesLeft(), ['staging/README.txt', 'staging/someone-else/data.parquet', 'warehouse/sf_user/data/keep.parquet'], 'only files the loader writes');
  t.is(notices.length, 1);
  t.regex(notices[0]!, /^removed what killed runs left behind: 2 stage table\(s\) in sf_sweep \(.*sf_user_stage_0123456789ab.*\) and 2 staged file\(s\)$/);
  t.deepEqual(await wh.sweepStaleStages(new Date(Date.now() + 1000)), { tables: [], files: 0 }, 'nothing left to sweep');
});
