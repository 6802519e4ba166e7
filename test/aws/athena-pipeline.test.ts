/**
 * Must show: a full pipeline run with `warehouse: athena` against the AWS emulator, through the real
 * CLI in a child process (`sfpipe materialize --select sf_raw/sf_user --json`), the Salesforce side
 * being the simulator, and the event log in S3 (`event_log: { store: s3 }`).
 *
 * moto answers the Athena, Glue and S3 calls over HTTP/SigV4 but executes no SQL: a CREATE TABLE
 * never reaches its Glue catalog (so the adapter's next step, which reads the table's columns from
 * Glue, fails: "sf_raw.sf_user does not exist: call ensureRawTables first") and every count comes
 * back empty (so the MERGE would be skipped as "nothing new"). The warehouse endpoint therefore
 * points at a loopback proxy (fixtures/athena-engine-proxy.ts) that forwards every request to moto
 * unchanged and, for each StartQueryExecution, first plays Athena's engine with AthenaOracle (DDL →
 * DuckDB + Glue CreateTable, SELECT/MERGE run verbatim on DuckDB, SELECT rows queued as moto's
 * result for that execution). The event log talks to moto directly.
 */
import fs from 'node:fs';
import path from 'node:path';

import test from 'ava';
import { GetQueryExecutionCommand, ListQueryExecutionsCommand } from '@aws-sdk/client-athena';
import { GetDatabaseCommand, GetTableCommand } from '@aws-sdk/client-glue';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';

import { S3EventLog } from '../../assets/aws/s3-event-log.js';
import { SimOrg } from '../../sim/index.js';
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto, type MotoServer } from '../services/moto/start.js';
import { openAthenaEmulation } from './fixtures/athena-emulation.js';
import { loggedQueries, logLines, sfpipeAthena as sfpipe, writeAthenaConfig } from './fixtures/athena-cli.js';

let moto: MotoServer;
test.before(async () => {
  moto = await startMoto();
});
test.after.always(async () => {
  await moto?.stop();
});

test('sfpipe materialize with warehouse: athena and event_log: s3 against moto: create, stage, merge, read; the run is in S3', async (t) => {
  const { dir, athena, glue, s3, conn, oracle, startProxy } = await openAthenaEmulation(t, moto.endpoint, 'sfpipe-athena-pipeline-', ['lake', 'athena-results', 'sfpipe-state']);
  // What the stage table was laid over, read from moto's S3 when the CREATE EXTERNAL TABLE arrived.
  const staged: { key: string; body: string }[] = [];
  const proxy = await startProxy(async (sql) => {
    const location = /^CREATE EXTERNAL TABLE [\s\S]*LOCATION 's3:\/\/([^/']+)\/([^']*)'/.exec(sql);
    if (location) {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: location[1]!, Prefix: location[2]! }));
      for (const o of listed.Contents ?? []) {
        const body = await (await s3.send(new GetObjectCommand({ Bucket: location[1]!, Key: o.Key! }))).Body!.transformToString('utf8');
        staged.push({ key: `s3://${location[1]}/${o.Key}`, body });
      }
    }
    await oracle.execute(sql);
  });

  const configFile = writeAthenaConfig(
    path.join(dir, 'athena.yaml'),
    proxy.endpoint,
    `event_log:\n  store: s3\n  s3_location: s3://sfpipe-state/event-log/\n  endpoint: ${moto.endpoint}\n`,
  );
  const env = { SFPIPE_HOME: path.join(dir, 'home-1'), SFPIPE_CONFIG: configFile };

  const run = await sfpipe(['materialize', '--select', 'sf_raw/sf_user', '--json'], env);
  t.is(run.code, 0, run.stderr.slice(-4000));
  t.deepEqual(proxy.errors, [], 'the engine applied every statement');
  const result = JSON.parse(run.stdout) as { runId: string; status: string; steps: { key: string; status: string; metadata: Record<string, unknown>; checks: unknown[] }[] };
  t.is(result.status, 'SUCCESS');
  t.like(result.steps[0], {
    key: 'sf_raw/sf_user',
    status: 'SUCCESS',
    metadata: { mode: 'full', path: 'rest', records_fetched: 5000, versions_inserted: 5000, duplicates_skipped: 0, raw_users: 5000, raw_rows: 5000, watermark_before: null },
  });

  // The run's log: which engine, and every Athena statement with its query execution id.
  const lines = logLines(run.stderr);
  t.true(lines.some((l) => /^raw warehouse: athena at athena workgroup primary, sf_raw\.sf_user \(region us-east-1, endpoint /.test(l.message)), 'engine logged');
  const logged = loggedQueries(run.stderr);
  t.is(logged.length, proxy.statements.length, 'one log line per statement');

  // Those ids are moto's, and moto holds the same statement text, in the same order.
  const ids = new Set((await athena.send(new ListQueryExecutionsCommand({ WorkGroup: 'primary' }))).QueryExecutionIds ?? []);
  const sqls: string[] = [];
  for (const [i, q] of logged.entries()) {
    t.true(ids.has(q.id), `${q.id} is in moto's ListQueryExecutions`);
    const exec = (await athena.send(new GetQueryExecutionCommand({ QueryExecutionId: q.id }))).QueryExecution!;
    t.is(exec.Query, proxy.statements[i], `statement ${i} reached moto verbatim`);
    t.true(exec.Query!.split('\n')[0]!.startsWith(q.head.replace(/…$/, '')), `the logged head is statement ${i}'s first line`);
    t.is(exec.Status?.State, 'SUCCEEDED');
    t.is(exec.ResultConfiguration?.OutputLocation?.startsWith('s3://athena-results/sfpipe/'), true);
    sqls.push(exec.Query!);
  }
  const kinds = sqls.map((s) => s.split('\n')[0]!.replace(/ \($/, ''));
  t.log(kinds.join('\n'));

  // Create → read the (empty) watermark → stage → count → merge → drop the stage → read.
  const at = (re: RegExp, from = 0): number => sqls.findIndex((s, i) => i >= from && re.test(s));
  const create = at(/^CREATE TABLE IF NOT EXISTS `sf_raw`\.`sf_user` \(/);
  const createQ = at(/^CREATE TABLE IF NOT EXISTS `sf_raw`\.`sf_user_quarantine` \(/);
  const stage = at(/^CREATE EXTERNAL TABLE /);
  const merge = at(/^MERGE INTO "sf_raw"\."sf_user" AS t\n/);
  const read = at(/^SELECT CAST\(max\("systemmodstamp"\) AS varchar\) AS "watermark"\nFROM "sf_raw"\."sf_user"/, merge + 1);
  t.deepEqual([create, createQ].map((i) => i >= 0), [true, true]);
  t.true(create < stage && stage < merge && merge < read, `order create ${create} < stage ${stage} < merge ${merge} < read ${read}`);
  t.regex(sqls[create]!, /PARTITIONED BY \(day\(`_extracted_at`\)\)\nLOCATION 's3:\/\/lake\/warehouse\/sf_user\/'\nTBLPROPERTIES \('table_type'='ICEBERG', 'format'='parquet', 'write_compression'='snappy'\)$/);
  t.true(at(/^SELECT CAST\(max\("systemmodstamp"\)/) < stage, 'the watermark is read before extracting (null → full)');
  t.regex(sqls[stage]!, /ROW FORMAT SERDE 'org\.openx\.data\.jsonserde\.JsonSerDe'/);
  t.regex(sqls[merge]!, /\nON \(t\."id" = s\."id" AND t\."systemmodstamp" = s\."systemmodstamp"\)\nWHEN NOT MATCHED THEN INSERT /);
  t.false(sqls.some((s) => s.includes("O'Brien")), 'record values never become SQL text');
  // The database is made through Glue (CreateDatabase), not an Athena statement; the tables are in Glue too.
  t.is((await glue.send(new GetDatabaseCommand({ Name: 'sf_raw' }))).Database?.Name, 'sf_raw');
  t.is((await glue.send(new GetTableCommand({ DatabaseName: 'sf_raw', Name: 'sf_user' }))).Table?.Parameters?.['table_type'], 'ICEBERG');

  // The stage table lay over JSON objects in moto's S3 holding the 5000 users, names byte for byte.
  const stageLocation = /LOCATION '([^']+)'/.exec(sqls[stage]!)![1]!;
  t.true(stageLocation.startsWith('s3://lake/warehouse/_staging/sf_user/'), stageLocation);
  t.true(staged.length > 0 && staged.every((o) => o.key.startsWith(stageLocation)));
  const rows = staged.flatMap((o) => o.body.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, string | null>));
  t.is(rows.length, 5000);
  t.is(new Set(rows.map((r) => r['id'])).size, 5000);
  const org = new SimOrg({ users: 5000, seed: 42 });
  const mismatched = rows.filter((r) => org.get(r['id']!)?.['Name'] !== r['name']);
  t.deepEqual(mismatched.slice(0, 3), [], 'every Name round-trips byte for byte');
  const hostile = rows.filter((r) => /['"\\\n]/.test(r['name'] ?? ''));
  t.true(hostile.some((r) => r['name']!.includes("'")) && hostile.some((r) => r['name']!.includes('"')), `hostile names staged: ${hostile.length}`);
  t.log(`staged ${staged.length} object(s), ${rows.length} rows; ${hostile.length} hostile names, e.g. ${JSON.stringify(hostile.slice(0, 4).map((r) => r['name']))}`);
  // …and were merged (the engine ran the MERGE verbatim); the staging is gone afterwards.
  const merged = (await conn.runAndReadAll(`SELECT count(*), count(DISTINCT id) FROM sf_raw.sf_user`)).getRowsJS()[0]!;
  t.deepEqual(merged.map(Number), [5000, 5000]);
  const oneHostile = hostile.find((r) => r['name']!.includes("'"))!;
  const inRaw = (await conn.runAndReadAll(`SELECT name FROM sf_raw.sf_user WHERE id = '${oneHostile['id']}'`)).getRowsJS();
  t.deepEqual(inRaw, [[oneHostile['name']]]);
  const leftover = await s3.send(new ListObjectsV2Command({ Bucket: 'lake', Prefix: 'warehouse/_staging/' }));
  t.is(leftover.KeyCount ?? 0, 0, 'staged objects deleted after the commit');

  // The event log in S3 holds the run.
  const runJson = JSON.parse(
    await (await s3.send(new GetObjectCommand({ Bucket: 'sfpipe-state', Key: `event-log/runs/${result.runId}/run.json` }))).Body!.transformToString(),
  ) as { status: string; assets: string[] };
  t.is(runJson.status, 'SUCCESS');
  t.deepEqual(runJson.assets, ['sf_raw/sf_user']);
  const eventLog = new S3EventLog({ location: 's3://sfpipe-state/event-log/', region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS });
  t.teardown(() => eventLog.close());
  const events = await eventLog.runEvents(result.runId);
  t.is(events[0]?.type, 'RUN_START');
  t.is(events.at(-1)?.type, 'RUN_SUCCESS');
  const mat = events.find((e) => e.type === 'ASSET_MATERIALIZATION');
  t.is(mat?.assetKey, 'sf_raw/sf_user');
  t.like(mat?.data, { metadata: { versions_inserted: 5000 } });
  t.true(events.some((e) => e.type === 'ASSET_CHECK_EVALUATION' && e.assetKey === 'sf_raw/sf_user'));
  t.false(fs.existsSync(path.join(env.SFPIPE_HOME, 'events.sqlite')), 'no local event log');

  // Another "pod" (a fresh state dir) reads the run back from S3 through the CLI.
  const env2 = { ...env, SFPIPE_HOME: path.join(dir, 'home-2') };
  const runs = await sfpipe(['runs', '--json'], env2);
  t.is(runs.code, 0, runs.stderr.slice(-2000));
  t.like(JSON.parse(runs.stdout).runs[0], { runId: result.runId, status: 'SUCCESS', assets: ['sf_raw/sf_user'] });
  const lineage = await sfpipe(['lineage', '--json', '--select', 'sf_raw/sf_user'], env2);
  t.is(lineage.code, 0, lineage.stderr.slice(-2000));
  const asset = (JSON.parse(lineage.stdout) as { assets: { key: string; lastMaterialization: { runId: string; metadata: Record<string, unknown> } | null; checks: { name: string; lastResult: string }[] }[] }).assets.find(
    (a) => a.key === 'sf_raw/sf_user',
  );
  t.is(asset?.lastMaterialization?.runId, result.runId);
  t.like(asset?.lastMaterialization?.metadata, { versions_inserted: 5000, raw_users: 5000 });
  t.true((asset?.checks ?? []).length > 0 && asset!.checks.every((c) => c.lastResult === 'PASSED' || c.lastResult === 'FAILED'), JSON.stringify(asset?.checks));
  t.false(fs.existsSync(path.join(env2.SFPIPE_HOME, 'events.sqlite')));
});
