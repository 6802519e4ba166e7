/**
 * Must show (issue 7): a full pipeline run with `warehouse: athena` against the AWS emulator
 * completes: the raw asset through the real CLI (as athena-pipeline.test.ts), then the dbt models
 * (stg_sf_user view, dim_sf_user_scd Iceberg incremental table) with dbt-athena, target `prod`,
 * boto3 pointed at the emulator through AWS_ENDPOINT_URL.
 *
 * moto executes no SQL and registers nothing in Glue for Athena DDL, so both halves talk to loopback
 * proxies (fixtures/athena-engine-proxy.ts) that forward every request to moto and first play the
 * engine on one DuckDB file: AthenaOracle for the TypeScript adapter's statements, DbtAthenaEngine
 * (fixtures/athena-dbt-engine.ts) for dbt-athena's (CREATE SCHEMA/VIEW/CTAS → DuckDB + Glue).
 * Models only: dbt unit tests cannot run on an emulator.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

import test from 'ava';
import { GetTableCommand, GlueClient } from '@aws-sdk/client-glue';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';

import { embeddedConfigPath } from '../../assets/config/load-config.js';
import { SFPIPE } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto, type MotoServer } from '../services/moto/start.js';
import { AthenaOracle } from './athena-oracle.js';
import { DbtAthenaEngine } from './fixtures/athena-dbt-engine.js';
import { startEngineProxy, type EngineProxy } from './fixtures/athena-engine-proxy.js';

const ROOT = path.resolve(path.dirname(SFPIPE), '..', '..');
const DBT = path.join(ROOT, '.venv', 'bin', 'dbt');

const ENV_UNSET = [
  'SFPIPE_ATHENA_REGION',
  'SFPIPE_ATHENA_S3_DATA_DIR',
  'SFPIPE_ATHENA_S3_STAGING_DIR',
  'SFPIPE_ATHENA_WORK_GROUP',
  'SFPIPE_ATHENA_RAW_DATABASE',
  'SFPIPE_ATHENA_S3_RAW_STAGING',
  'SFPIPE_ATHENA_CATALOG',
  'SFPIPE_ATHENA_SCHEMA',
  'SFPIPE_AWS_ENDPOINT',
  'SFPIPE_EVENT_LOG_S3',
  'AWS_ENDPOINT_URL',
  'AWS_PROFILE',
  'AWS_SESSION_TOKEN',
];

function run(cmd: string, args: string[], env: Record<string, string>, cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const base: NodeJS.ProcessEnv = { ...process.env, SFPIPE_PIPELINE: '' };
    for (const k of ENV_UNSET) delete base[k];
    const child = spawn(cmd, args, { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let moto: MotoServer;
test.before(async () => {
  moto = await startMoto();
});
test.after.always(async () => {
  await moto?.stop();
});

test('warehouse: athena against moto: raw asset through the CLI, then dbt-athena (target prod) builds stg_sf_user and dim_sf_user_scd', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('sfpipe-athena-dbt-');
  const aws = { region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS };
  const glue = new GlueClient(aws);
  const s3 = new S3Client({ ...aws, forcePathStyle: true });
  for (const Bucket of ['lake', 'athena-results']) await s3.send(new CreateBucketCommand({ Bucket }));

  const instance = await DuckDBInstance.create(path.join(dir, 'athena-engine.duckdb'));
  const conn = await instance.connect();
  const oracle = new AthenaOracle(conn, moto.endpoint, glue, s3, dir) as unknown as { execute(sql: string): Promise<void> };
  const dbtEngine = new DbtAthenaEngine(conn, moto.endpoint, glue, 's3://lake/dbt/');
  let rawProxy: EngineProxy | undefined;
  let dbtProxy: EngineProxy | undefined;
  t.teardown(async () => {
    await rawProxy?.close();
    await dbtProxy?.close();
    conn.closeSync();
    instance.closeSync();
    glue.destroy();
    s3.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  rawProxy = await startEngineProxy(moto.endpoint, (sql) => oracle.execute(sql));
  dbtProxy = await startEngineProxy(moto.endpoint, (sql) => dbtEngine.execute(sql));

  const yaml = fs
    .readFileSync(embeddedConfigPath(), 'utf8')
    .replace(
      /^warehouse:\n  engine: duckdb\n/m,
      [
        'warehouse:',
        '  engine: athena',
        '  athena:',
        '    region: us-east-1',
        '    work_group: primary',
        '    output_location: s3://athena-results/sfpipe/',
        '    table_location: s3://lake/warehouse/',
        `    endpoint: ${rawProxy.endpoint}`,
        '',
      ].join('\n'),
    );
  t.regex(yaml, /engine: athena/);
  const configFile = path.join(dir, 'athena.yaml');
  fs.writeFileSync(configFile, yaml);
  const awsEnv = {
    AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
    AWS_REGION: MOTO_REGION,
    AWS_DEFAULT_REGION: MOTO_REGION,
  };

  const raw = await run(process.execPath, [SFPIPE, 'materialize', '--select', 'sf_raw/sf_user', '--json'], {
    ...awsEnv,
    SFPIPE_HOME: path.join(dir, 'home'),
    SFPIPE_CONFIG: configFile,
  });
  t.is(raw.code, 0, raw.stderr.slice(-4000));
  t.deepEqual(rawProxy.errors, []);
  t.is(Number((await conn.runAndReadAll('SELECT count(DISTINCT id) FROM sf_raw.sf_user')).getRowsJS()[0]![0]), 5000);

  const target = path.join(dir, 'dbt-target');
  // --threads 1: the engine queues one canned result per statement, in arrival order.
  const dbtRun = (): ReturnType<typeof run> =>
    run(
      DBT,
      ['run', '--target', 'prod', '--project-dir', 'dbt', '--profiles-dir', 'dbt', '--target-path', target, '--log-path', target, '--threads', '1', '--select', 'stg_sf_user', 'dim_sf_user_scd'],
      {
        ...awsEnv,
        AWS_ENDPOINT_URL: dbtProxy!.endpoint,
        SFPIPE_ATHENA_REGION: MOTO_REGION,
        SFPIPE_ATHENA_S3_STAGING_DIR: 's3://athena-results/dbt/',
        SFPIPE_ATHENA_S3_DATA_DIR: 's3://lake/dbt/',
        DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
      },
      ROOT,
    );
  const dbt = await dbtRun();
  if (process.env['SFPIPE_TEST_DEBUG']) {
    t.log(dbtProxy.statements.join('\n-----\n'));
    t.log(dbt.stdout);
  }
  t.is(dbt.code, 0, `${dbt.stdout.slice(-6000)}\n${dbt.stderr.slice(-2000)}\n${dbtEngine.errors.join('\n')}`);
  t.deepEqual(dbtEngine.errors, [], 'the engine applied every dbt statement');
  t.regex(dbt.stdout, /Completed successfully/);

  // The view and the Iceberg dimension are in Glue; the dimension holds one current row per user.
  t.is((await glue.send(new GetTableCommand({ DatabaseName: 'sf_staging', Name: 'stg_sf_user' }))).Table?.TableType, 'VIRTUAL_VIEW');
  t.is((await glue.send(new GetTableCommand({ DatabaseName: 'sf_curated', Name: 'dim_sf_user_scd' }))).Table?.Parameters?.['table_type'], 'ICEBERG');
  const ctas = dbtProxy.statements.find((s) => /create table[\s\S]*dim_sf_user_scd/i.test(s)) ?? '';
  t.regex(ctas, /table_type\s*=\s*'iceberg'/i);
  t.regex(ctas, /bucket\(user_id, 8\)/);
  const [rows, users, current, currentUsers] = (
    await conn.runAndReadAll(
      'SELECT count(*), count(DISTINCT user_id), count(*) FILTER (WHERE is_current), count(DISTINCT user_id) FILTER (WHERE is_current) FROM sf_curated.dim_sf_user_scd',
    )
  )
    .getRowsJS()[0]!
    .map(Number);
  t.is(users, 5000);
  t.is(current, 5000, 'one current row per user');
  t.is(currentUsers, 5000);
  t.true(rows! >= users!);

  // A second run takes the incremental path (dbt-athena's Iceberg MERGE keyed on user_key): no new
  // raw rows, so the dimension is unchanged.
  const before = dbtProxy.statements.length;
  const again = await dbtRun();
  if (process.env['SFPIPE_TEST_DEBUG']) {
    t.log(dbtProxy.statements.slice(before).join('\n-----\n'));
    t.log(again.stdout);
  }
  t.is(again.code, 0, `${again.stdout.slice(-6000)}\n${again.stderr.slice(-2000)}\n${dbtEngine.errors.join('\n')}`);
  t.deepEqual(dbtEngine.errors, []);
  t.true(dbtProxy.statements.slice(before).some((s) => /^\s*merge into\s/im.test(s)), 'the incremental run merged');
  const after = (
    await conn.runAndReadAll('SELECT count(*), count(*) FILTER (WHERE is_current), count(DISTINCT user_id) FILTER (WHERE is_current) FROM sf_curated.dim_sf_user_scd')
  )
    .getRowsJS()[0]!
    .map(Number);
  t.deepEqual(after, [rows, 5000, 5000]);
});
