/**
 * Issue 11, must show 2 and 3: one simulated org, seven simulated days and a full refresh, through
 * the real CLI on each engine — the embedded default (DuckDB, dbt-duckdb), Athena (the Athena API
 * in front of real Trino, dbt-athena unmodified) and Trino (sfpipe's Trino client, dbt-trino). The
 * raw tables and the dimensions must be identical on all three (every column but the load stamps
 * `_extracted_at` / `_extraction_run_id` and `_dbt_updated_at`). Then `lineage`, `check` and
 * `history` on the Trino engine. The Athena runs also show that every statement sent to Athena —
 * the raw load's and dbt-athena's — is logged once, in order, with its query execution id.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

import test from 'ava';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';

import { embeddedConfigPath } from '../../assets/config/load-config.js';
import { TrinoQueryRunner, trinoText } from '../../assets/warehouse/trino-query.js';
import { tempDir } from '../helpers/temp.js';
import { MOTO_CREDENTIALS, MOTO_REGION } from '../services/moto/start.js';
import { dropGlueDatabases, sharedTrino, TRINO_ICEBERG_CATALOG, withTrinoDbtSchemas } from '../services/trino/start.js';
import { loggedQueries, sfpipeAthena } from '../aws/fixtures/athena-cli.js';
import { startAthenaOnTrino } from '../aws/fixtures/athena-on-trino.js';

type Engine = 'duckdb' | 'athena' | 'trino';

const DAYS = 7;
const USERS = 300;

const DIM_COLUMNS = ['user_key', 'user_id', 'name', 'division', 'audit_phase__c', 'is_active', 'is_deleted', 'update_date', 'valid_from', 'valid_to', 'is_current', '_scd_id'];
const DIM_TIMESTAMPS = new Set(['update_date', 'valid_from', 'valid_to']);
const RAW_COLUMNS = ['id', 'name', 'division', 'audit_phase__c', 'isactive', 'isdeleted', 'lastmodifieddate', 'systemmodstamp'];
const RAW_TIMESTAMPS = new Set(['lastmodifieddate', 'systemmodstamp']);

/** Each column as the same text on both engines (timestamps with microseconds), ordered. */
function selectText(table: string, columns: string[], timestamps: Set<string>, engine: 'duckdb' | 'trino', order: string): string {
  const text = (c: string): string =>
    timestamps.has(c)
      ? engine === 'duckdb'
        ? `strftime(${c}, '%Y-%m-%dT%H:%M:%S.%f')`
        : `to_iso8601(cast(${c} as timestamp(6)))`
      : `cast(${c} as varchar)`;
  return `select ${columns.map((c) => `${text(c)} as ${c}`).join(', ')} from ${table} order by ${order}`;
}

interface RunJson {
  runId: string;
  status: string;
  steps: { key: string; status: string; metadata: Record<string, unknown> }[];
}

test('seven days and a full refresh: DuckDB, Athena on Trino and Trino hold identical raw and SCD2 tables; lineage, check and history on Trino', async (t) => {
  t.timeout(45 * 60_000);
  const trino = await sharedTrino();
  const tag = randomBytes(4).toString('hex');
  const dir = tempDir('sfpipe-parity-');
  const lake = `parity-${tag}-lake`;
  const results = `parity-${tag}-results`;
  const s3 = new S3Client({ region: MOTO_REGION, endpoint: trino.motoEndpoint, credentials: MOTO_CREDENTIALS, forcePathStyle: true });
  for (const Bucket of [lake, results]) await s3.send(new CreateBucketCommand({ Bucket }));
  s3.destroy();
  const front = await startAthenaOnTrino(trino);
  const sql = new TrinoQueryRunner({ server: trino.url, catalog: TRINO_ICEBERG_CATALOG, schema: 'default', user: 'parity-test' });
  const query = async (statement: string): Promise<Record<string, string | null>[]> => {
    const r = await sql.run(statement, 'parity test');
    return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, trinoText(row[i])])));
  };
  const rawSchema = { athena: `parity_raw_a_${tag}`, trino: `parity_raw_t_${tag}` };
  const snapshotSchema = `parity_${tag}`;
  t.teardown(async () => {
    await front.close();
    await dropGlueDatabases(trino.motoEndpoint, [rawSchema.athena, rawSchema.trino, snapshotSchema]).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const base = fs
    .readFileSync(embeddedConfigPath(), 'utf8')
    .replace(/users: 5000/, `users: ${USERS}`)
    .replace(/raw_record_count: \{ min: 4000, max: 6000 \}/, 'raw_record_count: { min: 1, max: 100000 }');
  const warehouse: Record<Engine, string> = {
    duckdb: 'warehouse:\n  engine: duckdb\n',
    athena: [
      'warehouse:',
      '  engine: athena',
      '  athena:',
      `    region: ${MOTO_REGION}`,
      '    work_group: primary',
      `    output_location: s3://${results}/sfpipe/`,
      `    table_location: s3://${lake}/athena/`,
      `    database: ${rawSchema.athena}`,
      `    endpoint: ${front.endpoint}`,
      '',
    ].join('\n'),
    trino: [
      'warehouse:',
      '  engine: trino',
      '  trino:',
      `    server: ${trino.url}`,
      `    catalog: ${TRINO_ICEBERG_CATALOG}`,
      `    raw_schema: ${rawSchema.trino}`,
      `    schema_location: s3://${lake}/trino/${rawSchema.trino}/`,
      '',
    ].join('\n'),
  };
  const configFile = (engine: Engine, unitTests: boolean): string => {
    const file = path.join(dir, `${engine}.yaml`);
    const yaml = base
      .replace(/^warehouse:\n  engine: duckdb\n/m, warehouse[engine])
      .replace(/^  unit_tests: true .*$/m, `  unit_tests: ${unitTests}`);
    if (!yaml.includes(`engine: ${engine}`) || !yaml.includes(`unit_tests: ${unitTests}`)) throw new Error('the embedded config changed shape: update this test');
    fs.writeFileSync(file, yaml);
    return file;
  };
  const home = (engine: Engine): string => path.join(dir, engine);
  const cli = (engine: Engine, args: string[], unitTests = false) =>
    sfpipeAthena(args, { SFPIPE_HOME: home(engine), SFPIPE_CONFIG: configFile(engine, unitTests), SFPIPE_LOG_FORMAT: 'json' });

  /** Seven days, then a full refresh; dbt's unit tests run on the first day only (they cost queries). */
  const runDays = async (engine: Engine): Promise<RunJson[]> => {
    const out: RunJson[] = [];
    for (let day = 1; day <= DAYS + 1; day++) {
      const args = ['materialize', '--json', ...(day > DAYS ? ['--full-refresh'] : [])];
      const before = front.statements.length;
      const run = await cli(engine, args, day === 1);
      t.is(run.code, 0, `${engine} day ${day}: ${run.stderr.slice(-4000)}`);
      const result = JSON.parse(run.stdout) as RunJson;
      t.is(result.status, 'SUCCESS', `${engine} day ${day}`);
      if (engine === 'athena' && day <= 2) {
        // Every statement Athena got in this run, ours and dbt-athena's, is logged once with its id, in order.
        const sent = front.statements.slice(before);
        const logged = loggedQueries(run.stderr);
        t.is(logged.length, sent.length, `athena day ${day}: one log line per statement`);
        for (const [i, q] of logged.entries()) t.true(sent[i]!.includes(q.head.replace(/…$/, '')), `athena day ${day}: statement ${i} is the logged one`);
        t.true(logged.some((q) => q.assetKey === 'sf_curated/dim_sf_user_scd'), 'dbt-athena statements are logged under their asset');
      }
      out.push(result);
    }
    t.deepEqual(front.failures, [], `${engine}: every statement ran on Athena's engine`);
    return out;
  };

  const duckRuns = await runDays('duckdb');
  const duckRows = await (async () => {
    const instance = await DuckDBInstance.create(path.join(home('duckdb'), 'warehouse.duckdb'), { access_mode: 'READ_ONLY' });
    const conn = await instance.connect();
    try {
      const read = async (s: string) => (await conn.runAndReadAll(s)).getRowObjectsJson() as Record<string, string | null>[];
      return {
        dim: await read(selectText('sf_curated.dim_sf_user_scd', DIM_COLUMNS, DIM_TIMESTAMPS, 'duckdb', 'user_key')),
        raw: await read(selectText('sf_raw.sf_user', RAW_COLUMNS, RAW_TIMESTAMPS, 'duckdb', 'id, systemmodstamp')),
      };
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  })();
  t.true(duckRows.dim.length > USERS, `the org changed over the days: ${duckRows.dim.length} versions`);

  const readTrino = async (dimTable: string, rawSchemaName: string) => ({
    dim: await query(selectText(dimTable, DIM_COLUMNS, DIM_TIMESTAMPS, 'trino', 'user_key')),
    raw: await query(selectText(`"${rawSchemaName}"."sf_user"`, RAW_COLUMNS, RAW_TIMESTAMPS, 'trino', 'id, systemmodstamp')),
  });

  const { athenaRuns, athenaRows, trinoRuns, trinoRows } = await withTrinoDbtSchemas(async () => {
    const athenaRuns = await runDays('athena');
    // Both Trino-backed engines build the fixed model schemas: keep Athena's dimension aside first.
    await query(`CREATE SCHEMA "${snapshotSchema}" WITH (location = 's3://${lake}/snapshot/')`);
    await query(`CREATE TABLE "${snapshotSchema}"."dim_athena" AS SELECT * FROM sf_curated.dim_sf_user_scd`);
    const athenaRows = await readTrino(`"${snapshotSchema}"."dim_athena"`, rawSchema.athena);
    await dropGlueDatabases(trino.motoEndpoint, ['sf_staging', 'sf_curated']);

    const trinoRuns = await runDays('trino');
    const trinoRows = await readTrino('sf_curated.dim_sf_user_scd', rawSchema.trino);

    // Must show 3: lineage, check and history on the Trino engine.
    const lineage = await cli('trino', ['lineage', '--format', 'json']);
    t.is(lineage.code, 0, lineage.stderr.slice(-2000));
    const { assets } = JSON.parse(lineage.stdout) as { assets: { key: string; lastMaterialization?: { runId?: string } | null }[] };
    const lastRun = trinoRuns.at(-1)!.runId;
    for (const key of ['sf_raw/sf_user', 'sf_staging/stg_sf_user', 'sf_curated/dim_sf_user_scd']) {
      const a = assets.find((x) => x.key === key);
      t.truthy(a, `lineage lists ${key}`);
      t.is(a?.lastMaterialization?.runId, lastRun, `${key} was last materialized by the full refresh`);
    }
    const check = await cli('trino', ['check', '--json']);
    const duckCheck = await cli('duckdb', ['check', '--json']);
    t.is(check.code, duckCheck.code, `check exits as on the embedded default: ${check.stderr.slice(-2000)}`);
    const states = (out: string) =>
      (JSON.parse(out) as { evaluations: { key: string; state: string }[] }).evaluations.map((e) => `${e.key}=${e.state}`).sort();
    t.deepEqual(states(check.stdout), states(duckCheck.stdout), 'freshness judged alike on Trino and DuckDB');
    const someone = trinoRows.dim.find((r) => r['is_current'] === 'false')!['user_id']!;
    const history = await cli('trino', ['history', someone, '--json']);
    const duckHistory = await cli('duckdb', ['history', someone, '--json']);
    t.is(history.code, 0, history.stderr.slice(-2000));
    const versions = (out: string) => (JSON.parse(out) as { versions: Record<string, unknown>[] }).versions.map((v) => [v['division'], v['audit_phase__c'], String(v['is_current'])]);
    t.deepEqual(versions(history.stdout), versions(duckHistory.stdout), `history of ${someone} on Trino is the embedded one`);
    t.true(versions(history.stdout).length >= 2);
    return { athenaRuns, athenaRows, trinoRuns, trinoRows };
  });

  // Must show 2: the same tables on every engine.
  t.is(athenaRows.raw.length, duckRows.raw.length, 'raw rows: Athena vs DuckDB');
  t.deepEqual(athenaRows.raw, duckRows.raw, 'raw: Athena == DuckDB');
  t.deepEqual(trinoRows.raw, duckRows.raw, 'raw: Trino == DuckDB');
  t.is(athenaRows.dim.length, duckRows.dim.length, 'dimension rows: Athena vs DuckDB');
  t.deepEqual(athenaRows.dim, duckRows.dim, 'dimension: Athena == DuckDB');
  t.deepEqual(trinoRows.dim, duckRows.dim, 'dimension: Trino == DuckDB');
  // The runs reported the same work everywhere.
  const work = (runs: RunJson[]) => runs.map((r) => r.steps.map((s) => [s.key, s.metadata['versions_inserted'] ?? null, s.metadata['versions'] ?? null]));
  t.deepEqual(work(athenaRuns), work(duckRuns));
  t.deepEqual(work(trinoRuns), work(duckRuns));
  t.log(`${DAYS} days + full refresh of ${USERS} users: ${duckRows.raw.length} raw rows, ${duckRows.dim.length} dimension versions on each engine; ${front.statements.length} Athena statements, DDL rewrites: ${front.rewrites.length}`);
});
