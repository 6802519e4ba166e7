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

import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';

import { createAwsClients, describeAwsSettings, type AwsClients, type AwsClientSettings } from '../aws/clients.js';
import { GlueCatalog, parseS3Url, readIcebergMetadata, type IcebergSnapshotInfo } from './athena-glue.js';
import { AthenaQueryRunner, type StatementRecord } from './athena-query.js';
import { addColumnsSql, createIcebergTableSql, createStageTableSql, dropTableSql } from './athena-statements.js';
import type { ColumnSpec } from './raw-warehouse.js';
import { TrinoDialectRawWarehouse, type CatalogColumn, type Stage, type StageSpec, type StagedRow } from './trino-dialect-warehouse.js';

export { LOAD_COLUMNS } from './raw-warehouse.js';

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

/** A staged file's key below the staging location: `<run>-<12 hex>/(rows|quarantine)/part-NNNNN.json`. */
const STAGED_FILE = /^[A-Za-z0-9._-]+-[0-9a-f]{12}\/(?:rows|quarantine)\/part-\d{5}\.json$/;

function joinS3(prefix: string, ...parts: string[]): string {
  return [prefix.replace(/\/+$/, ''), ...parts].join('/') + '/';
}

export class AthenaRawWarehouse extends TrinoDialectRawWarehouse {
  readonly engine = 'athena' as const;
  readonly location: string;
  readonly runner: AthenaQueryRunner;
  readonly catalog: GlueCatalog;
  private readonly clients: AwsClients;
  private readonly ownsClients: boolean;

  constructor(readonly opts: AthenaWarehouseOptions) {
    super(opts);
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

  protected get runSignal(): AbortSignal | undefined {
    return this.opts.signal;
  }

  /** Runs a statement under the run's cancellation signal (and an optional extra one). */
  async query(sql: string, purpose: string, signal?: AbortSignal): Promise<(string | null)[][]> {
    const combined = this.combinedSignal(signal);
    const result = await this.runner.run(sql, purpose, combined ? { signal: combined } : {});
    return result.rows;
  }

  private tableLocation(table: string): string {
    return joinS3(this.opts.tableLocation, table);
  }

  protected async tableColumns(table: string): Promise<CatalogColumn[] | null> {
    const t = await this.catalog.getTable(this.database, table);
    if (!t) return null;
    if (!t.isIceberg) {
      throw new Error(`${this.database}.${table} exists in Glue but is not an Iceberg table (table_type=${t.parameters['table_type'] ?? 'unset'})`);
    }
    return t.columns.map((c) => ({ name: c.name, type: c.type, engineType: c.glueType }));
  }

  protected async ensureDatabase(): Promise<void> {
    await this.catalog.ensureDatabase(this.database, 'Salesforce raw versions (sfpipe)');
  }

  protected async createTable(table: string, columns: readonly ColumnSpec[], purpose: string): Promise<void> {
    await this.query(createIcebergTableSql(this.database, table, columns, this.tableLocation(table)), purpose);
  }

  protected async addColumns(table: string, columns: readonly ColumnSpec[]): Promise<void> {
    await this.query(addColumnsSql(this.database, table, columns), 'add raw columns');
  }

  protected openStage(spec: StageSpec): Stage {
    const safeRun = spec.runId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
    const location = joinS3(this.opts.stagingLocation, `${safeRun}-${spec.token}`, spec.kind);
    return new S3JsonStage(this, spec, location, this.opts.stagePartBytes ?? 32 * 1024 * 1024);
  }

  protected notice(message: string): void {
    this.opts.onNotice?.(message);
  }

  protected releaseClients(): void {
    if (this.ownsClients) this.clients.destroy();
  }

  /**
   * The raw table's current Iceberg state from the catalog: Glue's metadata_location and update
   * time, and the current snapshot's commit time read from the metadata file itself.
   */
  async rawTableFreshness(): Promise<{ glueUpdateTime: Date | undefined; metadataLocation: string | undefined; snapshot: IcebergSnapshotInfo | null } | null> {
    this.assertOpen();
    const t = await this.catalog.getTable(this.database, this.table);
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
    const tables: string[] = [];
    for (const t of await this.catalog.listTables(this.database, this.stageTableName())) {
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
    return { tables, files };
  }

  protected async removeStaleStages(): Promise<string | null> {
    const { tables, files } = await this.sweepStaleStages();
    if (tables.length === 0 && files === 0) return null;
    return `removed what killed runs left behind: ${tables.length} stage table(s) in ${this.database}${tables.length ? ` (${tables.join(', ')})` : ''} and ${files} staged file(s)`;
  }
}

/**
 * A load's rows as newline-delimited JSON part files in S3, under an external (Hive, JSON SerDe)
 * table created when the load commits. Why a file and not batched INSERTs: see the header.
 */
class S3JsonStage implements Stage {
  private lines: string[] = [];
  private bytes = 0;
  private part = 0;
  private readonly keys: string[] = [];
  private created = false;
  count = 0;

  constructor(
    private readonly wh: AthenaRawWarehouse,
    private readonly spec: StageSpec,
    private readonly location: string,
    private readonly partBytes: number,
  ) {}

  get table(): string {
    return this.spec.table;
  }

  async add(rows: StagedRow[], signal: AbortSignal): Promise<void> {
    for (const r of rows) {
      const l = JSON.stringify(r);
      this.lines.push(l);
      this.bytes += Buffer.byteLength(l) + 1;
    }
    this.count += rows.length;
    if (this.bytes >= this.partBytes) await this.flush(signal);
  }

  private async flush(signal: AbortSignal): Promise<void> {
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

  async seal(signal: AbortSignal): Promise<void> {
    await this.flush(signal);
    this.created = true;
    const purpose = this.spec.kind === 'rows' ? 'create stage table' : 'create quarantine stage table';
    await this.wh.query(createStageTableSql(this.wh.database, this.spec.table, this.spec.columns, this.location), purpose, signal);
  }

  async discard(): Promise<void> {
    if (this.created) await this.wh.query(dropTableSql(this.wh.database, this.spec.table), 'drop stage table').catch(() => undefined);
    this.created = false;
    if (this.keys.length === 0) return;
    const { bucket } = parseS3Url(this.location);
    const keys = this.keys.splice(0);
    for (let i = 0; i < keys.length; i += 1000) {
      await this.wh.s3.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }),
      );
    }
  }
}
