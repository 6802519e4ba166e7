/**
 * Synthetic raw `sf_raw.sf_user` histories generated in DuckDB with SQL, shared by the dbt
 * benchmarks: day 0 = one row per user; on each later day a share of the users (deterministic
 * by hash(id, day)) change Division or Audit_Phase__c, always to a different value.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

export const DIVISIONS = ['North', 'South', 'East', 'West', 'Central'];
export const PHASES = ['Phase1', 'Phase2', 'Phase3', 'Complete'];

const sqlList = (xs: string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`;
export const tsLiteral = (d: Date) => `TIMESTAMP '${d.toISOString().replace('T', ' ').replace('Z', '')}'`;

export async function withDuck<T>(file: string, fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(file);
  const conn = await instance.connect();
  try {
    return await fn(conn);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

export async function scalar(c: DuckDBConnection, sql: string): Promise<number> {
  const r = await c.runAndReadAll(sql);
  return Number(r.getRowsJS()[0]?.[0] ?? NaN);
}

/** Midnight UTC of day 0 for a history of `days` days; day D+1 is yesterday, so its versions are older than "now". */
export function baseDay(days: number): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - (days + 2) * 86400_000);
}

export async function createRaw(c: DuckDBConnection): Promise<void> {
  await c.run(`CREATE SCHEMA IF NOT EXISTS sf_raw`);
  await c.run(
    `CREATE TABLE sf_raw.sf_user (id VARCHAR, name VARCHAR, division VARCHAR, audit_phase__c VARCHAR, ` +
      `isactive BOOLEAN, isdeleted BOOLEAN, lastmodifieddate TIMESTAMP, systemmodstamp TIMESTAMP, ` +
      `_extracted_at TIMESTAMP, _extraction_run_id VARCHAR)`,
  );
}

/**
 * Inserts the raw rows of days lo..hi (0 = one initial row per user). A user changes on day d
 * (1..D+1) when hash(id, d) % 100 < changedPct (percent of users per day); the change flips division when hash(d, id) is even, else
 * audit_phase__c; each column's value index = (initial index + its number of changes so far) mod K,
 * so a change always yields a different value. `extractedAt`: SQL for _extracted_at (column `d` and
 * `base` in scope).
 */
export async function insertDays(
  c: DuckDBConnection,
  n: number,
  lo: number,
  hi: number,
  base: Date,
  extractedAt: string,
  changedPct = 1,
): Promise<void> {
  const nd = DIVISIONS.length;
  const np = PHASES.length;
  await c.run(`
    INSERT INTO sf_raw.sf_user
    WITH u AS (
      SELECT '005' || lpad(CAST(i AS VARCHAR), 15, '0') AS id, i,
             CAST(hash(i, 'div') % ${nd} AS INTEGER) AS div0,
             CAST(hash(i, 'phase') % ${np} AS INTEGER) AS phase0,
             hash(i, 'active') % 20 <> 0 AS active
      FROM range(${n}) AS t(i)
    ),
    ev AS (
      SELECT u.*, d, hash(d, u.id) % 2 = 0 AS flips_div
      FROM u CROSS JOIN range(1, ${hi} + 1) AS dd(d)
      WHERE hash(u.id, d) % 100 < ${changedPct}
    ),
    counted AS (
      SELECT *,
        sum(CASE WHEN flips_div THEN 1 ELSE 0 END) OVER w AS div_changes,
        sum(CASE WHEN flips_div THEN 0 ELSE 1 END) OVER w AS phase_changes
      FROM ev
      WINDOW w AS (PARTITION BY id ORDER BY d ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ),
    obs AS (
      SELECT id, i, 0 AS d, div0 AS div_idx, phase0 AS phase_idx, active,
             ${tsLiteral(base)} - to_seconds(CAST(1 + hash(i, 'ts0') % (365 * 86400) AS BIGINT)) AS smod
      FROM u
      WHERE ${lo} = 0
      UNION ALL
      SELECT id, i, d, CAST((div0 + div_changes) % ${nd} AS INTEGER), CAST((phase0 + phase_changes) % ${np} AS INTEGER), active,
             ${tsLiteral(base)} + to_days(CAST(d AS INTEGER)) + to_seconds(CAST(hash(i, d, 'ts') % 86000 AS BIGINT))
      FROM counted
      WHERE d BETWEEN greatest(${lo}, 1) AND ${hi}
    )
    SELECT id, 'User ' || i, ${sqlList(DIVISIONS)}[div_idx + 1], ${sqlList(PHASES)}[phase_idx + 1], active, NULL,
           smod - INTERVAL 1 SECOND, smod,
           ${extractedAt},
           'bench-day-' || d
    FROM obs`);
}
