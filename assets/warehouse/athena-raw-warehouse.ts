/**
 * The raw layer on Athena (engine v3) over Iceberg tables in the Glue catalog: `sf_raw.sf_user`, an
 * append-only log of observed Salesforce User versions keyed by (id, systemmodstamp), and
 * `sf_raw.sf_user_quarantine`. Same contract as DuckDbRawWarehouse.
 *
 * Staging: a load writes its rows as newline-delimited JSON objects to S3 (under
 * `stagingLocation/<run>-<token>/`), every value as canonical text (athena-sql.ts `valueText`).
 * At commit an external (Hive, JSON SerDe) table is laid over that prefix and ONE `MERGE INTO raw`
 * inserts the versions (and tombstones) raw lacks: a single Iceberg commit, so raw is either
 * untouched or fully loaded, and a rerun inserts nothing. The quarantine MERGE runs first (also
 * idempotent), so a crash between the two is repaired by the rerun. The staging table and objects
 * are dropped afterwards (and on abort); raw never sees them.
 *
 * Why a file and not batched `INSERT … VALUES`: the number of Athena queries per run stays constant
 * (≈ 8) instead of growing with the org (a 256 KB query string holds ~700 user rows, so a 100k-user
 * full refresh would be ~150 INSERTs, each an Iceberg commit on the staging table and a DML slot
 * against the workgroup's quota); record values never become SQL text (JSON encoding, not SQL
 * quoting, carries names with quotes, backslashes, newlines and any script); and the staged file is
 * an exact, inspectable copy of what the run merged.
 */

import { randomBytes } from 'node:crypto';

import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';

import { createAwsClients, describeAwsSettings, type AwsClients, type AwsClientSettings } from '../aws/clients.js';
import { GlueCatalog, parseS3Url, readIcebergMetadata, type GlueTableInfo, type IcebergSnapshotInfo } from './athena-glue.js';
import { AthenaQueryRunner, type StatementRecord } from './athena-query.js';
import { LoadLifecycle } from './load-lifecycle.js';
import { ATHENA_DDL_TYPE, assertGlueName, parseTimestampText, valueText } from './athena-sql.js';
import {
  STAGE_SEQ,
  QUARANTINE_COLUMNS,
  addColumnsSql,
  countNewQuarantineSql,
  countNewRawSql,
  createIcebergTableSql,
  createStageTableSql,
  dropTableSql,
  mergeQuarantineSql,
  mergeRawSql,
  rawStatsSql,
  watermarkSql,
  type RawMergeSpec,
} from './athena-statements.js';
import {
  SchemaTypeChangeError,
  type ColumnSpec,
  type ColumnType,
  type LoadSummary,
  type QuarantineRow,
  type RawLoad,
  type RawRow,
  type RawWarehouse,
} from './raw-warehouse.js';

export const LOAD_COLUMNS: readonly ColumnSpec[] = [
  { name: '_extracted_at', type: 'timestamp' },
  { name: '_extraction_run_id', type: 'string' },
];
const LOAD_COLUMN_NAMES = new Set(LOAD_COLUMNS.map((c) => c.name));

export interface AthenaWarehouseOptions {
  aws: AwsClientSettings;
  workGroup: string;
  /** s3:// prefix for query results; omit when the workgroup enforces one. */
  outputLocation?: string;
  /** Athena data catalog (default AwsDataCatalog). */
  catalog?: string;
  /** Glue catalog id (account), when not the caller's own. */
  glueCatalogId?: string;
  database?: string;
  table?: string;
  quarantineTable?: string;
  /** s3:// prefix under which the Iceberg tables live (`<prefix>/<table>/`). */
  tableLocation: string;
  /** s3:// prefix for staged run files (give it a lifecycle rule: stale stages of crashed runs). */
  stagingLocation: string;
  /** Size at which a staged part file is uploaded (default 32 MiB). */
  stagePartBytes?: number;
  pollInitialMs?: number;
  pollMaxMs?: number;
  queryTimeoutMs?: number;
  /** The run's cancellation (SIGTERM): in-flight queries are stopped with StopQueryExecution. */
  signal?: AbortSignal;
  /** Every statement Athena accepted, with its query execution id (for the run log). */
  onStatement?: (record: StatementRecord) => void;
  /** Prebuilt clients (tests); otherwise built from `aws` and destroyed by close(). */
  clients?: AwsClients;
  /**
   * Stage tables and staged files older than this are leftovers of a killed run (a load's own
   * live only for the load) and are removed before the next load; default 6 h.
   */
  staleStageAfterMs?: number;
  /** What the warehouse did on its own (e.g. removed a killed run's leftovers), for the run log. */
  onNotice?: (message: string) => void;
}

function validateColumns(columns: readonly ColumnSpec[]): void {
  const seen = new Set<string>();
  for (const c of columns) {
    assertGlueName(c.name, 'raw column');
    if (!(c.type in ATHENA_DDL_TYPE)) throw new Error(`raw column ${c.name}: unknown type ${String(c.type)}`);
    if (LOAD_COLUMN_NAMES.has(c.name)) throw new Error(`raw column ${c.name} is reserved for the loader`);
    if (seen.has(c.name)) throw new Error(`raw column ${c.name} is configured twice`);
    seen.add(c.name);
  }
  const byName = new Map(columns.map((c) => [c.name, c]));
  const require = (name: string, type: ColumnType): void => {
    const c = byName.get(name);
    if (!c) throw new Error(`raw columns must include ${name} (the version key is (id, systemmodstamp))`);
    if (c.type !== type) throw new Error(`raw column ${name} must be of type ${type}, got ${c.type}`);
  };
  require('id', 'string');
  require('systemmodstamp', 'timestamp');
  const isdeleted = byName.get('isdeleted');
  if (isdeleted && isdeleted.type !== 'boolean') throw new Error(`raw column isdeleted must be of type boolean, got ${isdeleted.type}`);
}

/** A staged file's key below the staging location: `<run>-<12 hex>/(rows|quarantine)/part-NNNNN.json`. */
const STAGED_FILE = /^[A-Za-z0-9._-]+-[0-9a-f]{12}\/(?:rows|quarantine)\/part-\d{5}\.json$/;

function joinS3(prefix: string, ...parts: string[]): string {
  return [prefix.replace(/\/+$/, ''), ...parts].join('/') + '/';
}

export class AthenaRawWarehouse implements RawWarehouse {
  readonly engine = 'athena' as const;
  readonly location: string;
  readonly database: string;
  readonly table: string;
  readonly quarantineTable: string;
  readonly runner: AthenaQueryRunner;
  readonly catalog: GlueCatalog;
  private readonly clients: AwsClients;
  private readonly ownsClients: boolean;
  private readonly loads = new Set<AthenaRawLoad>();
  private commitQueue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private swept = false;

  constructor(readonly opts: AthenaWarehouseOptions) {
    this.database = assertGlueName(opts.database ?? 'sf_raw', 'database');
    this.table = assertGlueName(opts.table ?? 'sf_user', 'table');
    this.quarantineTable = assertGlueName(opts.quarantineTable ?? `${this.table}_quarantine`, 'table');
    parseS3Url(opts.tableLocation);
    parseS3Url(opts.stagingLocation);
    this.ownsClients = !opts.clients;
    this.clients = opts.clients ?? createAwsClients(opts.aws);
    this.runner = new AthenaQueryRunner(this.clients.athena, {
      workGroup: opts.workGroup,
      ...(opts.outputLocation ? { outputLocation: opts.outputLocation } : {}),
      ...(opts.catalog ? { catalog: opts.catalog } : {}),
      ...(opts.pollInitialMs !== undefined ? { pollInitialMs: opts.pollInitialMs } : {}),
      ...(opts.pollMaxMs !== undefined ? { pollMaxMs: opts.pollMaxMs } : {}),
      ...(opts.queryTimeoutMs !== undefined ? { timeoutMs: opts.queryTimeoutMs } : {}),
      ...(opts.onStatement ? { onStatement: opts.onStatement } : {}),
    });
    this.catalog = new GlueCatalog(this.clients.glue, opts.glueCatalogId);
    this.location = `athena workgroup ${opts.workGroup}, ${this.database}.${this.table} (${describeAwsSettings(opts.aws)})`;
  }

  get s3(): AwsClients['s3'] {
    return this.clients.s3;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`AthenaRawWarehouse(${this.location}) is closed`);
  }

  /** Runs a statement under the run's cancellation signal (and an optional extra one). */
  async query(sql: string, purpose: string, signal?: AbortSignal): Promise<(string | null)[][]> {
    const signals = [this.opts.signal, signal].filter((s): s is AbortSignal => s !== undefined);
    const combined = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    const result = await this.runner.run(sql, purpose, combined ? { signal: combined } : {});
    return result.rows;
  }

  private tableLocation(table: string): string {
    return joinS3(this.opts.tableLocation, table);
  }

  private async rawTable(): Promise<GlueTableInfo | null> {
    const t = await this.catalog.getTable(this.database, this.table);
    if (t && !t.isIceberg) {
      throw new Error(`${this.database}.${this.table} exists in Glue but is not an Iceberg table (table_type=${t.parameters['table_type'] ?? 'unset'})`);
    }
    return t;
  }

  async ensureRawTables(columns: ColumnSpec[]): Promise<{ added: string[] }> {
    this.assertOpen();
    validateColumns(columns);
    const wanted = [...columns, ...LOAD_COLUMNS];
    await this.catalog.ensureDatabase(this.database, 'Salesforce raw versions (sfpipe)');
    const existing = await this.rawTable();
    const added: string[] = [];
    if (!existing) {
      await this.query(createIcebergTableSql(this.database, this.table, wanted, this.tableLocation(this.table)), 'create raw table');
    } else {
      const byName = new Map(existing.columns.map((c) => [c.name, c]));
      const missing: ColumnSpec[] = [];
      for (const c of wanted) {
        const have = byName.get(c.name);
        if (!have) {
          missing.push(c);
          continue;
        }
        if (have.type !== c.type) {
          throw new SchemaTypeChangeError(
            `${this.database}.${this.table}.${have.name} has type ${have.glueType} in Glue, but the configuration ` +
              `declares ${c.type} (${ATHENA_DDL_TYPE[c.type]}). Raw keeps every observed version, so the loader will ` +
              `not change a column's type in place: rename the column in the config or migrate the table.`,
          );
        }
      }
      if (missing.length > 0) {
        await this.query(addColumnsSql(this.database, this.table, missing), 'add raw columns');
        added.push(...missing.map((c) => c.name));
      }
    }
    if (!(await this.catalog.getTable(this.database, this.quarantineTable))) {
      await this.query(
        createIcebergTableSql(this.database, this.quarantineTable, QUARANTINE_COLUMNS, this.tableLocation(this.quarantineTable)),
        'create quarantine table',
      );
    }
    return { added };
  }

  /** Raw's data columns (without the load columns) as Glue reports them; throws when raw is missing. */
  async rawDataColumns(): Promise<ColumnSpec[]> {
    const t = await this.rawTable();
    if (!t) throw new Error(`${this.database}.${this.table} does not exist: call ensureRawTables first`);
    return t.columns
      .filter((c) => !LOAD_COLUMN_NAMES.has(c.name))
      .map((c) => {
        if (!c.type) throw new Error(`${this.database}.${this.table}.${c.name} has unsupported type ${c.glueType}`);
        return { name: c.name, type: c.type };
      });
  }

  async watermark(cursorColumn: string): Promise<Date | null> {
    this.assertOpen();
    const t = await this.rawTable();
    if (!t) return null;
    const names = new Set(t.columns.map((c) => c.name));
    const cursor = cursorColumn.toLowerCase();
    if (!names.has(cursor)) throw new Error(`watermark: ${this.database}.${this.table} has no column ${cursorColumn}`);
    const rows = await this.query(watermarkSql(this.database, this.table, cursor, names.has('isdeleted')), 'read watermark');
    const value = rows[0]?.[0];
    return value === null || value === undefined || value === '' ? null : parseTimestampText(value);
  }

  async rawStats(): Promise<{ rows: number; ids: number }> {
    this.assertOpen();
    if (!(await this.rawTable())) return { rows: 0, ids: 0 };
    const rows = await this.query(rawStatsSql(this.database, this.table), 'raw stats');
    return { rows: Number(rows[0]?.[0] ?? 0), ids: Number(rows[0]?.[1] ?? 0) };
  }

  /**
   * The raw table's current Iceberg state from the catalog: Glue's metadata_location and update
   * time, and the current snapshot's commit time read from the metadata file itself.
   */
  async rawTableFreshness(): Promise<{ glueUpdateTime: Date | undefined; metadataLocation: string | undefined; snapshot: IcebergSnapshotInfo | null } | null> {
    this.assertOpen();
    const t = await this.rawTable();
    if (!t) return null;
    const snapshot = t.metadataLocation ? await readIcebergMetadata(this.clients.s3, t.metadataLocation) : null;
    return { glueUpdateTime: t.updateTime, metadataLocation: t.metadataLocation, snapshot };
  }

  /**
   * Removes what a killed run left behind (SIGTERM between its commit and its cleanup): stage tables
   * in Glue (metadata only: Glue DeleteTable, no Athena query) and staged files under the staging
   * location, when older than `staleStageAfterMs`. Raw never references either. Best effort.
   */
  async sweepStaleStages(now: Date = new Date()): Promise<{ tables: string[]; files: number }> {
    this.assertOpen();
    const cutoff = now.getTime() - (this.opts.staleStageAfterMs ?? 6 * 3600_000);
    const stageName = new RegExp(`^(?:${this.table}|${this.quarantineTable})_stage_[0-9a-f]{12}$`);
    const tables: string[] = [];
    for (const t of await this.catalog.listTables(this.database, stageName)) {
      if (t.createTime && t.createTime.getTime() > cutoff) continue;
      if (await this.catalog.deleteTable(this.database, t.name)) tables.push(t.name);
    }
    const { bucket, key: prefix } = parseS3Url(this.opts.stagingLocation);
    let files = 0;
    let ContinuationToken: string | undefined;
    do {
      const page = await this.clients.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(ContinuationToken ? { ContinuationToken } : {}) }));
      // Only files this loader writes (<run>-<token>/rows|quarantine/part-NNNNN.json), whatever else shares the prefix.
      const stale = (page.Contents ?? [])
        .filter((o) => o.Key && STAGED_FILE.test(o.Key.slice(prefix.length)) && o.LastModified && o.LastModified.getTime() <= cutoff)
        .map((o) => ({ Key: o.Key! }));
      if (stale.length > 0) {
        await this.clients.s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: stale, Quiet: true } }));
        files += stale.length;
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    if (tables.length > 0 || files > 0) {
      this.opts.onNotice?.(`removed what killed runs left behind: ${tables.length} stage table(s) in ${this.database}${tables.length ? ` (${tables.join(', ')})` : ''} and ${files} staged file(s)`);
    }
    return { tables, files };
  }

  async beginLoad(runId: string, extractedAt: Date): Promise<RawLoad> {
    this.assertOpen();
    if (!this.swept) {
      this.swept = true;
      await this.sweepStaleStages().catch((err: Error) => this.opts.onNotice?.(`could not look for stale stage tables: ${err.message}`));
    }
    if (typeof runId !== 'string' || runId.length === 0) throw new Error('beginLoad needs a run id');
    valueText(extractedAt, '_extracted_at', 'timestamp'); // validates
    const columns = await this.rawDataColumns();
    const token = randomBytes(6).toString('hex');
    const safeRun = runId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
    const prefix = joinS3(this.opts.stagingLocation, `${safeRun}-${token}`);
    const load = new AthenaRawLoad(this, {
      runId,
      extractedAt,
      columns,
      stageTable: `${this.table}_stage_${token}`,
      quarantineStageTable: `${this.quarantineTable}_stage_${token}`,
      rowsLocation: joinS3(prefix, 'rows'),
      quarantineLocation: joinS3(prefix, 'quarantine'),
      partBytes: this.opts.stagePartBytes ?? 32 * 1024 * 1024,
      onFinished: (l) => this.loads.delete(l),
    });
    this.loads.add(load);
    return load;
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
    if (this.ownsClients) this.clients.destroy();
  }
}

interface AthenaLoadContext {
  runId: string;
  extractedAt: Date;
  columns: ColumnSpec[];
  stageTable: string;
  quarantineStageTable: string;
  rowsLocation: string;
  quarantineLocation: string;
  partBytes: number;
  onFinished: (load: AthenaRawLoad) => void;
}

/** Lines buffered for one staged part file, uploaded when it reaches the part size. */
class StagedFile {
  private lines: string[] = [];
  private bytes = 0;
  private part = 0;
  readonly keys: string[] = [];
  count = 0;

  constructor(
    private readonly wh: AthenaRawWarehouse,
    private readonly location: string,
    private readonly partBytes: number,
  ) {}

  async add(lines: string[], signal: AbortSignal): Promise<void> {
    for (const l of lines) {
      this.lines.push(l);
      this.bytes += Buffer.byteLength(l) + 1;
    }
    this.count += lines.length;
    if (this.bytes >= this.partBytes) await this.flush(signal);
  }

  async flush(signal: AbortSignal): Promise<void> {
    if (this.lines.length === 0) return;
    const { bucket, key } = parseS3Url(this.location);
    const objectKey = `${key}part-${String(this.part).padStart(5, '0')}.json`;
    const body = this.lines.join('\n') + '\n';
    await this.wh.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: objectKey, Body: body, ContentType: 'application/x-ndjson' }),
      { abortSignal: signal },
    );
    this.keys.push(objectKey);
    this.part++;
    this.lines = [];
    this.bytes = 0;
  }

  async delete(): Promise<void> {
    if (this.keys.length === 0) return;
    const { bucket } = parseS3Url(this.location);
    for (let i = 0; i < this.keys.length; i += 1000) {
      await this.wh.s3.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: this.keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }),
      );
    }
  }
}

class AthenaRawLoad extends LoadLifecycle {
  private readonly columnNames: string[];
  private readonly columnSet: Set<string>;
  private readonly rows: StagedFile;
  private readonly quarantined: StagedFile;
  private readonly controller = new AbortController();
  private readonly createdTables: string[] = [];
  /** Columns some appended row carried: the fields the extraction read (others stage as null). */
  private readonly observed = new Set<string>();
  /** Append order of staged rows (`_seq`): the last observation of a version wins. */
  private seq = 0;

  constructor(
    private readonly wh: AthenaRawWarehouse,
    private readonly ctx: AthenaLoadContext,
  ) {
    super(ctx.runId);
    this.columnNames = ctx.columns.map((c) => c.name);
    this.columnSet = new Set(this.columnNames);
    this.rows = new StagedFile(wh, ctx.rowsLocation, ctx.partBytes);
    this.quarantined = new StagedFile(wh, ctx.quarantineLocation, ctx.partBytes);
  }

  append(rows: RawRow[]): Promise<void> {
    return this.exclusive('append', async () => {
      if (rows.length === 0) return;
      const lines: string[] = new Array(rows.length);
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r]!;
        const out: Record<string, string | null> = {};
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
        lines[r] = JSON.stringify(out);
      }
      this.seq += rows.length;
      await this.rows.add(lines, this.controller.signal);
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
      await this.quarantined.add(
        rows.map((q) => JSON.stringify({ raw_json: q.rawJson, reason: q.reason })),
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
    await this.rows.flush(signal);
    await this.quarantined.flush(signal);
    const rawColumns = await this.wh.rawDataColumns();
    if (liveAt !== undefined) valueText(liveAt, 'observedAt', 'timestamp');
    if (tombstonesAt !== undefined) {
      valueText(tombstonesAt, 'tombstonesAt', 'timestamp');
      if (!rawColumns.some((c) => c.name === 'isdeleted')) {
        throw new Error(`raw load ${runId}: tombstones need an isdeleted column in ${this.wh.database}.${this.wh.table}`);
      }
    }
    const db = this.wh.database;

    let quarantined = 0;
    if (this.quarantined.count > 0) {
      this.createdTables.push(this.ctx.quarantineStageTable);
      await this.q(
        createStageTableSql(db, this.ctx.quarantineStageTable, ['raw_json', 'reason'], this.ctx.quarantineLocation),
        'create quarantine stage table',
      );
      const spec = { database: db, quarantine: this.wh.quarantineTable, stage: this.ctx.quarantineStageTable };
      quarantined = Number((await this.q(countNewQuarantineSql(spec), 'count new quarantine rows'))[0]?.[0] ?? 0);
      if (quarantined > 0) await this.q(mergeQuarantineSql({ ...spec, runId, extractedAt }), 'merge quarantine');
    }

    let inserted = 0;
    let tombstones = 0;
    let revived = 0;
    let rewritten = 0;
    if (this.rows.count > 0 || tombstonesAt !== undefined) {
      this.createdTables.push(this.ctx.stageTable);
      await this.q(createStageTableSql(db, this.ctx.stageTable, [...this.columnNames, STAGE_SEQ], this.ctx.rowsLocation), 'create stage table');
      const spec: RawMergeSpec = {
        database: db,
        raw: this.wh.table,
        stage: this.ctx.stageTable,
        stagedColumns: this.ctx.columns,
        rawColumns,
        tombstonesAt,
        liveAt,
        quarantineStage: this.quarantined.count > 0 ? this.ctx.quarantineStageTable : undefined,
        observedColumns: [...this.observed],
      };
      const counts = (await this.q(countNewRawSql(spec), 'count new raw versions'))[0];
      inserted = Number(counts?.[0] ?? 0);
      tombstones = Number(counts?.[1] ?? 0);
      revived = Number(counts?.[2] ?? 0);
      rewritten = Number(counts?.[3] ?? 0);
      if (inserted + tombstones + revived + rewritten > 0) await this.q(mergeRawSql({ ...spec, runId, extractedAt }), 'merge raw');
    }
    return { inserted, duplicates: this.rows.count - inserted - rewritten, rewritten, quarantined, tombstones, revived };
  }

  protected override beforeAbort(): void {
    this.controller.abort();
  }

  /** Best effort: a crashed run's leftovers are harmless (raw never references them). */
  protected async dropStaging(): Promise<void> {
    try {
      for (const t of this.createdTables) {
        await this.wh.query(dropTableSql(this.wh.database, t), 'drop stage table').catch(() => undefined);
      }
      await this.rows.delete().catch(() => undefined);
      await this.quarantined.delete().catch(() => undefined);
    } finally {
      this.ctx.onFinished(this);
    }
  }
}
