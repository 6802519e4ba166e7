/**
 * Must show (issue 7): a full pipeline run with `warehouse: athena` against the AWS emulator. One
 * `sfpipe materialize` of the whole graph — the raw asset (TypeScript adapter) and the dbt models
 * (`dbt build --target prod`, dbt-athena through boto3) — with the event log in S3, run twice: a
 * full load, then the next simulated day (incremental, dbt-athena's Iceberg MERGE). Every Athena
 * statement of the run, ours and dbt's, is logged by our logger with its query execution id, and
 * moto's query history holds exactly those statements under those ids.
 *
 * moto executes no SQL and registers nothing in Glue for Athena DDL, so the warehouse endpoint is a
 * loopback proxy (fixtures/athena-engine-proxy.ts) that forwards every request to moto and first
 * plays the engine on one DuckDB file: AthenaOracle for the pipeline's statements, DbtAthenaEngine
 * (fixtures/athena-dbt-engine.ts) for dbt-athena's, told apart by the client's User-Agent. The
 * config sets dbt.threads 1 (the engine answers statements in arrival order) and dbt.unit_tests
 * false (dbt unit tests need an engine that runs their fixtures' SQL; the models' data tests run).
 */
import fs from 'node:fs';
import path from 'node:path';

import test from 'ava';
import { GetQueryExecutionCommand } from '@aws-sdk/client-athena';
import { GetTableCommand } from '@aws-sdk/client-glue';

import { startMoto, type MotoServer } from '../services/moto/start.js';
import { openAthenaEmulation } from './fixtures/athena-emulation.js';
import { loggedQueries, logLines, sfpipeAthena, writeAthenaConfig } from './fixtures/athena-cli.js';

interface RunJson {
  runId: string;
  status: string;
  steps: { key: string; status: string; metadata: Record<string, unknown>; checks: { checkName: string; passed: boolean }[] }[];
}

let moto: MotoServer;
test.before(async () => {
  moto = await startMoto();
});
test.after.always(async () => {
  await moto?.stop();
});

test('sfpipe materialize of the whole graph with warehouse: athena and dbt target prod against moto: every statement logged with its id', async (t) => {
  t.timeout(240_000);
  const { dir, athena, glue, conn, oracle, dbtEngine, startProxy } = await openAthenaEmulation(t, moto.endpoint, 'sfpipe-athena-graph-', ['lake', 'athena-results', 'sfpipe-state']);
  const fromDbt: string[] = [];
  const proxy = await startProxy(async (sql, client) => {
    if (/botocore|boto3/i.test(client)) {
      fromDbt.push(sql);
      await dbtEngine.execute(sql);
    } else await oracle.execute(sql);
  });

  const configFile = writeAthenaConfig(
    path.join(dir, 'athena.yaml'),
    proxy.endpoint,
    `event_log:\n  store: s3\n  s3_location: s3://sfpipe-state/event-log/\n  endpoint: ${moto.endpoint}\n`,
  );
  fs.writeFileSync(configFile, fs.readFileSync(configFile, 'utf8').replace('unit_tests: true', 'unit_tests: false\n  threads: 1'));
  const env = { SFPIPE_HOME: path.join(dir, 'home'), SFPIPE_CONFIG: configFile };

  /** One whole-graph run; checks every logged statement against moto's history. */
  const materialize = async (label: string): Promise<{ result: RunJson; sqls: string[]; queries: ReturnType<typeof loggedQueries> }> => {
    const before = proxy.statements.length;
    const run = await sfpipeAthena(['materialize', '--json'], env);
    const tail = `${run.stderr.slice(-5000)}\nengine errors: ${dbtEngine.errors.join('\n')}`;
    t.is(run.code, 0, `${label}: ${tail}`);
    t.deepEqual(proxy.errors, [], `${label}: the oracle applied every pipeline statement`);
    t.deepEqual(dbtEngine.errors, [], `${label}: the engine applied every dbt statement`);
    const result = JSON.parse(run.stdout) as RunJson;
    const lines = logLines(run.stderr);
    t.true(lines.some((l) => /^raw warehouse: athena at athena workgroup primary/.test(l.message)), `${label}: engine logged`);
    t.true(lines.some((l) => /^dbt build --select .* --target prod --exclude-resource-type unit_test --threads 1/.test(l.message)), `${label}: dbt on prod`);

    // Every statement the run sent (ours and dbt's) has one log line with moto's id, in order.
    const sent = proxy.statements.slice(before);
    const queries = loggedQueries(run.stderr);
    t.is(queries.length, sent.length, `${label}: one log line per statement`);
    const sqls: string[] = [];
    for (const [i, q] of queries.entries()) {
      const exec = (await athena.send(new GetQueryExecutionCommand({ QueryExecutionId: q.id }))).QueryExecution!;
      t.is(exec.Query, sent[i], `${label}: statement ${i} (${q.head}) is moto's ${q.id}`);
      t.true(exec.Query!.includes(q.head.replace(/…$/, '')), `${label}: the logged head is the statement's`);
      sqls.push(exec.Query!);
    }
    return { result, sqls, queries };
  };

  // Day 1: full load of 5,000 users, then the view and the Iceberg dimension created.
  const first = await materialize('run 1');
  t.is(first.result.status, 'SUCCESS');
  t.deepEqual(
    first.result.steps.map((s) => [s.key, s.status]),
    [
      ['sf_raw/sf_user', 'SUCCESS'],
      ['sf_staging/stg_sf_user', 'SUCCESS'],
      ['sf_curated/dim_sf_user_scd', 'SUCCESS'],
    ],
  );
  const [raw1, stg1, dim1] = first.result.steps;
  t.like(raw1!.metadata, { mode: 'full', versions_inserted: 5000, raw_users: 5000 });
  t.like(stg1!.metadata, { observations: 5000, users: 5000 });
  t.like(dim1!.metadata, { versions: 5000, current_versions: 5000, users: 5000, versions_opened: 5000, versions_closed: 0 });
  // The models' data tests ran on Athena and became checks (the seeded invalid values warn).
  const dimChecks = [...stg1!.checks, ...dim1!.checks].map((c) => c.checkName);
  t.true(dimChecks.some((n) => /integrity/.test(n)), dimChecks.join(', '));
  t.false(dimChecks.some((n) => n.startsWith('unit_test:')), 'unit tests were not run');

  // dbt's statements are logged under their asset keys: the view and the Iceberg CTAS.
  const dbtLogged = first.queries.filter((q, i) => fromDbt.includes(first.sqls[i]!));
  t.true(dbtLogged.length > 0);
  const keyOf = (re: RegExp) => first.queries.find((q, i) => re.test(first.sqls[i]!))?.assetKey;
  t.is(keyOf(/create or replace view[\s\S]*stg_sf_user/i), 'sf_staging/stg_sf_user');
  t.is(keyOf(/create table[\s\S]*dim_sf_user_scd[\s\S]*table_type\s*=\s*'iceberg'/i), 'sf_curated/dim_sf_user_scd');
  const ctas = first.sqls.find((s) => /create table[\s\S]*dim_sf_user_scd/i.test(s))!;
  t.regex(ctas, /bucket\(user_id, 8\)/);
  // Ours, in order: create the raw table, stage, merge, read; the row statistics read last.
  const at = (re: RegExp) => first.sqls.findIndex((s) => re.test(s));
  const order = [
    at(/^CREATE TABLE IF NOT EXISTS `sf_raw`\.`sf_user` \(/),
    at(/^MERGE INTO "sf_raw"\."sf_user" AS t\n/),
    at(/create or replace view[\s\S]*stg_sf_user/i),
    at(/create table[\s\S]*dim_sf_user_scd/i),
    at(/^select count\(\*\) as versions[\s\S]*from sf_curated\.dim_sf_user_scd/),
  ];
  t.true(order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)), `create, merge, view, CTAS, stats in order: ${order.join(' < ')}`);
  t.is((await glue.send(new GetTableCommand({ DatabaseName: 'sf_staging', Name: 'stg_sf_user' }))).Table?.TableType, 'VIRTUAL_VIEW');
  t.is((await glue.send(new GetTableCommand({ DatabaseName: 'sf_curated', Name: 'dim_sf_user_scd' }))).Table?.Parameters?.['table_type'], 'ICEBERG');

  // Day 2: the simulated org moved on a day; the raw MERGE adds its versions and dbt-athena MERGEs
  // the changed users into the dimension (incremental), still one current row per user.
  const second = await materialize('run 2');
  t.is(second.result.status, 'SUCCESS');
  const [raw2, , dim2] = second.result.steps;
  t.like(raw2!.metadata, { mode: 'incremental' });
  const added = raw2!.metadata['versions_inserted'] as number;
  t.true(added > 0, `versions added on day 2: ${added}`);
  const mergeDim = second.queries.find((q, i) => /^\s*merge into\s[\s\S]*dim_sf_user_scd/im.test(second.sqls[i]!.replace(/^\s*--[^\n]*\n/gm, '')));
  t.is(mergeDim?.assetKey, 'sf_curated/dim_sf_user_scd', 'the incremental run merged into the dimension');
  const users2 = raw2!.metadata['raw_users'] as number; // the org also gains users on some days
  t.like(dim2!.metadata, { current_versions: users2, users: users2 });
  t.true((dim2!.metadata['versions_opened'] as number) > 0 && (dim2!.metadata['versions_closed'] as number) > 0, JSON.stringify(dim2!.metadata));
  const [rows, current, currentUsers] = (
    await conn.runAndReadAll('SELECT count(*), count(*) FILTER (WHERE is_current), count(DISTINCT user_id) FILTER (WHERE is_current) FROM sf_curated.dim_sf_user_scd')
  )
    .getRowsJS()[0]!
    .map(Number);
  t.is(rows, dim2!.metadata['versions'] as number);
  t.deepEqual([current, currentUsers], [users2, users2], 'one current row per user');

  // The same two days on the embedded default (DuckDB, dbt-duckdb's delete+insert) give the same
  // history as dbt-athena's MERGE did.
  const embeddedHome = path.join(dir, 'embedded');
  for (const day of [1, 2]) {
    const run = await sfpipeAthena(['materialize', '--json'], { SFPIPE_HOME: embeddedHome, SFPIPE_CONFIG: '' });
    t.is(run.code, 0, `embedded day ${day}: ${run.stderr.slice(-3000)}`);
  }
  await conn.run(`ATTACH '${path.join(embeddedHome, 'warehouse.duckdb')}' AS embedded (READ_ONLY)`);
  const columns = 'user_id, valid_from, valid_to, is_current, is_deleted, division, audit_phase__c, name, user_key';
  const diff = async (a: string, b: string) =>
    Number((await conn.runAndReadAll(`SELECT count(*) FROM (SELECT ${columns} FROM ${a} EXCEPT ALL SELECT ${columns} FROM ${b})`)).getRowsJS()[0]![0]);
  t.is(Number((await conn.runAndReadAll('SELECT count(*) FROM embedded.sf_curated.dim_sf_user_scd')).getRowsJS()[0]![0]), rows!);
  t.is(await diff('sf_curated.dim_sf_user_scd', 'embedded.sf_curated.dim_sf_user_scd'), 0, 'no Athena row missing on DuckDB');
  t.is(await diff('embedded.sf_curated.dim_sf_user_scd', 'sf_curated.dim_sf_user_scd'), 0, 'no DuckDB row missing on Athena');
  await conn.run('DETACH embedded');

  t.log(
    `run 1: ${first.sqls.length} statements (${dbtLogged.length} from dbt); run 2: ${second.sqls.length}; day 2 added ${added} raw versions, ` +
      `opened ${dim2!.metadata['versions_opened']} and closed ${dim2!.metadata['versions_closed']} dimension versions`,
  );
});
