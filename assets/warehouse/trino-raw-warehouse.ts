/**
 * The raw layer on the user's own Trino over Iceberg (any catalog the Iceberg connector supports:
 * Glue, Hive metastore, REST, JDBC, Nessie…). Same rules and the same MERGE as Athena (see
 * trino-dialect-warehouse.ts); only the DDL and the staging differ:
 *
 * - DDL is Trino's: `CREATE TABLE … WITH (format, partitioning = ARRAY['day(_extracted_at)'])`,
 *   one `ALTER TABLE … ADD COLUMN` per column.
 * - A load's rows are staged in an Iceberg table of text columns by batched `INSERT … VALUES`
 *   (each statement below Trino's default query length limit). No external table is needed, so
 *   the Iceberg catalog is all the loader asks of the cluster. Values become SQL text only through
 *   athena-sql.ts `sqlString`.
 */

import { TrinoQueryRunner, type TrinoConnection, type TrinoStatementRecord } from './trino-query.js';
import { logicalTypeOfGlue, sqlIdentifier, sqlString } from './athena-sql.js';
import { dmlName } from './athena-statements.js';
import type { ColumnSpec, ColumnType } from './raw-warehouse.js';
import { TrinoDialectRawWarehouse, type CatalogColumn, type Stage, type StageSpec, type StagedRow } from './trino-dialect-warehouse.js';

export interface TrinoWarehouseOptions {
  connection: TrinoConnection;
  /** The schema (database) of the raw tables; default sf_raw. */
  database?: string;
  table?: string;
  quarantineTable?: string;
  /** Where the schema's tables live, when the catalog has no default (`CREATE SCHEMA … WITH (location)`). */
  schemaLocation?: string;
  /** Upper bound of one INSERT's text (Trino's query.max-length defaults to 1,000,000). */
  maxStatementChars?: number;
  signal?: AbortSignal;
  onStatement?: (record: TrinoStatementRecord) => void;
  /** Stage tables older than this are leftovers of a killed run; default 6 h. */
  staleStageAfterMs?: number;
  onNotice?: (message: string) => void;
}

/** Trino's type for each logical column type (Iceberg timestamps are microseconds). */
export const TRINO_DDL_TYPE: Readonly<Record<ColumnType, string>> = {
  string: 'varchar',
  boolean: 'boolean',
  timestamp: 'timestamp(6)',
  double: 'double',
  bigint: 'bigint',
  date: 'date',
};

const q = sqlIdentifier;

export function trinoCreateSchemaSql(database: string, location?: string): string {
  return `CREATE SCHEMA IF NOT EXISTS ${q(database)}${location ? ` WITH (location = ${sqlString(location)})` : ''}`;
}

/** An Iceberg table (parquet); `partitionByDay` names the timestamp column raw is partitioned on. */
export function trinoCreateTableSql(database: string, table: string, columns: readonly { name: string; ddlType: string }[], partitionByDay?: string): string {
  const props = [`format = 'PARQUET'`, ...(partitionByDay ? [`partitioning = ARRAY[${sqlString(`day(${partitionByDay})`)}]`] : [])];
  return [
    `CREATE TABLE IF NOT EXISTS ${dmlName(database, table)} (`,
    columns.map((c) => `  ${q(c.name)} ${c.ddlType}`).join(',\n'),
    `)`,
    `WITH (${props.join(', ')})`,
  ].join('\n');
}

export function trinoAddColumnSql(database: string, table: string, column: ColumnSpec): string {
  return `ALTER TABLE ${dmlName(database, table)} ADD COLUMN ${q(column.name)} ${TRINO_DDL_TYPE[column.type]}`;
}

export function trinoDropTableSql(database: string, table: string): string {
  return `DROP TABLE IF EXISTS ${dmlName(database, table)}`;
}

export class TrinoRawWarehouse extends TrinoDialectRawWarehouse {
  readonly engine = 'trino' as const;
  readonly location: string;
  readonly runner: TrinoQueryRunner;

  constructor(readonly opts: TrinoWarehouseOptions) {
    super(opts);
    this.runner = new TrinoQueryRunner(opts.connection, opts.onStatement);
    this.location = `trino ${opts.connection.server}, ${opts.connection.catalog}.${this.database}.${this.table}`;
  }

  protected get runSignal(): AbortSignal | undefined {
    return this.opts.signal;
  }

  async query(sql: string, purpose: string, signal?: AbortSignal): Promise<(string | null)[][]> {
    const combined = this.combinedSignal(signal);
    return this.runner.rowsAsText(sql, purpose, combined ? { signal: combined } : {});
  }

  protected async tableColumns(table: string): Promise<CatalogColumn[] | null> {
    const rows = await this.query(
      [
        `SELECT column_name, data_type FROM information_schema.columns`,
        `WHERE table_schema = ${sqlString(this.database)} AND table_name = ${sqlString(table)}`,
        `ORDER BY ordinal_position`,
      ].join('\n'),
      'read table columns',
    );
    if (rows.length === 0) return null;
    return rows.map(([name, type]) => ({ name: name!, type: logicalTypeOfGlue(type ?? ''), engineType: type ?? '' }));
  }

  protected async ensureDatabase(): Promise<void> {
    await this.query(trinoCreateSchemaSql(this.database, this.opts.schemaLocation), 'create raw schema');
  }

  protected async createTable(table: string, columns: readonly ColumnSpec[], purpose: string): Promise<void> {
    const partition = columns.some((c) => c.name === '_extracted_at') && table === this.table ? '_extracted_at' : undefined;
    await this.query(trinoCreateTableSql(this.database, table, columns.map((c) => ({ name: c.name, ddlType: TRINO_DDL_TYPE[c.type] })), partition), purpose);
  }

  protected async addColumns(table: string, columns: readonly ColumnSpec[]): Promise<void> {
    for (const c of columns) await this.query(trinoAddColumnSql(this.database, table, c), 'add raw column');
  }

  protected openStage(spec: StageSpec): Stage {
    return new InsertStage(this, spec, this.opts.maxStatementChars ?? 900_000);
  }

  protected notice(message: string): void {
    this.opts.onNotice?.(message);
  }

  protected releaseClients(): void {}

  /** Stage tables whose first snapshot is older than `staleStageAfterMs` (killed runs' leftovers). */
  protected async removeStaleStages(now: Date = new Date()): Promise<string | null> {
    const cutoff = now.getTime() - (this.opts.staleStageAfterMs ?? 6 * 3600_000);
    const pattern = this.stageTableName();
    const tables = (await this.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = ${sqlString(this.database)}`, 'list stage tables'))
      .map((r) => r[0] ?? '')
      .filter((name) => pattern.test(name));
    const dropped: string[] = [];
    for (const name of tables) {
      const [row] = await this.query(`SELECT CAST(to_unixtime(min(committed_at)) * 1000 AS bigint) FROM ${q(this.database)}.${q(`${name}$snapshots`)}`, 'stage table age');
      const created = row?.[0] === null || row?.[0] === undefined ? NaN : Number(row[0]);
      if (!Number.isFinite(created) || created > cutoff) continue;
      await this.query(trinoDropTableSql(this.database, name), 'drop stale stage table');
      dropped.push(name);
    }
    return dropped.length ? `removed what killed runs left behind: ${dropped.length} stage table(s) in ${this.database} (${dropped.join(', ')})` : null;
  }
}

/** A load's rows in an Iceberg table of text columns, written by batched INSERTs as they arrive. */
class InsertStage implements Stage {
  private pending: string[] = [];
  private pendingChars = 0;
  private created = false;
  count = 0;

  constructor(
    private readonly wh: TrinoRawWarehouse,
    private readonly spec: StageSpec,
    private readonly maxChars: number,
  ) {}

  get table(): string {
    return this.spec.table;
  }

  private get head(): string {
    return `INSERT INTO ${dmlName(this.wh.database, this.spec.table)} (${this.spec.columns.map((c) => q(c)).join(', ')}) VALUES\n`;
  }

  async add(rows: StagedRow[], signal: AbortSignal): Promise<void> {
    const budget = this.maxChars - this.head.length;
    for (const r of rows) {
      const tuple = `(${this.spec.columns.map((c) => (r[c] === null || r[c] === undefined ? 'NULL' : sqlString(r[c]!))).join(', ')})`;
      if (tuple.length + 2 > budget) throw new Error(`raw load ${this.spec.runId}: one staged row is ${tuple.length} characters, more than a Trino statement may hold (${this.maxChars})`);
      if (this.pendingChars + tuple.length + 2 > budget) await this.flush(signal);
      this.pending.push(tuple);
      this.pendingChars += tuple.length + 2;
    }
    this.count += rows.length;
  }

  private async create(signal: AbortSignal): Promise<void> {
    if (this.created) return;
    this.created = true;
    await this.wh.query(
      trinoCreateTableSql(this.wh.database, this.spec.table, this.spec.columns.map((name) => ({ name, ddlType: 'varchar' }))),
      this.spec.kind === 'rows' ? 'create stage table' : 'create quarantine stage table',
      signal,
    );
  }

  private async flush(signal: AbortSignal): Promise<void> {
    await this.create(signal);
    if (this.pending.length === 0) return;
    const sql = this.head + this.pending.join(',\n');
    this.pending = [];
    this.pendingChars = 0;
    await this.wh.query(sql, this.spec.kind === 'rows' ? 'stage rows' : 'stage quarantined records', signal);
  }

  async seal(signal: AbortSignal): Promise<void> {
    await this.flush(signal);
  }

  async discard(): Promise<void> {
    this.pending = [];
    if (!this.created) return;
    this.created = false;
    await this.wh.query(trinoDropTableSql(this.wh.database, this.spec.table), 'drop stage table').catch(() => undefined);
  }
}
