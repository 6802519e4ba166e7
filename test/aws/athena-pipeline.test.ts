/**
 * Must show: a full pipeline run with `warehouse: athena`, through the real CLI in a child process
 * (`sfpipe materialize --select sf_raw/sf_user --json`), the Salesforce side being the simulator,
 * and the event log in S3 (`event_log: { store: s3 }`).
 *
 * The warehouse endpoint is Athena's query API in front of a real Trino (fixtures/athena-on-trino.ts):
 * every statement runs on Trino's Iceberg catalog over moto's Glue and S3 (only Hive DDL is adapted),
 * and every Glue and S3 request goes through to that moto. The event log talks to moto directly.
 * Trino and moto are shared with the other test processes: the buckets and the raw database are
 * this test's own.
 */
import fs from 'node:fs';
import path from 'node:path';

import test from 'ava';
import { GetQueryExecutionCommand, ListQueryExecutionsCommand } from '@aws-sdk/client-athena';
import { GetDatabaseCommand, GetTableCommand } from '@aws-sdk/client-glue';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';

import { S3EventLog } from '../../assets/stores/s3-event-log.js';
import { SimOrg } from '../../sim/index.js';
import { MOTO_CREDENTIALS, MOTO_REGION } from '../services/moto/start.js';
import { openAthenaOnTrino } from './fixtures/athena-emulation.js';
import { loggedQueries, logLines, sfpipeAthena as sfpipe, writeAthenaConfig } from './fixtures/athena-cli.js';

test('sfpipe materialize with warehouse: athena (on Trino) and event_log: s3: create, stage, merge, read; the run is in S3', async (t) => {
  t.timeout(600_000);
  const w = await openAthenaOnTrino(t, 'sfpipe-athena-pipeline-', ['lake', 'athena-results', 'sfpipe-state']);
  const { dir, athena, glue, s3, front, trino } = w;
  const lake = w.bucket('lake');
  const results = w.bucket('athena-results');
  const state = w.bucket('sfpipe-state');
  const db = w.database('sf_raw');

  const configFile = writeAthenaConfig(
    path.join(dir, 'athena.yaml'),
    front.endpoint,
    { lakeBucket: lake, resultsBucket: results, database: db },
    `event_log:\n  store: s3\n  s3_location: s3://${state}/event-log/\n  endpoint: ${trino.motoEndpoint}\n`,
  );
  const env = { SFPIPE_HOME: path.join(dir, 'home-1'), SFPIPE_CONFIG: configFile };

  const run = await sfpipe(['materialize', '--select', 'sf_raw/sf_user', '--json'], env);
  t.is(run.code, 0, `${run.stderr.slice(-4000)}\nTrino failures: ${JSON.stringify(front.failures)}`);
  t.deepEqual(front.failures, [], 'every statement Athena received ran on Trino');
  const result = JSON.parse(run.stdout) as { runId: string; status: string; steps: { key: string; status: string; metadata: Record<string, unknown>; checks: unknown[] }[] };
  t.is(result.status, 'SUCCESS');
  t.like(result.steps[0], {
    key: 'sf_raw/sf_user',
    status: 'SUCCESS',
    metadata: { mode: 'full', path: 'rest', records_fetched: 5000, versions_inserted: 5000, duplicates_skipped: 0, raw_users: 5000, raw_rows: 5000, watermark_before: null },
  });

  // The run's log: which engine, and every Athena statement with its query execution id.
  const lines = logLines(run.stderr);
  t.true(lines.some((l) => new RegExp(`^raw warehouse: athena at athena workgroup primary, ${db}\\.sf_user \\(region us-east-1, endpoint `).test(l.message)), 'engine logged');
  const logged = loggedQueries(run.stderr);
  t.is(logged.length, front.statements.length, 'one log line per statement Athena received');

  // Those ids are Athena's, and Athena holds the same statement text, in the same order.
  const ids = new Set((await athena.send(new ListQueryExecutionsCommand({ WorkGroup: 'primary' }))).QueryExecutionIds ?? []);
  const sqls: string[] = [];
  for (const [i, q] of logged.entries()) {
    t.true(ids.has(q.id), `${q.id} is in Athena's ListQueryExecutions`);
    const exec = (await athena.send(new GetQueryExecutionCommand({ QueryExecutionId: q.id }))).QueryExecution!;
    t.is(exec.Query, front.statements[i], `statement ${i} reached Athena verbatim`);
    t.true(exec.Query!.split('\n')[0]!.startsWith(q.head.replace(/…$/, '')), `the logged head is statement ${i}'s first line`);
    t.is(exec.Status?.State, 'SUCCEEDED');
    t.is(exec.ResultConfiguration?.OutputLocation?.startsWith(`s3://${results}/sfpipe/`), true);
    sqls.push(exec.Query!);
  }
  t.log(sqls.map((s) => s.split('\n')[0]!.replace(/ \($/, '')).join('\n'));
  t.true(front.rewrites.every((x) => /^(CREATE|ALTER|DROP) /.test(x.sql)), 'only DDL was adapted for Trino');

  // Create → read the (empty) watermark → stage → count → merge → drop the stage → read.
  const at = (re: RegExp, from = 0): number => sqls.findIndex((s, i) => i >= from && re.test(s));
  const create = at(new RegExp(`^CREATE TABLE IF NOT EXISTS \`${db}\`\\.\`sf_user\` \\(`));
  const createQ = at(new RegExp(`^CREATE TABLE IF NOT EXISTS \`${db}\`\\.\`sf_user_quarantine\` \\(`));
  const stage = at(/^CREATE EXTERNAL TABLE /);
  const merge = at(new RegExp(`^MERGE INTO "${db}"\\."sf_user" AS t\\n`));
  const read = at(new RegExp(`^SELECT CAST\\(max\\("systemmodstamp"\\) AS varchar\\) AS "watermark"\\nFROM "${db}"\\."sf_user"`), merge + 1);
  t.deepEqual([create, createQ].map((i) => i >= 0), [true, true]);
  t.true(create < stage && stage < merge && merge < read, `order create ${create} < stage ${stage} < merge ${merge} < read ${read}`);
  t.true(at(/^SELECT CAST\(max\("systemmodstamp"\)/) < stage, 'the watermark is read before extracting (null → full)');
  t.false(sqls.some((s) => s.includes("O'Brien")), 'record values never become SQL text');
  // The database is made through Glue (CreateDatabase), not an Athena statement; the tables are
  // Iceberg tables in Glue, where the config put them.
  t.is((await glue.send(new GetDatabaseCommand({ Name: db }))).Database?.Name, db);
  const raw = (await glue.send(new GetTableCommand({ DatabaseName: db, Name: 'sf_user' }))).Table!;
  t.is(raw.Parameters?.['table_type']?.toUpperCase(), 'ICEBERG');
  t.true(raw.Parameters?.['metadata_location']?.startsWith(`s3://${lake}/warehouse/sf_user/metadata/`), raw.Parameters?.['metadata_location']);
  const ddl = String((await w.trinoQuery(`SHOW CREATE TABLE "${db}"."sf_user"`)).rows[0]![0]);
  t.regex(ddl, /partitioning = ARRAY\['day\(_extracted_at\)'\]/);

  // The stage lay under the staging location; it is gone after the commit.
  const stageLocation = /LOCATION '([^']+)'/.exec(sqls[stage]!)![1]!;
  t.true(stageLocation.startsWith(`s3://${lake}/warehouse/_staging/sf_user/`), stageLocation);
  const leftover = await s3.send(new ListObjectsV2Command({ Bucket: lake, Prefix: 'warehouse/_staging/' }));
  t.is(leftover.KeyCount ?? 0, 0, 'staged objects deleted after the commit');

  // Raw holds the 5000 users, every Name byte for byte (read back through Trino).
  const rows = (await w.trinoQuery(`SELECT id, name FROM "${db}"."sf_user"`)).rows as [string, string | null][];
  t.is(rows.length, 5000);
  t.is(new Set(rows.map((r) => r[0])).size, 5000);
  const org = new SimOrg({ users: 5000, seed: 42 });
  const mismatched = rows.filter(([id, name]) => (org.get(id)?.['Name'] ?? null) !== name);
  t.deepEqual(mismatched.slice(0, 3), [], 'every Name round-trips byte for byte');
  const hostile = rows.filter(([, name]) => /['"\\\n]/.test(name ?? ''));
  t.true(hostile.some(([, n]) => n!.includes("'")) && hostile.some(([, n]) => n!.includes('"')), `hostile names in raw: ${hostile.length}`);
  t.log(`${rows.length} rows in raw; ${hostile.length} hostile names, e.g. ${JSON.stringify(hostile.slice(0, 4).map((r) => r[1]))}`);

  // The event log in S3 holds the run.
  const runJson = JSON.parse(
    await (await s3.send(new GetObjectCommand({ Bucket: state, Key: `event-log/runs/${result.runId}/run.json` }))).Body!.transformToString(),
  ) as { status: string; assets: string[] };
  t.is(runJson.status, 'SUCCESS');
  t.deepEqual(runJson.assets, ['sf_raw/sf_user']);
  const eventLog = new S3EventLog({ location: `s3://${state}/event-log/`, region: MOTO_REGION, endpoint: trino.motoEndpoint, credentials: MOTO_CREDENTIALS });
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
  t.deepEqual(front.failures, []);
});
