/**
 * The raw layer's rules for the engines that speak Trino's SQL (Athena engine v3 and Trino): one
 * implementation of the load — stage, then ONE idempotent `MERGE INTO raw` that inserts new
 * versions, tombstones and live copies and rewrites a same-second version (athena-statements.ts) —
 * and of the table's upkeep. Each engine supplies its dialect (the dispatch of dbt-adapters):
 *
 * - how a statement runs (`query`), and what the catalog says of a table (`tableColumns`);
 * - its DDL (Athena's Hive DDL with backticks, or Trino's `CREATE TABLE … WITH (…)`);
 * - how a load's rows are staged as a table whose columns are all text (`openStage`): Athena
 *   writes JSON files to S3 under an external table; Trino inserts them into an Iceberg table.
 *
 * The MERGE, the counts, the watermark and the statistics are the same text on both engines.
 */

import { randomBytes } from 'node:crypto';

import { ATHENA_DDL_TYPE, assertGlueName, parseTimestampText, valueText } from './athena-sql.js';
import {
  QUARANTINE_COLUMNS,
  STAGE_SEQ,
  countNewQuarantineSql,
  countNewRawSql,
  mergeQuarantineSql,
  mergeRawSql,
  rawStatsSql,
  watermarkSql,
  type RawMergeSpec,
} from './athena-statements.js';
import { LoadLifecycle } from './load-lifecycle.js';
import {
  LOAD_COLUMNS,
  LOAD_COLUMN_NAMES,
  SchemaTypeChangeError,
  checkRawColumns,
  type ColumnSpec,
  type ColumnType,
  type LoadSummary,
  type QuarantineRow,
  type RawLoad,
  type RawRow,
  type RawWarehouse,
} from './raw-warehouse.js';


/** A column as the engine's catalog reports it. */
export interface CatalogColumn {
  name: string;
  /** The logical type, or undefined for a type the loader does not handle. */
  type: ColumnType | undefined;
  /** The engine's own type name, for messages. */
  engineType: string;
}

/** One staged row: every value as canonical text (athena-sql.ts `valueText`), null for NULL. */
export type StagedRow = Record<string, string | null>;

/** A load's rows on their way to a stage table whose columns are all text. */
export interface Stage {
  /** The stage table's name (in the raw database). */
  readonly table: string;
  /** Rows added so far. */
  readonly count: number;
  add(rows: StagedRow[], signal: AbortSignal): Promise<void>;
  /** Makes every added row readable as the stage table (after this, `add` is not called). */
  seal(signal: AbortSignal): Promise<void>;
  /** Drops the stage table and anything under it; best effort, idempotent. */
  discard(): Promise<void>;
}

export interface StageSpec {
  table: string;
  columns: readonly string[];
  /** `rows` or `quarantine`. */
  kind: 'rows' | 'quarantine';
  /** The load's unique token (also in the stage table's name). */
  token: string;
  runId: string;
}

/** Raw's configured columns: Glue-safe names, known types, then the rules every engine holds. */
export function validateRawColumns(columns: readonly ColumnSpec[]): void {
  for (const c of columns) {
    assertGlueName(c.name, 'raw column');
    if (!(c.type in ATHENA_DDL_TYPE)) throw new Error(`raw column ${c.name}: unknown type ${String(c.type)}`);
  }
  checkRawColumns(columns);
}

export interface TrinoDialectNames {
  database: string;
  table: string;
  quarantineTable: string;
}

export abstract class TrinoDialectRawWarehouse implements RawWarehouse {
  abstract readonly engine: 'athena' | 'trino';
  abstract readonly location: string;
  readonly database: string;
  readonly table: string;
  readonly quarantineTable: string;
  private readonly loads = new Set<TrinoDialectLoad>();
  private commitQueue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private swept = false;

  constructor(names: Partial<TrinoDialectNames>) {
    this.database = assertGlueName(names.database ?? 'sf_raw', 'database');
    this.table = assertGlueName(names.table ?? 'sf_user', 'table');
    this.quarantineTable = assertGlueName(names.quarantineTable ?? `${this.table}_quarantine`, 'table');
  }

  // --- the dialect -------------------------------------------------------------------------

  /** Runs a statement; rows as text (null = SQL NULL), without a header row. */
  abstract query(sql: string, purpose: string, signal?: AbortSignal): Promise<(string | null)[][]>;
  /** The table's columns, or null when it does not exist. Throws when it exists but is not Iceberg. */
  protected abstract tableColumns(table: string): Promise<CatalogColumn[] | null>;
  protected abstract ensureDatabase(): Promise<void>;
  /** Creates an Iceberg table (raw: partitioned by day of `_extracted_at`). */
  protected abstract createTable(table: string, columns: readonly ColumnSpec[], purpose: string): Promise<void>;
  protected abstract addColumns(table: string, columns: readonly ColumnSpec[]): Promise<void>;
  protected abstract openStage(spec: StageSpec): Stage;
  /** Removes stage tables (and files) that killed runs left behind; returns a notice or null. */
  protected abstract removeStaleStages(): Promise<string | null>;
  protected abstract releaseClients(): void;
  protected abstract notice(message: string): void;
  /** The run's cancellation. */
  protected abstract get runSignal(): AbortSignal | undefined;

  // --- shared behaviour --------------------------------------------------------------------

  protected assertOpen(): void {
    if (this.closed) throw new Error(`${this.constructor.name}(${this.location}) is closed`);
  }

  /** The run's signal combined with a load's. */
  protected combinedSignal(signal?: AbortSignal): AbortSignal | undefined {
    const signals = [this.runSignal, signal].filter((s): s is AbortSignal => s !== undefined);
    return signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
  }

  async ensureRawTables(columns: ColumnSpec[]): Promise<{ added: string[] }> {
    this.assertOpen();
    validateRawColumns(columns);
    const wanted = [...columns, ...LOAD_COLUMNS];
    await this.ensureDatabase();
    const existing = await this.tableColumns(this.table);
    const added: string[] = [];
    if (!existing) {
      await this.createTable(this.table, wanted, 'create raw table');
    } else {
      const byName = new Map(existing.map((c) => [c.name, c]));
      const missing: ColumnSpec[] = [];
      for (const c of wanted) {
        const have = byName.get(c.name);
        if (!have) {
          missing.push(c);
          continue;
        }
        if (have.type !== c.type) {
          throw new SchemaTypeChangeError(
            `${this.database}.${this.table}.${have.name} has type ${have.engineType} in the catalog, but the configuration ` +
              `declares ${c.type} (${ATHENA_DDL_TYPE[c.type]}). Raw keeps every observed version, so the loader will ` +
              `not change a column's type in place: rename the column in the config or migrate the table.`,
          );
        }
      }
      if (missing.length > 0) {
        await this.addColumns(this.table, missing);
        added.push(...missing.map((c) => c.name));
      }
    }
    if (!(await this.tableColumns(this.quarantineTable))) {
      await this.createTable(this.quarantineTable, QUARANTINE_COLUMNS, 'create quarantine table');
    }
    return { added };
  }

  /** Raw's data columns (without the load columns) as the catalog reports them; throws when raw is missing. */
  async rawDataColumns(): Promise<ColumnSpec[]> {
    const t = await this.tableColumns(this.table);
    if (!t) throw new Error(`${this.database}.${this.table} does not exist: call ensureRawTables first`);
    return t
      .filter((c) => !LOAD_COLUMN_NAMES.has(c.name))
      .map((c) => {
        if (!c.type) throw new Error(`${this.database}.${this.table}.${c.name} has unsupported type ${c.engineType}`);
        return { name: c.name, type: c.type };
      });
  }

  async watermark(cursorColumn: string): Promise<Date | null> {
    this.assertOpen();
    const t = await this.tableColumns(this.table);
    if (!t) return null;
    const names = new Set(t.map((c) => c.name));
    const cursor = cursorColumn.toLowerCase();
    if (!names.has(cursor)) throw new Error(`watermark: ${this.database}.${this.table} has no column ${cursorColumn}`);
    const rows = await this.query(watermarkSql(this.database, this.table, cursor, names.has('isdeleted')), 'read watermark');
    const value = rows[0]?.[0];
    return value === null || value === undefined || value === '' ? null : parseTimestampText(value);
  }

  async rawStats(): Promise<{ rows: number; ids: number }> {
    this.assertOpen();
    if (!(await this.tableColumns(this.table))) return { rows: 0, ids: 0 };
    const rows = await this.query(rawStatsSql(this.database, this.table), 'raw stats');
    return { rows: Number(rows[0]?.[0] ?? 0), ids: Number(rows[0]?.[1] ?? 0) };
  }

  async beginLoad(runId: string, extractedAt: Date): Promise<RawLoad> {
    this.assertOpen();
    if (!this.swept) {
      this.swept = true;
      try {
        const notice = await this.removeStaleStages();
        if (notice) this.notice(notice);
      } catch (err) {
        this.notice(`could not look for stale stage tables: ${(err as Error).message}`);
      }
    }
    if (typeof runId !== 'string' || runId.length === 0) throw new Error('beginLoad needs a run id');
    valueText(extractedAt, '_extracted_at', 'timestamp'); // validates
    const columns = await this.rawDataColumns();
    const token = randomBytes(6).toString('hex');
    const load = new TrinoDialectLoad(this, {
      runId,
      extractedAt,
      columns,
      rows: this.openStage({ table: `${this.table}_stage_${token}`, columns: [...columns.map((c) => c.name), STAGE_SEQ], kind: 'rows', token, runId }),
      quarantine: this.openStage({ table: `${this.quarantineTable}_stage_${token}`, columns: ['raw_json', 'reason'], kind: 'quarantine', token, runId }),
      onFinished: (l) => this.loads.delete(l),
    });
    this.loads.add(load);
    return load;
  }

  /** The name stage tables have: `<raw or quarantine table>_stage_<12 hex>`. */
  protected stageTableName(): RegExp {
    return new RegExp(`^(?:${this.table}|${this.quarantineTable})_stage_[0-9a-f]{12}$`);
  }

  /** Commits of concurrent loads run one after another. */
  serializeCommit<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.commitQueue.then(fn, fn);
    this.commitQueue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const load of [...this.loads]) await load.abort().catch(() => undefined);
    this.releaseClients();
  }
}

interface LoadContext {
  runId: string;
  extractedAt: Date;
  columns: ColumnSpec[];
  rows: Stage;
  quarantine: Stage;
  onFinished: (load: TrinoDialectLoad) => void;
}

class TrinoDialectLoad extends LoadLifecycle {
  private readonly columnSet: Set<string>;
  private readonly controller = new AbortController();
  /** Columns some appended row carried: the fields the extraction read (others stage as null). */
  private readonly observed = new Set<string>();
  /** Append order of staged rows (`_seq`): the last observation of a version wins. */
  private seq = 0;

  constructor(
    private readonly wh: TrinoDialectRawWarehouse,
    private readonly ctx: LoadContext,
  ) {
    super(ctx.runId);
    this.columnSet = new Set(ctx.columns.map((c) => c.name));
  }

  append(rows: RawRow[]): Promise<void> {
    return this.exclusive('append', async () => {
      if (rows.length === 0) return;
      const staged: StagedRow[] = new Array(rows.length);
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r]!;
        const out: StagedRow = {};
        let present = 0;
        for (const c of this.ctx.columns) {
          const v = row[c.name];
          if (v !== undefined) {
            present++;
            this.observed.add(c.name);
          }
          try {
            out[c.name] = valueText(v, c.name, c.type);
          } catch (err) {
            throw new Error(`raw load ${this.ctx.runId}: row ${r} of the batch: ${(err as Error).message}`, { cause: err });
          }
        }
        if (present !== Object.keys(row).length) {
          const unknown = Object.keys(row).filter((k) => !this.columnSet.has(k));
          throw new Error(
            `raw load ${this.ctx.runId}: row ${r} of the batch has columns ${unknown.join(', ')} that ` +
              `${this.wh.database}.${this.wh.table} lacks (add them with ensureRawTables before beginLoad)`,
          );
        }
        if (!out['id'] || out['systemmodstamp'] === null) {
          throw new Error(`raw load ${this.ctx.runId}: row ${r} of the batch lacks id or systemmodstamp (quarantine such records instead)`);
        }
        out[STAGE_SEQ] = String(this.seq + r);
        staged[r] = out;
      }
      this.seq += rows.length;
      await this.ctx.rows.add(staged, this.controller.signal);
    });
  }

  quarantine(rows: QuarantineRow[]): Promise<void> {
    return this.exclusive('quarantine', async () => {
      if (rows.length === 0) return;
      for (const q of rows) {
        if (typeof q.rawJson !== 'string' || typeof q.reason !== 'string') {
          throw new TypeError(`raw load ${this.ctx.runId}: quarantine rows need string rawJson and reason`);
        }
        valueText(q.rawJson, 'raw_json', 'string');
        valueText(q.reason, 'reason', 'string');
      }
      await this.ctx.quarantine.add(
        rows.map((q) => ({ raw_json: q.rawJson, reason: q.reason })),
        this.controller.signal,
      );
    });
  }

  private q(sql: string, purpose: string): Promise<(string | null)[][]> {
    return this.wh.query(sql, purpose, this.controller.signal);
  }

  protected merge(tombstonesAt: Date | undefined, liveAt: Date | undefined): Promise<LoadSummary> {
    return this.wh.serializeCommit(() => this.mergeStaged(tombstonesAt, liveAt));
  }

  private async mergeStaged(tombstonesAt: Date | undefined, liveAt: Date | undefined): Promise<LoadSummary> {
    const { runId, extractedAt } = this.ctx;
    const signal = this.controller.signal;
    const rawColumns = await this.wh.rawDataColumns();
    if (liveAt !== undefined) valueText(liveAt, 'observedAt', 'timestamp');
    if (tombstonesAt !== undefined) {
      valueText(tombstonesAt, 'tombstonesAt', 'timestamp');
      if (!rawColumns.some((c) => c.name === 'isdeleted')) {
        throw new Error(`raw load ${runId}: tombstones need an isdeleted column in ${this.wh.database}.${this.wh.table}`);
      }
    }
    const db = this.wh.database;
    const rows = this.ctx.rows;
    const quarantine = this.ctx.quarantine;
    const quarantineStage = quarantine.count > 0 ? this.stageName('quarantine') : undefined;

    let quarantined = 0;
    if (quarantine.count > 0) {
      await quarantine.seal(signal);
      const spec = { database: db, quarantine: this.wh.quarantineTable, stage: quarantineStage! };
      quarantined = Number((await this.q(countNewQuarantineSql(spec), 'count new quarantine rows'))[0]?.[0] ?? 0);
      if (quarantined > 0) await this.q(mergeQuarantineSql({ ...spec, runId, extractedAt }), 'merge quarantine');
    }

    let inserted = 0;
    let tombstones = 0;
    let revived = 0;
    let rewritten = 0;
    if (rows.count > 0 || tombstonesAt !== undefined) {
      await rows.seal(signal);
      const spec: RawMergeSpec = {
        database: db,
        raw: this.wh.table,
        stage: this.stageName('rows'),
        stagedColumns: this.ctx.columns,
        rawColumns,
        tombstonesAt,
        liveAt,
        quarantineStage,
        observedColumns: [...this.observed],
      };
      const counts = (await this.q(countNewRawSql(spec), 'count new raw versions'))[0];
      inserted = Number(counts?.[0] ?? 0);
      tombstones = Number(counts?.[1] ?? 0);
      revived = Number(counts?.[2] ?? 0);
      rewritten = Number(counts?.[3] ?? 0);
      if (inserted + tombstones + revived + rewritten > 0) await this.q(mergeRawSql({ ...spec, runId, extractedAt }), 'merge raw');
    }
    return { inserted, duplicates: rows.count - inserted - rewritten, rewritten, quarantined, tombstones, revived };
  }

  private stageName(kind: 'rows' | 'quarantine'): string {
    return kind === 'rows' ? this.ctx.rows.table : this.ctx.quarantine.table;
  }

  protected override beforeAbort(): void {
    this.controller.abort();
  }

  /** Best effort: a crashed run's leftovers are harmless (raw never references them). */
  protected async dropStaging(): Promise<void> {
    try {
      await this.ctx.rows.discard().catch(() => undefined);
      await this.ctx.quarantine.discard().catch(() => undefined);
    } finally {
      this.ctx.onFinished(this);
    }
  }
}
