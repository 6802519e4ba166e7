/**
 * The SCD property test (test/dbt/scd-property.test.ts) on Trino: random user histories (the same
 * generator, seeded, ids of their own) loaded into a raw schema of this test on the shared Trino
 * (Iceberg on moto's Glue/S3) through the production loader (TrinoRawWarehouse), in batches with
 * out-of-order arrival and exact repeats; after each batch a dbt-trino build of stg_sf_user and
 * dim_sf_user_scd (the first one full, then incremental Iceberg MERGEs, with and without the
 * _extracted_at lookback).
 *
 * Checked after each step: every dimension row, all columns but _dbt_updated_at (user_key and
 * _scd_id included), equals the TypeScript oracle over the batches loaded so far; user_key is
 * unique and stable; the rows of users without a new raw version do not change (_dbt_updated_at
 * included). At the end: a --full-refresh build over the same raw equals the incremental result.
 *
 * All histories share one raw table, so the whole test is five dbt invocations. The dbt models
 * write to the fixed schemas sf_staging and sf_curated: the test holds withTrinoDbtSchemas.
 *
 * Seed: SFPIPE_PROPERTY_SEED (default below); every failure message names it.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { sqlIdentifier, sqlString, sqlTimestamp } from '../../assets/warehouse/athena-sql.js';
import { TrinoQueryRunner, type TrinoConnection } from '../../assets/warehouse/trino-query.js';
import { TrinoRawWarehouse } from '../../assets/warehouse/trino-raw-warehouse.js';
import { describeFailures, dbtWithEnv, loadObservations } from '../dbt/dbt-helpers.js';
import { checkKeys, checkUntouched, generate, repro, type Generated } from '../dbt/scd-histories.js';
import { diffScd, expectedScd, formatKeyedRow, withKeys, type KeyedScdRow, type Observation } from '../dbt/scd-oracle.js';
import { tempDir } from '../helpers/temp.js';
import { dropGlueDatabases, sharedTrino, TRINO_ICEBERG_CATALOG, withTrinoDbtSchemas } from '../services/trino/start.js';

const SEED = Number(process.env.SFPIPE_PROPERTY_SEED ?? 20251206);
const USERS = 300;
const BATCHES = 4;
/** User ids of this test's histories: 005T00000000, 005T00000001, … */
const ID_PREFIX = '005T';
const SELECT = ['--select', 'dim_sf_user_scd+', 'stg_sf_user', '--exclude-resource-type', 'unit_test', '--target', 'prod'];
const LOOKBACK_0 = ['--vars', '{scd_extracted_at_lookback_minutes: 0}'];
const RAW_TABLE = 'sf_user';
const DIM = `${sqlIdentifier(TRINO_ICEBERG_CATALOG)}.${sqlIdentifier('sf_curated')}.${sqlIdentifier('dim_sf_user_scd')}`;

interface TrinoDimRow extends KeyedScdRow {
  /** Epoch microseconds. */
  _dbt_updated_at: number;
}

/** Every row of sf_curated.dim_sf_user_scd on Trino, timestamps as epoch ms, sorted by (user_id, valid_from). */
async function readDim(runner: TrinoQueryRunner): Promise<TrinoDimRow[]> {
  // date_diff counts whole units: a timestamp with sub-millisecond digits still shows in _scd_id.
  const ms = (col: string) => `date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00', ${col})`;
  const result = await runner.run(
    `SELECT user_key, user_id, name, division, audit_phase__c, is_active, is_deleted,
            ${ms('update_date')}, ${ms('valid_from')}, ${ms('valid_to')}, is_current, _scd_id,
            CAST(CAST(_dbt_updated_at AS timestamp(6)) AS varchar)
     FROM ${DIM}
     ORDER BY user_id, valid_from, user_key`,
    'read the dimension',
  );
  const num = (v: unknown) => (v === null ? null : Number(v));
  // 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) as epoch microseconds.
  const micros = (text: string) => {
    const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}\.\d{3})(\d{3})$/.exec(text);
    if (!m) throw new Error(`unexpected _dbt_updated_at text ${JSON.stringify(text)}`);
    return Date.parse(`${m[1]}T${m[2]}Z`) * 1000 + Number(m[3]);
  };
  return result.rows.map((r) => ({
    user_key: r[0] as string,
    user_id: r[1] as string,
    name: r[2] as string | null,
    division: r[3] as string | null,
    audit_phase__c: r[4] as string | null,
    is_active: r[5] as boolean | null,
    is_deleted: r[6] as boolean,
    update_date: num(r[7])!,
    valid_from: num(r[8])!,
    valid_to: num(r[9]),
    is_current: r[10] as boolean,
    _scd_id: r[11] as string,
    _dbt_updated_at: micros(r[12] as string),
  }));
}

const content = (rows: TrinoDimRow[]): KeyedScdRow[] => rows.map(({ _dbt_updated_at: _u, ...rest }) => rest);

/**
 * Exact repeats (plain SQL, bypassing the loader's dedupe) of rows already in raw: same
 * (id, systemmodstamp) and data, stamped with this load's _extracted_at / run id; one copy per key
 * given (a key given twice gets two).
 */
async function insertExactRepeats(runner: TrinoQueryRunner, raw: string, keys: Observation[], runId: string, extractedAt: Date): Promise<void> {
  if (keys.length === 0) return;
  const values = keys.map((k) => `(${sqlString(k.id)}, ${sqlTimestamp(new Date(k.systemmodstamp))})`).join(',\n');
  const result = await runner.run(
    `INSERT INTO ${raw} (id, name, division, audit_phase__c, isactive, isdeleted, lastmodifieddate, systemmodstamp, _extracted_at, _extraction_run_id)
     SELECT r.id, r.name, r.division, r.audit_phase__c, r.isactive, r.isdeleted, r.lastmodifieddate, r.systemmodstamp,
            ${sqlTimestamp(extractedAt)}, ${sqlString(runId)}
     FROM (VALUES ${values}) AS k(id, stamp)
     JOIN (
       SELECT *, row_number() OVER (PARTITION BY id, systemmodstamp ORDER BY _extracted_at) AS rn
       FROM ${raw}
     ) AS r ON r.id = k.id AND r.systemmodstamp = k.stamp AND r.rn = 1`,
    'insert exact repeats',
  );
  const count = result.updateCount ?? Number(result.rows[0]?.[0]);
  if (count !== keys.length) throw new Error(`insertExactRepeats: ${count} of ${keys.length} keys found in raw`);
}

function fail(t: ExecutionContext, gen: Generated, message: string, users: string[] = []): void {
  t.fail(`seed ${SEED}: ${message}${users.length ? `\n${repro(gen, users)}` : ''}`);
}

test('dim_sf_user_scd on Trino: incremental MERGE steps == oracle == full refresh over random histories', async (t) => {
  t.timeout(20 * 60_000);
  const started = performance.now();
  const gen = generate(SEED, { users: USERS, batches: BATCHES, idPrefix: ID_PREFIX });
  const histories = new Set(gen.batches.flatMap((b) => b.loaderRows.map((o) => o.id))).size;
  t.log(`seed ${SEED} (override with SFPIPE_PROPERTY_SEED); ${histories} histories; ${JSON.stringify(gen.stats)}; late arrivals ${gen.lateArrivals}`);
  // The generator really produces what the property is about.
  t.true(histories >= 200, `seed ${SEED}: only ${histories} histories`);
  t.true(gen.lateArrivals > 20, `seed ${SEED}: too few late arrivals (${gen.lateArrivals})`);
  t.true(gen.stats.tombstones! > 20 && gen.stats.returns! > 10, `seed ${SEED}: too few tombstones/returns`);
  t.true(gen.stats.sqlRepeatsSame! > 10 && gen.stats.sqlRepeatsLater! > 10, `seed ${SEED}: too few repeats`);

  const trino = await sharedTrino();
  const server = new URL(trino.url);
  const rawSchema = `sf_raw_prop_${process.pid}_${Date.now().toString(36)}`;
  const connection: TrinoConnection = { server: trino.url, catalog: TRINO_ICEBERG_CATALOG, schema: rawSchema, user: 'sfpipe' };
  const runner = new TrinoQueryRunner(connection);
  const raw = `${sqlIdentifier(TRINO_ICEBERG_CATALOG)}.${sqlIdentifier(rawSchema)}.${sqlIdentifier(RAW_TABLE)}`;
  const env = {
    SFPIPE_DBT_PROFILE: 'sf_user_pipeline_trino',
    SFPIPE_SCHEMA_SUFFIX: '',
    SFPIPE_TRINO_AUTH: 'none',
    SFPIPE_TRINO_HOST: server.hostname,
    SFPIPE_TRINO_PORT: server.port,
    SFPIPE_TRINO_SCHEME: 'http',
    SFPIPE_TRINO_USER: 'sfpipe',
    SFPIPE_TRINO_CATALOG: TRINO_ICEBERG_CATALOG,
    SFPIPE_RAW_SCHEMA: rawSchema,
  };
  const dir = tempDir('sfpipe-scd-prop-trino-');
  // Kept when the test fails, for dbt's logs and compiled SQL.
  t.teardown(async () => {
    if (!t.passed) return;
    fs.rmSync(dir, { recursive: true, force: true });
    await dropGlueDatabases(trino.motoEndpoint, [rawSchema]);
  });
  const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);
  /**
   * Runs dbt: null when it succeeded, else what failed. `built`: the models were built (only data
   * tests failed), so the dimension can still be compared with the oracle, which says more.
   */
  const dbt = async (stateDir: string, args: string[], what: string): Promise<{ built: boolean; message: string } | null> => {
    const t0 = performance.now();
    const call = await dbtWithEnv(path.join(dir, stateDir), env, args);
    t.log(`${what}: dbt ${args.filter((a) => a !== '--target' && a !== 'prod').join(' ')} (${seconds(t0)} s)`);
    if (call.exitCode === 0) return null;
    const models = call.results.filter((r) => r.unique_id.startsWith('model.'));
    return { built: models.length > 0 && models.every((r) => r.status === 'success'), message: `${what} (dbt ${args.join(' ')}) failed: ${describeFailures(call)}` };
  };
  /** Fails on a diff from the oracle, else on dbt's failure; true when the test failed. */
  const failed = (dbtFailure: { message: string } | null, diff: { users: string[]; text: string } | null, what: string): boolean => {
    const also = dbtFailure ? `\n(and ${dbtFailure.message})` : '';
    if (diff) fail(t, gen, `${what}: ${diff.text}${also}`, diff.users);
    else if (dbtFailure) fail(t, gen, dbtFailure.message);
    return diff !== null || dbtFailure !== null;
  };

  await withTrinoDbtSchemas(async () => {
    const lockedAt = performance.now();
    t.log(`holding the dbt schemas after ${seconds(started)} s`);
    const keys = new Map<string, string>();
    const arrived: Observation[] = [];
    let last: TrinoDimRow[] = [];

    for (let i = 0; i < BATCHES; i++) {
      const batch = gen.batches[i]!;
      const runId = `prop-${SEED}-b${i + 1}`;
      // _extracted_at: the real UTC time of the load, after the previous dbt run started.
      const extractedAt = new Date();
      const t0 = performance.now();
      const inserted = await loadObservations(new TrinoRawWarehouse({ connection, database: rawSchema, table: RAW_TABLE }), batch.loaderRows, runId, extractedAt);
      await insertExactRepeats(runner, raw, batch.sqlRepeats, runId, extractedAt);
      arrived.push(...batch.loaderRows, ...batch.sqlRepeats);
      t.log(`batch ${i + 1}: ${batch.loaderRows.length} rows to the loader (${inserted} new versions), ${batch.sqlRepeats.length} exact repeats by SQL (${seconds(t0)} s)`);

      // Step 1 builds the table; 2 and 4 select users by _extracted_at only (lookback 0);
      // 3 keeps the default lookback (every user is recomputed).
      const step = await dbt('state', ['build', ...SELECT, ...(i === 1 || i === 3 ? LOOKBACK_0 : [])], `step ${i + 1}`);
      if (step && !step.built) return fail(t, gen, step.message);

      const previous = last;
      last = await readDim(runner);
      const diff = diffScd(content(last), withKeys(expectedScd(arrived)), 5, formatKeyedRow);
      if (failed(step, diff, `after step ${i + 1} (batches 1..${i + 1}) the dimension on Trino differs from the oracle`)) return;
      checkKeys(t, last, keys, `step ${i + 1}`, SEED);
      // Users without a new raw version keep their rows, _dbt_updated_at included.
      if (i > 0) checkUntouched(t, batch, arrived, previous, last, `seed ${SEED}, step ${i + 1}`);
    }
    t.is(new Set(last.map((r) => r.user_id)).size, histories, `seed ${SEED}: every user has rows`);

    // --full-refresh over the same raw (it replaces the incremental table, already read).
    const full = await dbt('state', ['build', ...SELECT, '--full-refresh'], 'full refresh');
    if (full && !full.built) return fail(t, gen, full.message);
    const fullRows = await readDim(runner);
    const fullDiff = diffScd(content(last), content(fullRows), 5, formatKeyedRow);
    if (failed(full, fullDiff, 'incremental (actual) != full refresh (expected) on Trino')) return;
    checkKeys(t, fullRows, keys, 'full refresh', SEED);

    const rawRows = (await runner.rowsAsText(`SELECT count(*) FROM ${raw}`, 'count raw rows'))[0]?.[0];
    t.log(
      `${histories} histories, ${arrived.length} observations given (${rawRows} raw rows), ${last.length} dimension rows: ` +
        `oracle holds after each of ${BATCHES} steps and the full refresh agrees (${seconds(lockedAt)} s holding the schemas, ${seconds(started)} s in all)`,
    );
  });
});
