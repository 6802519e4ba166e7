/**
 * The raw layer on a DuckDB file (the embedded default): `sf_raw.sf_user`, an append-only log of
 * observed Salesforce User versions keyed by (id, systemmodstamp), and `sf_raw.sf_user_quarantine`.
 *
 * Loads stage rows in a TEMP table on their own connection (temp data never reaches the database
 * file or its WAL, so a crash while staging leaves raw untouched) and merge them into raw in one
 * transaction at commit. DuckDB allows one process per file: `close()` closes every connection and
 * the instance so that dbt can open the file next.
 */

import fs from 'node:fs';
import path from 'node:path';
import { LoadLifecycle } from './load-lifecycle.js';

import {
  DuckDBAppender,
  DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  timestampValue,
  type DuckDBValue,
} from '@duckdb/node-api';

import {
  DUCKDB_TYPE,
  encoderFor,
  logicalTypeOf,
  quoteIdent,
  type ValueEncoder,
} from './duckdb-values.js';
import {
  LOAD_COLUMNS,
  LOAD_COLUMN_NAMES,
  SchemaTypeChangeError,
  checkRawColumns,
  type ColumnSpec,
  type LoadSummary,
  type QuarantineRow,
  type RawLoad,
  type RawRow,
  type RawWarehouse,
} from './raw-warehouse.js';

export const RAW_SCHEMA = 'sf_raw';
export const RAW_TABLE = 'sf_user';
export const QUARANTINE_TABLE = 'sf_user_quarantine';
export { LOAD_COLUMNS };

const RAW = `${quoteIdent(RAW_SCHEMA)}.${quoteIdent(RAW_TABLE)}`;
const QUARANTINE = `${quoteIdent(RAW_SCHEMA)}.${quoteIdent(QUARANTINE_TABLE)}`;
const STAGE_ROWS = 'sfpipe_stage_rows';
const STAGE_QUARANTINE = 'sfpipe_stage_quarantine';
const STAGE_ROWS_SQL = `temp.main.${quoteIdent(STAGE_ROWS)}`;
const STAGE_QUARANTINE_SQL = `temp.main.${quoteIdent(STAGE_QUARANTINE)}`;

/**
 * Of raw rows of one version (written by another loader or by hand), the later observation: the
 * order dbt's staging uses (sf_user_observations), rowid last.
 */
const LATER_OBSERVATION_FIRST = '_extracted_at DESC NULLS LAST, _extraction_run_id DESC NULLS LAST, rowid DESC';
/** The latest version of each record in raw, as a subquery. */
const latestRawPerId = (where = ''): string =>
  `(SELECT * FROM ${RAW} ${where} QUALIFY row_number() OVER (PARTITION BY id ORDER BY systemmodstamp DESC, ${LATER_OBSERVATION_FIRST}) = 1)`;
/** The latest staged version of each record: the last one appended. */
const latestStagedPerId = (where: string): string => `(SELECT * FROM ${STAGE_ROWS_SQL} WHERE ${where} QUALIFY row_number() OVER (PARTITION BY id ORDER BY systemmodstamp DESC, rowid DESC) = 1)`;

/**
 * Files this process has open. DuckDB's file lock is per process, so a second instance on the same
 * file in the same process is not refused by DuckDB — and two instances writing one file corrupt it.
 */
const openFiles = new Set<string>();

/** Test hooks for a load (crash tests); production callers pass nothing. */
export interface DuckDbLoadOptions {
  /** Awaited inside the commit transaction after every statement, right before COMMIT. */
  beforeCommit?: () => void | Promise<void>;
  /** Rows per batch of the commit's statements (default COMMIT_BATCH_ROWS). */
  commitBatchRows?: number;
}

/**
 * Rows per batch of a commit: staged rows, or raw rows for a full refresh's tombstones. Each of
 * the commit's statements runs once per batch of ids, so that its aggregates, joins and windows
 * hold one batch and fit the default memory_limit (a window or join over a million rows does not
 * spill: DuckDB fails to pin blocks). Not smaller than DuckDB's row group (122,880 rows): a batch
 * that fills one has it written to the file as it is inserted, where the rows of smaller batches
 * stay in memory until COMMIT (50k-row batches failed a 1M-row merge under 32 MB; 125k passed 40 MB).
 */
export const COMMIT_BATCH_ROWS = 125_000;

/** How many batches a commit of `rows` rows runs in. */
export function commitBatches(rows: number, batchRows = COMMIT_BATCH_ROWS): number {
  if (!Number.isInteger(batchRows) || batchRows < 1) throw new RangeError(`commit batch rows must be a positive integer, got ${batchRows}`);
  return Math.max(1, Math.ceil(rows / batchRows));
}

/** The condition that `id` is in batch `b` of `batches` (a hash of the id picks it, on every table alike). */
function inBatch(b: number, batches: number, id = 'id'): string {
  return batches === 1 ? 'true' : `hash(${id}) % ${batches} = ${b}`;
}

async function countOf(conn: DuckDBConnection, sql: string): Promise<number> {
  return Number((await conn.runAndReadAll(sql)).getRowsJS()[0]?.[0] ?? 0);
}

/**
 * The default DuckDB memory_limit of the raw warehouse (warehouse.duckdb.memory_limit). 48MB held a
 * 1M-user load on a quiet machine but failed a 100k-row re-load with tombstones (one batch) in CI.
 */
export const DEFAULT_MEMORY_LIMIT = '64MB';

interface TableColumn {
  name: string;
  /** DuckDB type as information_schema spells it, e.g. VARCHAR. */
  dataType: string;
}

function ts(date: Date): DuckDBValue {
  const millis = date.getTime();
  if (!Number.isFinite(millis)) throw new TypeError('invalid Date');
  return timestampValue(BigInt(millis) * 1000n);
}

function validateColumns(columns: readonly ColumnSpec[]): void {
  for (const c of columns) {
    if (typeof c.name !== 'string' || c.name.length === 0) throw new Error('raw column with an empty name');
    if (!(c.type in DUCKDB_TYPE)) throw new Error(`raw column ${c.name}: unknown type ${String(c.type)}`);
  }
  // DuckDB identifiers are case-insensitive: Name and name would be the same column.
  checkRawColumns(columns);
}

async function tableColumns(conn: DuckDBConnection, schema: string, table: string): Promise<TableColumn[]> {
  const reader = await conn.runAndReadAll(
    `SELECT column_name, data_type FROM information_schema.columns
     WHERE table_catalog = current_database() AND table_schema = $1 AND table_name = $2
     ORDER BY ordinal_position`,
    [schema, table],
  );
  return reader.getRowsJS().map(([name, dataType]) => ({ name: String(name), dataType: String(dataType) }));
}

/** The raw columns a load writes from its rows: everything but the load columns. */
async function rawDataColumns(conn: DuckDBConnection): Promise<ColumnSpec[]> {
  const cols = await tableColumns(conn, RAW_SCHEMA, RAW_TABLE);
  if (cols.length === 0) throw new Error(`${RAW_SCHEMA}.${RAW_TABLE} does not exist: call ensureRawTables first`);
  const out: ColumnSpec[] = [];
  for (const c of cols) {
    if (LOAD_COLUMN_NAMES.has(c.name.toLowerCase())) continue;
    const type = logicalTypeOf(c.dataType);
    if (!type) throw new Error(`${RAW_SCHEMA}.${RAW_TABLE}.${c.name} has unsupported type ${c.dataType}`);
    out.push({ name: c.name, type });
  }
  return out;
}

async function inTransaction<T>(conn: DuckDBConnection, body: () => Promise<T>): Promise<T> {
  await conn.run('BEGIN TRANSACTION');
  let result: T;
  try {
    result = await body();
  } catch (err) {
    try {
      await conn.run('ROLLBACK');
    } catch {
      // The transaction may already be aborted; the original error is what matters.
    }
    throw err;
  }
  await conn.run('COMMIT');
  return result;
}

export class DuckDbRawWarehouse implements RawWarehouse {
  readonly engine = 'duckdb' as const;
  private readonly loads = new Set<DuckDbRawLoad>();
  private commitQueue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly location: string,
    private readonly fileKey: string,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly memoryLimit: string,
  ) {}

  /** Opens (creating if needed) the DuckDB file at `filePath`; the process holds its lock until `close()`. */
  /**
   * `memoryLimit` bounds DuckDB's buffer pool (staging and the merge spill to a temp
   * directory beside the file beyond it), so the extractor's memory does not grow with the
   * org's size.
   */
  static async open(filePath: string, opts: { memoryLimit?: string } = {}): Promise<DuckDbRawWarehouse> {
    if (filePath === '' || filePath === ':memory:') throw new Error('DuckDbRawWarehouse needs a file path');
    const dir = path.dirname(path.resolve(filePath));
    fs.mkdirSync(dir, { recursive: true });
    const key = path.join(fs.realpathSync(dir), path.basename(filePath));
    if (openFiles.has(key)) {
      throw new Error(`DuckDB file ${filePath} is already open in this process: close the other DuckDbRawWarehouse first`);
    }
    openFiles.add(key);
    const memoryLimit = opts.memoryLimit ?? DEFAULT_MEMORY_LIMIT;
    try {
      const instance = await DuckDBInstance.create(filePath, {
        memory_limit: memoryLimit,
        temp_directory: `${path.resolve(filePath)}.tmp`,
        // preserve_insertion_order stays true (the default): with false, the rows of the commit's
        // batched INSERTs were kept in memory until COMMIT (+20–30 MB at 1M rows).
      });
      let conn: DuckDBConnection;
      try {
        conn = await instance.connect();
      } catch (err) {
        instance.closeSync();
        throw err;
      }
      return new DuckDbRawWarehouse(filePath, key, instance, conn, memoryLimit);
    } catch (err) {
      openFiles.delete(key);
      throw err;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`DuckDbRawWarehouse(${this.location}) is closed`);
  }

  async ensureRawTables(columns: ColumnSpec[]): Promise<{ added: string[] }> {
    this.assertOpen();
    validateColumns(columns);
    const wanted = [...columns, ...LOAD_COLUMNS];
    return inTransaction(this.conn, async () => {
      await this.conn.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(RAW_SCHEMA)}`);
      const existing = await tableColumns(this.conn, RAW_SCHEMA, RAW_TABLE);
      const added: string[] = [];
      if (existing.length === 0) {
        const defs = wanted.map((c) => `${quoteIdent(c.name)} ${DUCKDB_TYPE[c.type]}`).join(', ');
        await this.conn.run(`CREATE TABLE ${RAW} (${defs})`);
      } else {
        const byName = new Map(existing.map((c) => [c.name.toLowerCase(), c]));
        const missing: ColumnSpec[] = [];
        for (const c of wanted) {
          const have = byName.get(c.name.toLowerCase());
          if (!have) {
            missing.push(c);
            continue;
          }
          const want = DUCKDB_TYPE[c.type];
          if (have.dataType.toUpperCase() !== want) {
            throw new SchemaTypeChangeError(
              `${RAW_SCHEMA}.${RAW_TABLE}.${have.name} has type ${have.dataType} in ${this.location}, ` +
                `but the configuration declares ${c.type} (${want}). Raw keeps every observed version, so the ` +
                `loader will not change a column's type in place: rename the column in the config or migrate ` +
                `the table (a renamed column is added next to the old one; a migration is e.g. ALTER TABLE ` +
                `${RAW_SCHEMA}.${RAW_TABLE} ALTER ${quoteIdent(have.name)} TYPE ${want}).`,
            );
          }
        }
        for (const c of missing) {
          await this.conn.run(`ALTER TABLE ${RAW} ADD COLUMN ${quoteIdent(c.name)} ${DUCKDB_TYPE[c.type]}`);
          added.push(c.name);
        }
      }
      await this.conn.run(
        `CREATE TABLE IF NOT EXISTS ${QUARANTINE} (raw_json VARCHAR, reason VARCHAR, ` +
          `_extraction_run_id VARCHAR, _extracted_at TIMESTAMP)`,
      );
      return { added };
    });
  }

  private async rawColumnNames(): Promise<Set<string> | null> {
    const cols = await tableColumns(this.conn, RAW_SCHEMA, RAW_TABLE);
    return cols.length === 0 ? null : new Set(cols.map((c) => c.name.toLowerCase()));
  }

  async watermark(cursorColumn: string): Promise<Date | null> {
    this.assertOpen();
    const cols = await this.rawColumnNames();
    if (!cols) return null;
    if (!cols.has(cursorColumn.toLowerCase())) {
      throw new Error(`watermark: ${RAW_SCHEMA}.${RAW_TABLE} has no column ${cursorColumn}`);
    }
    const live = cols.has('isdeleted') ? 'WHERE coalesce(isdeleted, false) = false' : '';
    const reader = await this.conn.runAndReadAll(
      `SELECT epoch_ms(max(${quoteIdent(cursorColumn)})::TIMESTAMP) FROM ${RAW} ${live}`,
    );
    const value = reader.getRowsJS()[0]?.[0];
    return value === null || value === undefined ? null : new Date(Number(value));
  }

  async rawStats(): Promise<{ rows: number; ids: number }> {
    this.assertOpen();
    if (!(await this.rawColumnNames())) return { rows: 0, ids: 0 };
    const rows = await countOf(this.conn, `SELECT count(*) FROM ${RAW}`);
    // The distinct ids a batch of ids at a time, as a commit merges them: one count(DISTINCT id)
    // over every row of a large raw table ran out of memory_limit right after a 1M-row load.
    const batches = commitBatches(rows);
    let ids = 0;
    for (let b = 0; b < batches; b++) ids += await countOf(this.conn, `SELECT count(DISTINCT id) FROM ${RAW} WHERE ${inBatch(b, batches)}`);
    return { rows, ids };
  }

  async beginLoad(runId: string, extractedAt: Date, options: DuckDbLoadOptions = {}): Promise<RawLoad> {
    this.assertOpen();
    ts(extractedAt); // validates
    const columns = await rawDataColumns(this.conn);
    const conn = await this.instance.connect();
    try {
      const defs = columns.map((c) => `${quoteIdent(c.name)} ${DUCKDB_TYPE[c.type]}`).join(', ');
      await conn.run(`CREATE TEMP TABLE ${quoteIdent(STAGE_ROWS)} (${defs})`);
      await conn.run(`CREATE TEMP TABLE ${quoteIdent(STAGE_QUARANTINE)} (raw_json VARCHAR, reason VARCHAR)`);
      const rowAppender = await conn.createAppender(STAGE_ROWS, 'main', 'temp');
      const quarantineAppender = await conn.createAppender(STAGE_QUARANTINE, 'main', 'temp');
      const load = new DuckDbRawLoad(
        {
          conn,
          columns,
          rowAppender,
          quarantineAppender,
          runId,
          extractedAt,
          options,
          memoryLimit: this.memoryLimit,
          serialize: (fn) => this.serializeCommit(fn),
          onFinished: (l) => this.loads.delete(l),
        },
      );
      this.loads.add(load);
      return load;
    } catch (err) {
      conn.closeSync();
      throw err;
    }
  }

  /** Commits of concurrent loads run one after another. */
  private serializeCommit<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.commitQueue.then(fn, fn);
    this.commitQueue = next.catch(() => undefined);
    return next;
  }

  /** Aborts open loads, closes every connection and the instance: the file lock is released on return. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const load of [...this.loads]) {
      await load.abort().catch(() => undefined);
    }
    try {
      this.conn.closeSync();
    } finally {
      try {
        this.instance.closeSync();
      } finally {
        openFiles.delete(this.fileKey);
      }
    }
  }
}

/** Rows per data chunk: DuckDB's vector size (STANDARD_VECTOR_SIZE); a larger chunk is refused. */
const CHUNK_ROWS = 2048;

/**
 * Appends rows through ONE data chunk, reset and refilled for every 2048 rows. A data chunk's
 * vectors and strings live in native memory that is freed only when V8 collects its small JS
 * wrapper, so a new chunk per batch (DuckDBDataChunkWriter) held hundreds of MB at a million
 * rows, none of it visible to V8 or to DuckDB's memory_limit.
 */
class ChunkWriter {
  private readonly chunk: DuckDBDataChunk;

  constructor(private readonly appender: DuckDBAppender) {
    const types = [];
    for (let c = 0; c < appender.columnCount; c++) types.push(appender.columnType(c));
    this.chunk = DuckDBDataChunk.create(types);
  }

  /** Appends the rows to the appender (flushing it to the table is the caller's). */
  append(rows: readonly DuckDBValue[][]): void {
    for (let from = 0; from < rows.length; from += CHUNK_ROWS) {
      this.chunk.reset();
      this.chunk.setRows(rows.slice(from, from + CHUNK_ROWS));
      this.appender.appendDataChunk(this.chunk);
    }
  }
}

interface LoadContext {
  conn: DuckDBConnection;
  columns: ColumnSpec[];
  rowAppender: DuckDBAppender;
  quarantineAppender: DuckDBAppender;
  runId: string;
  extractedAt: Date;
  options: DuckDbLoadOptions;
  /** The instance's memory_limit, for the message of a commit that exceeds it. */
  memoryLimit: string;
  serialize: <T>(fn: () => Promise<T>) => Promise<T>;
  onFinished: (load: DuckDbRawLoad) => void;
}

class DuckDbRawLoad extends LoadLifecycle {
  private readonly columnNames: string[];
  private readonly columnSet: Set<string>;
  private readonly encoders: ValueEncoder[];
  private readonly rowWriter: ChunkWriter;
  private readonly quarantineWriter: ChunkWriter;
  /** Columns some appended row carried: the fields the extraction read (others stage as null). */
  private readonly observed: boolean[];
  private staged = 0;
  private appendersClosed = false;

  constructor(private readonly ctx: LoadContext) {
    super(ctx.runId);
    this.columnNames = ctx.columns.map((c) => c.name);
    this.columnSet = new Set(this.columnNames);
    this.encoders = ctx.columns.map((c) => encoderFor(c.name, c.type));
    this.observed = ctx.columns.map(() => false);
    this.rowWriter = new ChunkWriter(ctx.rowAppender);
    this.quarantineWriter = new ChunkWriter(ctx.quarantineAppender);
  }

  async append(rows: RawRow[]): Promise<void> {
    this.assertActive('append');
    if (rows.length === 0) return;
    const n = this.columnNames.length;
    // Encode the whole batch first so a bad row leaves nothing of the batch staged.
    const encoded: DuckDBValue[][] = new Array(rows.length);
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r]!;
      const values: DuckDBValue[] = new Array(n);
      let present = 0;
      for (let c = 0; c < n; c++) {
        const v = row[this.columnNames[c]!];
        if (v !== undefined) {
          present++;
          this.observed[c] = true;
        }
        try {
          values[c] = this.encoders[c]!(v);
        } catch (err) {
          throw new Error(`raw load ${this.ctx.runId}: row ${r} of the batch: ${(err as Error).message}`, { cause: err });
        }
      }
      if (present !== Object.keys(row).length) {
        const unknown = Object.keys(row).filter((k) => !this.columnSet.has(k));
        throw new Error(
          `raw load ${this.ctx.runId}: row ${r} of the batch has columns ${unknown.join(', ')} that ` +
            `${RAW_SCHEMA}.${RAW_TABLE} lacks (add them with ensureRawTables before beginLoad)`,
        );
      }
      const id = row['id'];
      const stamp = row['systemmodstamp'];
      if (id === null || id === undefined || id === '' || stamp === null || stamp === undefined) {
        throw new Error(
          `raw load ${this.ctx.runId}: row ${r} of the batch lacks id or systemmodstamp (quarantine such records instead)`,
        );
      }
      encoded[r] = values;
    }
    try {
      this.rowWriter.append(encoded);
      this.ctx.rowAppender.flushSync();
    } catch (err) {
      throw this.outOfMemory(err as Error, `stage ${this.staged + rows.length} rows`);
    }
    this.staged += rows.length;
  }

  async quarantine(rows: QuarantineRow[]): Promise<void> {
    this.assertActive('quarantine');
    if (rows.length === 0) return;
    for (const q of rows) {
      if (typeof q.rawJson !== 'string' || typeof q.reason !== 'string') {
        throw new TypeError(`raw load ${this.ctx.runId}: quarantine rows need string rawJson and reason`);
      }
    }
    this.quarantineWriter.append(rows.map((q) => [q.rawJson, q.reason]));
    this.ctx.quarantineAppender.flushSync();
  }

  protected merge(tombstonesAt: Date | undefined, liveAt: Date | undefined): Promise<LoadSummary> {
    return this.ctx.serialize(() =>
      this.mergeStaged(tombstonesAt, liveAt).catch((err: Error) => {
        throw this.outOfMemory(err, `merge ${this.staged} staged rows`);
      }),
    );
  }

  /** DuckDB's out-of-memory errors (which advise a SET) as ours: the setting to raise. */
  private outOfMemory(err: Error, doing: string): Error {
    if (!/Out of Memory Error|could not allocate block|failed to pin block/i.test(err.message)) return err;
    return new Error(
      `raw load ${this.ctx.runId}: DuckDB needed more than its memory_limit (${this.ctx.memoryLimit}) to ${doing}; raw is unchanged. ` +
        `Fix: raise warehouse.duckdb.memory_limit (e.g. to 256MB) and run again`,
      { cause: err },
    );
  }

  private async mergeStaged(tombstonesAt: Date | undefined, liveAt: Date | undefined): Promise<LoadSummary> {
    const { conn, runId, extractedAt } = this.ctx;
    this.closeAppenders();
    const rawCols = await rawDataColumns(conn);
    const rawNames = new Set(rawCols.map((c) => c.name.toLowerCase()));
    if (tombstonesAt !== undefined) {
      ts(tombstonesAt);
      if (!rawNames.has('isdeleted')) {
        throw new Error(`raw load ${runId}: tombstones need an isdeleted column in ${RAW_SCHEMA}.${RAW_TABLE}`);
      }
    }
    const stagedCols = this.columnNames.filter((c) => rawNames.has(c.toLowerCase())).map(quoteIdent);
    const loadCols = LOAD_COLUMNS.map((c) => quoteIdent(c.name)).join(', ');

    const dataCols = stagedCols.filter((c) => c !== quoteIdent('id') && c !== quoteIdent('systemmodstamp'));
    // A version is rewritten only from what this load read: a field it did not query (dropped
    // from the config, optional and hidden) stages as null and must not blank raw's value.
    const observedNames = this.columnNames.filter((_, i) => this.observed[i]);
    const observedCols = new Set(observedNames.map(quoteIdent));
    const allCols = rawCols.map((c) => c.name);
    const rewriteCols = dataCols.filter((c) => observedCols.has(c) && c !== quoteIdent('isdeleted'));
    // One row per version: its last staged observation (rowid is the append order; a Bulk→REST
    // fallback stages a record twice). max(rowid) per key is a grouped aggregate, which spills.
    // Every statement runs once per batch of ids: a hash of the id picks the batch, on staging's
    // side and raw's alike, so a batch's versions, joins and windows are a slice of the load.
    const batches = commitBatches(
      tombstonesAt === undefined ? this.staged : Math.max(this.staged, await countOf(conn, `SELECT count(*) FROM ${RAW}`)),
      this.ctx.options.commitBatchRows,
    );
    const batch = (b: number, id = 'id'): string => inBatch(b, batches, id);
    const versions = (b: number) => `(SELECT s.id, s.systemmodstamp${dataCols.map((c) => `, s.${c}`).join('')}
           FROM ${STAGE_ROWS_SQL} s
           JOIN (SELECT max(rowid) AS last FROM ${STAGE_ROWS_SQL} WHERE ${batch(b)} GROUP BY id, systemmodstamp) k ON s.rowid = k.last
           WHERE ${batch(b, 's.id')})`;
    const eachBatch = async (statement: (b: number) => Promise<{ rowsChanged: number }>): Promise<number> => {
      let changed = 0;
      for (let b = 0; b < batches; b++) changed += (await statement(b)).rowsChanged;
      return changed;
    };

    return inTransaction(conn, async () => {
      // SystemModstamp has whole seconds: two changes within one second share (id, systemmodstamp).
      // A load that sees other values for a version raw has takes them (the later observation),
      // with this load's stamp so that dbt reprocesses the user. Equal values change nothing. A
      // tombstone under that key (the record came back in the very second a full refresh missed
      // it) is replaced by the version seen.
      const isdeleted = quoteIdent('isdeleted');
      const setDeleted = rawNames.has('isdeleted') ? [`${isdeleted} = ${stagedCols.includes(isdeleted) ? `s.${isdeleted}` : 'NULL'}`] : [];
      const rewritten = rewriteCols.length
        ? await eachBatch((b) => conn.run(
            `UPDATE ${RAW} AS r
             SET ${[...rewriteCols.map((c) => `${c} = s.${c}`), ...setDeleted].join(', ')}, ${quoteIdent('_extracted_at')} = $1, ${quoteIdent('_extraction_run_id')} = $2
             FROM ${versions(b)} s
             WHERE ${batch(b, 'r.id')} AND r.id = s.id AND r.systemmodstamp = s.systemmodstamp
               AND (${rawNames.has('isdeleted') ? 'coalesce(r.isdeleted, false) = true OR ' : ''}${rewriteCols.map((c) => `r.${c} IS DISTINCT FROM s.${c}`).join(' OR ')})`,
            [ts(extractedAt), runId],
          ))
        : 0;
      let revived = 0;
      // Raw's latest row for a record newer than the version the source shows can only be one a
      // load wrote (a tombstone, or a live copy like this one): per record, SystemModstamps are
      // committed in order. Where it disagrees with what the load saw (deleted, or other values —
      // a record back after its tombstone, a late change that became visible after such a row),
      // a live copy of the seen version, stamped `liveAt`, makes raw's latest row agree again.
      // Fields this load did not read keep the latest raw version's values.
      // It runs before this load's versions are inserted, on raw as committed (a scan of the
      // uncommitted rows is slow): the same rows, since a record it copies has a raw row newer
      // than every version the load saw, which the insert and the rewrite leave its latest.
      if (liveAt !== undefined && rawNames.has('isdeleted')) {
        const read = new Set(observedNames.map((c) => c.toLowerCase()));
        const live = allCols.map((name) => {
          const lower = name.toLowerCase();
          if (lower === 'isdeleted') return 'NULL';
          if (lower === 'systemmodstamp') return '$3';
          return read.has(lower) ? `s.${quoteIdent(name)}` : `l.${quoteIdent(name)}`;
        });
        const differs = rewriteCols.map((c) => ` OR l.${c} IS DISTINCT FROM s.${c}`).join('');
        // Only the records this load saw whose raw row is newer than the newest version seen (`behind`,
        // computed once per batch): a few, found by grouped aggregates (which spill), so that the
        // windows picking the latest rows (which hold their input in memory) see those few.
        revived = await eachBatch((b) => conn.run(
          `INSERT INTO ${RAW} (${allCols.map(quoteIdent).join(', ')}, ${loadCols})
           WITH behind AS MATERIALIZED (
             SELECT s.id
             FROM (SELECT id, max(systemmodstamp) AS m FROM ${STAGE_ROWS_SQL} WHERE ${batch(b)} GROUP BY id) s
             JOIN (SELECT id, max(systemmodstamp) AS m FROM ${RAW} WHERE id IN (SELECT id FROM ${STAGE_ROWS_SQL} WHERE ${batch(b)}) GROUP BY id) r
               ON r.id = s.id
             WHERE s.m < r.m)
           SELECT ${live.join(', ')}, $1, $2
           FROM ${latestRawPerId('WHERE id IN (SELECT id FROM behind)')} l
           JOIN ${latestStagedPerId('id IN (SELECT id FROM behind)')} s ON s.id = l.id
           WHERE l.systemmodstamp < $3 AND s.systemmodstamp < l.systemmodstamp
             AND (coalesce(l.isdeleted, false) = true${differs})`,
          [ts(extractedAt), runId, ts(liveAt)],
        ));
      }

      const inserted = await eachBatch((b) => conn.run(
        `INSERT INTO ${RAW} (${stagedCols.join(', ')}, ${loadCols})
         SELECT ${stagedCols.map((c) => `s.${c}`).join(', ')}, $1, $2
         FROM ${versions(b)} s
         WHERE NOT EXISTS (
           SELECT 1 FROM ${RAW} r WHERE ${batch(b, 'r.id')} AND r.id = s.id AND r.systemmodstamp = s.systemmodstamp
         )`,
        [ts(extractedAt), runId],
      ));

      let tombstones = 0;
      if (tombstonesAt !== undefined) {
        const select = allCols.map((name) => {
          const lower = name.toLowerCase();
          if (lower === 'isdeleted') return 'true';
          if (lower === 'systemmodstamp') return '$3';
          return `l.${quoteIdent(name)}`;
        });
        // The latest version of each record; a tombstone copies it unless it is already deleted,
        // the load saw the record, or it is not older than the refresh (which then cannot have missed it).
        tombstones = await eachBatch((b) => conn.run(
          `INSERT INTO ${RAW} (${allCols.map(quoteIdent).join(', ')}, ${loadCols})
           SELECT ${select.join(', ')}, $1, $2
           FROM ${latestRawPerId(`WHERE ${batch(b)}`)} l
           WHERE coalesce(l.isdeleted, false) = false
             AND l.systemmodstamp < $3
             AND NOT EXISTS (SELECT 1 FROM ${STAGE_ROWS_SQL} s WHERE ${batch(b, 's.id')} AND s.id = l.id)
             -- A record the load saw but quarantined still exists.
             AND NOT EXISTS (SELECT 1 FROM ${STAGE_QUARANTINE_SQL} q WHERE json_extract_string(q.raw_json, '$.Id') = l.id)`,
          [ts(extractedAt), runId, ts(tombstonesAt)],
        ));
      }

      const quarantined = await conn.run(
        `INSERT INTO ${QUARANTINE} (raw_json, reason, _extraction_run_id, _extracted_at)
         SELECT q.raw_json, q.reason, $2, $1
         FROM (SELECT DISTINCT raw_json, reason FROM ${STAGE_QUARANTINE_SQL}) q
         WHERE NOT EXISTS (
           SELECT 1 FROM ${QUARANTINE} x WHERE x.raw_json = q.raw_json AND x.reason = q.reason
         )`,
        [ts(extractedAt), runId],
      );

      await this.ctx.options.beforeCommit?.();
      return {
        inserted,
        duplicates: this.staged - inserted - rewritten,
        rewritten,
        quarantined: quarantined.rowsChanged,
        tombstones,
        revived,
      };
    });
  }

  private closeAppenders(): void {
    if (this.appendersClosed) return;
    this.appendersClosed = true;
    // closeSync flushes; a failure here means staged data was rejected, which commit must surface.
    try {
      this.ctx.rowAppender.closeSync();
    } finally {
      this.ctx.quarantineAppender.closeSync();
    }
  }

  /** Drops the staging tables and closes the load's connection. */
  protected async dropStaging(): Promise<void> {
    const { conn } = this.ctx;
    try {
      try {
        this.closeAppenders();
      } catch {
        // Already closed by commit, or unusable: the temp tables go away with the connection anyway.
      }
      await conn.run(`DROP TABLE IF EXISTS ${STAGE_ROWS_SQL}`).catch(() => undefined);
      await conn.run(`DROP TABLE IF EXISTS ${STAGE_QUARANTINE_SQL}`).catch(() => undefined);
    } finally {
      conn.closeSync();
      this.ctx.onFinished(this);
    }
  }
}
