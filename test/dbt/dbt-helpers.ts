/** Helpers for the dbt tests: raw rows in a DuckDB file, dbt invocations, reading the dimension. */
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { locateDbtProject, type DbtProject } from '../../assets/dbt/dbt-project.js';
import { runDbt } from '../../assets/dbt/run-dbt.js';
import { DuckDbRawWarehouse } from '../../assets/warehouse/duckdb-raw-warehouse.js';
import type { ColumnSpec, RawWarehouse } from '../../assets/warehouse/raw-warehouse.js';
import { USER_COLUMNS } from '../assets/fixtures/duckdb-fixture.js';
import { silentLogger } from '../../runtime/logging.js';
import type { ExecutionContext } from 'ava';
import { tempDir } from '../helpers/temp.js';
import type { Observation, ScdRow } from './scd-oracle.js';

export const RAW_COLUMNS: ColumnSpec[] = USER_COLUMNS;

/** Loads observations through the production loader (which drops (id, systemmodstamp) repeats). */
export async function loadWithWarehouse(file: string, observations: Observation[], runId: string, extractedAt: Date): Promise<number> {
  return loadObservations(await DuckDbRawWarehouse.open(file), observations, runId, extractedAt);
}

/** Loads observations into raw through a warehouse's loader (one load, committed), then closes it. */
export async function loadObservations(wh: RawWarehouse, observations: Observation[], runId: string, extractedAt: Date): Promise<number> {
  try {
    await wh.ensureRawTables(RAW_COLUMNS);
    const load = await wh.beginLoad(runId, extractedAt);
    await load.append(
      observations.map((o) => ({
        id: o.id,
        name: o.name,
        division: o.division,
        audit_phase__c: o.audit_phase__c,
        isactive: o.isactive,
        isdeleted: o.isdeleted,
        lastmodifieddate: new Date(o.lastmodifieddate),
        systemmodstamp: new Date(o.systemmodstamp),
      })),
    );
    return (await load.commit()).inserted;
  } finally {
    await wh.close();
  }
}

/** Runs `body` with a connection on `file`; the file is closed (dbt may open it) once it returns. */
export async function withDuckDb<T>(file: string, body: (run: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(file);
  const conn = await instance.connect();
  try {
    return await body(async (sql) => (await conn.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[]);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * Inserts exact repeats (plain SQL, bypassing the loader's dedupe) of rows already in raw:
 * same (id, systemmodstamp) and data, stamped with this load's _extracted_at / run id.
 */
export async function insertExactRepeats(file: string, keys: { id: string; systemmodstamp: number }[], runId: string, extractedAt: Date): Promise<number> {
  if (keys.length === 0) return 0;
  return withDuckDb(file, async (run) => {
    const values = keys.map((k) => `(${sqlString(k.id)}, ${k.systemmodstamp})`).join(', ');
    // One copy per requested key (a key requested twice gets two copies).
    const rows = await run(
      `INSERT INTO sf_raw.sf_user (id, name, division, audit_phase__c, isactive, isdeleted, lastmodifieddate, systemmodstamp, _extracted_at, _extraction_run_id)
       SELECT r.id, r.name, r.division, r.audit_phase__c, r.isactive, r.isdeleted, r.lastmodifieddate, r.systemmodstamp,
              make_timestamp(${BigInt(extractedAt.getTime()) * 1000n}), ${sqlString(runId)}
       FROM (VALUES ${values}) AS k(id, ms)
       JOIN (
         SELECT * FROM sf_raw.sf_user
         QUALIFY row_number() OVER (PARTITION BY id, systemmodstamp ORDER BY _extracted_at) = 1
       ) AS r ON r.id = k.id AND epoch_ms(r.systemmodstamp) = k.ms
       RETURNING 1`,
    );
    if (rows.length !== keys.length) throw new Error(`insertExactRepeats: ${rows.length} of ${keys.length} keys found in raw`);
    return rows.length;
  });
}

export interface DimRow extends ScdRow {
  user_key: string;
  _dbt_updated_at: number;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Every row of sf_curated.dim_sf_user_scd, timestamps as epoch ms, sorted by (user_id, valid_from). */
export async function readDim(file: string): Promise<DimRow[]> {
  return withDuckDb(file, async (run) => {
    const rows = await run(
      `SELECT user_key, user_id, name, division, audit_phase__c, is_active, is_deleted,
              epoch_ms(update_date) AS update_date, epoch_ms(valid_from) AS valid_from,
              epoch_ms(valid_to) AS valid_to, is_current, epoch_us(_dbt_updated_at) AS _dbt_updated_at
       FROM sf_curated.dim_sf_user_scd
       ORDER BY user_id, valid_from, user_key`,
    );
    return rows.map((r) => ({
      user_key: String(r.user_key),
      user_id: String(r.user_id),
      name: (r.name as string | null) ?? null,
      division: (r.division as string | null) ?? null,
      audit_phase__c: (r.audit_phase__c as string | null) ?? null,
      is_active: (r.is_active as boolean | null) ?? null,
      is_deleted: r.is_deleted as boolean,
      update_date: num(r.update_date)!,
      valid_from: num(r.valid_from)!,
      valid_to: num(r.valid_to),
      is_current: r.is_current as boolean,
      _dbt_updated_at: num(r._dbt_updated_at)!,
    }));
  });
}

/** The columns compared with the oracle. */
export function content(rows: DimRow[]): ScdRow[] {
  return rows.map(({ user_key: _k, _dbt_updated_at: _u, ...rest }) => rest);
}

export interface DbtRunResult {
  unique_id: string;
  status: string;
  failures: number | null;
  message: string | null;
}

export interface DbtCall {
  exitCode: number;
  errors: string[];
  results: DbtRunResult[];
}

/** Runs dbt on the repo's project with its target/ and logs under `stateDir`, on the DuckDB file. */
export async function dbt(stateDir: string, duckdbFile: string, args: string[]): Promise<DbtCall> {
  return dbtWithEnv(stateDir, { SFPIPE_DUCKDB_PATH: duckdbFile }, args);
}

/** Runs dbt on the repo's project with its target/ and logs under `stateDir`, with `env` (the profile's variables). */
export async function dbtWithEnv(stateDir: string, env: Record<string, string>, args: string[]): Promise<DbtCall> {
  const project: DbtProject = locateDbtProject(stateDir);
  fs.mkdirSync(project.targetPath, { recursive: true });
  const resultsFile = path.join(project.targetPath, 'run_results.json');
  fs.rmSync(resultsFile, { force: true });
  const outcome = await runDbt({ project, args, env, log: silentLogger() });
  const results = fs.existsSync(resultsFile)
    ? (JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as { results: DbtRunResult[] }).results
    : [];
  return { exitCode: outcome.exitCode, errors: outcome.errors, results };
}

/** A one-line summary of the non-passing results of a dbt call, for failure messages. */
export function describeFailures(call: DbtCall): string {
  const bad = call.results.filter((r) => !['success', 'pass', 'warn'].includes(r.status));
  return `exit ${call.exitCode}; ${bad.map((r) => `${r.unique_id}: ${r.status} ${r.message ?? ''}`).join(' | ') || 'no failing node'}; errors: ${call.errors.join(' | ')}`;
}

/** Copies a closed DuckDB file (and its WAL, if any). */
export function copyDuckDb(from: string, to: string): void {
  fs.copyFileSync(from, to);
  if (fs.existsSync(`${from}.wal`)) fs.copyFileSync(`${from}.wal`, `${to}.wal`);
}

/**
 * Writes raw rows with plain SQL, as another loader or a person could (the production loader keeps
 * one row per version): each with its own `_extracted_at` (epoch ms) and run id, in the order given.
 */
export async function insertRawRows(file: string, rows: (Observation & { _extracted_at: number; _extraction_run_id: string })[]): Promise<void> {
  if (rows.length === 0) return;
  const text = (v: string | null) => (v === null ? 'NULL' : sqlString(v));
  const bool = (v: boolean | null) => (v === null ? 'NULL' : String(v));
  const stamp = (ms: number) => `make_timestamp(${BigInt(ms) * 1000n})`;
  await withDuckDb(file, async (run) => {
    for (const r of rows) {
      await run(
        `INSERT INTO sf_raw.sf_user (id, name, division, audit_phase__c, isactive, isdeleted, lastmodifieddate, systemmodstamp, _extracted_at, _extraction_run_id)
         VALUES (${text(r.id)}, ${text(r.name)}, ${text(r.division)}, ${text(r.audit_phase__c)}, ${bool(r.isactive)}, ${bool(r.isdeleted)},
                 ${stamp(r.lastmodifieddate)}, ${stamp(r.systemmodstamp)}, ${stamp(r._extracted_at)}, ${text(r._extraction_run_id)})`,
      );
    }
  });
}

/**
 * A temporary folder for one dbt test: the DuckDB file and dbt's state inside it. It is kept when
 * the test fails, for a look at the file and dbt's logs.
 */
export function dbtWorkspace(t: ExecutionContext, prefix: string): { dir: string; file: string; stateDir: string } {
  const dir = tempDir(prefix);
  t.teardown(() => {
    if (t.passed) fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, file: path.join(dir, 'warehouse.duckdb'), stateDir: path.join(dir, 'state') };
}
