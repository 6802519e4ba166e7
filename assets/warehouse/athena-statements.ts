/**
 * The statements the Athena adapter issues, as pure functions of names and values. DDL is Athena's
 * Hive dialect (backticks); DML is Trino's (double quotes), shared with TrinoRawWarehouse; the tests
 * run it on a real Trino and compare raw with the DuckDB loader's (test/aws). Data values never
 * appear in DML text: a run's rows reach Athena as a staged JSON file (see athena-raw-warehouse.ts);
 * only the run id, timestamps and S3 locations are literals, all through athena-sql.ts.
 * No statement puts a value on its first line (error messages quote the first line).
 */

import {
  ATHENA_DDL_TYPE,
  ATHENA_DML_TYPE,
  ddlIdentifier,
  sqlIdentifier,
  sqlString,
  sqlTimestamp,
} from './athena-sql.js';
import type { ColumnSpec } from './raw-warehouse.js';

const q = sqlIdentifier;

export function ddlName(database: string, table: string): string {
  return `${ddlIdentifier(database)}.${ddlIdentifier(table)}`;
}

export function dmlName(database: string, table: string): string {
  return `${q(database)}.${q(table)}`;
}

function ddlColumns(columns: readonly ColumnSpec[]): string {
  return columns.map((c) => `  ${ddlIdentifier(c.name)} ${ATHENA_DDL_TYPE[c.type]}`).join(',\n');
}

function assertS3Location(location: string): string {
  if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/\S*$/.test(location)) throw new Error(`not an s3:// location: ${location}`);
  return location.endsWith('/') ? location : `${location}/`;
}

/** An Iceberg table (parquet, snappy), partitioned by day of `_extracted_at`. */
export function createIcebergTableSql(database: string, table: string, columns: readonly ColumnSpec[], location: string): string {
  return [
    `CREATE TABLE IF NOT EXISTS ${ddlName(database, table)} (`,
    ddlColumns(columns),
    `)`,
    `PARTITIONED BY (day(${ddlIdentifier('_extracted_at')}))`,
    `LOCATION ${sqlString(assertS3Location(location))}`,
    `TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet', 'write_compression'='snappy')`,
  ].join('\n');
}

export function addColumnsSql(database: string, table: string, columns: readonly ColumnSpec[]): string {
  return [`ALTER TABLE ${ddlName(database, table)} ADD COLUMNS (`, ddlColumns(columns), `)`].join('\n');
}

/** An external table over a run's staged newline-delimited JSON: every column is text. */
export function createStageTableSql(database: string, table: string, columnNames: readonly string[], location: string): string {
  return [
    `CREATE EXTERNAL TABLE ${ddlName(database, table)} (`,
    columnNames.map((n) => `  ${ddlIdentifier(n)} string`).join(',\n'),
    `)`,
    `ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'`,
    `LOCATION ${sqlString(assertS3Location(location))}`,
  ].join('\n');
}

export function dropTableSql(database: string, table: string): string {
  return `DROP TABLE IF EXISTS ${ddlName(database, table)}`;
}

export interface RawMergeSpec {
  database: string;
  raw: string;
  stage: string;
  /** Columns of the staged file (all raw data columns when the load began). */
  stagedColumns: readonly ColumnSpec[];
  /** Raw's data columns now (without the load columns). */
  rawColumns: readonly ColumnSpec[];
  tombstonesAt?: Date | undefined;
  /** Stamp of live copies where raw's latest row (a tombstone or an earlier copy) disagrees with the seen version; see RawLoad.commit. */
  liveAt?: Date | undefined;
  /** The quarantine stage table, when the load quarantined records (they are not tombstoned). */
  quarantineStage?: string | undefined;
  /** The staged columns the extraction read; the others stage as null and never overwrite raw. Default: all staged. */
  observedColumns?: readonly string[] | undefined;
}

/**
 * Raw's latest row of a record: the newest version, and of several rows of that version (two
 * observations of one second, or rows another loader wrote) the later observation, as staging
 * reads it.
 */
const LATEST_ROW_ORDER = `r.${q('systemmodstamp')} DESC, r.${q('_extracted_at')} DESC NULLS LAST, r.${q('_extraction_run_id')} DESC NULLS LAST`;

/** The stage table's append-order column: the last observation of a version wins. */
export const STAGE_SEQ = '_seq';

/**
 * The MERGE source: the staged versions, typed and de-duplicated on (id, systemmodstamp) (`_kind`
 * 'v'), plus, with `tombstonesAt`, one tombstone per record whose latest raw version is live, older
 * than the refresh and absent from the load (`_kind` 't').
 */
export function rawSourceSql(spec: RawMergeSpec): string {
  const staged = new Set(spec.stagedColumns.map((c) => c.name));
  const cols = spec.rawColumns;
  const casts = cols
    .map((c) =>
      staged.has(c.name)
        ? `CAST(x.${q(c.name)} AS ${ATHENA_DML_TYPE[c.type]}) AS ${q(c.name)}`
        : `CAST(NULL AS ${ATHENA_DML_TYPE[c.type]}) AS ${q(c.name)}`,
    )
    .join(', ');
  const names = cols.map((c) => q(c.name)).join(', ');
  const stagedRows = `(SELECT ${casts}, CAST(x.${q(STAGE_SEQ)} AS bigint) AS ${q(STAGE_SEQ)} FROM ${dmlName(spec.database, spec.stage)} x)`;
  const versions = [
    `SELECT ${names}, 'v' AS ${q('_kind')}`,
    `FROM (`,
    `  SELECT c.*, row_number() OVER (PARTITION BY c.${q('id')}, c.${q('systemmodstamp')} ORDER BY c.${q(STAGE_SEQ)} DESC) AS ${q('_rn')}`,
    `  FROM ${stagedRows} c`,
    `) v`,
    `WHERE v.${q('_rn')} = 1`,
  ].join('\n');
  const parts = [versions];
  if (spec.tombstonesAt !== undefined) parts.push(tombstonesSql(spec));
  if (spec.liveAt !== undefined && hasIsDeleted(spec)) parts.push(liveCopiesSql(spec, stagedRows));
  return parts.join('\nUNION ALL\n');
}

/** One tombstone per record whose latest raw version is live, older than the refresh and absent from the load (`_kind` 't'). */
function tombstonesSql(spec: RawMergeSpec): string {
  const cols = spec.rawColumns;
  const at = sqlTimestamp(spec.tombstonesAt!);
  const tombCols = cols
    .map((c) => {
      if (c.name === 'isdeleted') return `TRUE AS ${q(c.name)}`;
      if (c.name === 'systemmodstamp') return `${at} AS ${q(c.name)}`;
      return `l.${q(c.name)}`;
    })
    .join(', ');
  return [
    `SELECT ${tombCols}, 't' AS ${q('_kind')}`,
    `FROM (`,
    `  SELECT r.*, row_number() OVER (PARTITION BY r.${q('id')} ORDER BY ${LATEST_ROW_ORDER}) AS ${q('_rn')}`,
    `  FROM ${dmlName(spec.database, spec.raw)} r`,
    `) l`,
    `WHERE l.${q('_rn')} = 1`,
    `  AND coalesce(l.${q('isdeleted')}, false) = false`,
    `  AND l.${q('systemmodstamp')} < ${at}`,
    `  AND NOT EXISTS (SELECT 1 FROM ${dmlName(spec.database, spec.stage)} x WHERE CAST(x.${q('id')} AS varchar) = l.${q('id')})`,
    // A record the load saw but quarantined still exists.
    ...(spec.quarantineStage
      ? [
          `  AND NOT EXISTS (SELECT 1 FROM ${dmlName(spec.database, spec.quarantineStage)} z WHERE json_extract_scalar(CAST(z.${q('raw_json')} AS varchar), '$.Id') = l.${q('id')})`,
        ]
      : []),
  ].join('\n');
}

/**
 * Raw's latest row for a record newer than the version the load saw can only be one a load wrote
 * (a tombstone or a live copy): where it disagrees with the seen version (deleted, other values),
 * a live copy of that version stamped `liveAt` (`_kind` 'r'). Fields the load did not read keep
 * the latest raw version's values. Mirrors DuckDbRawWarehouse.
 */
function liveCopiesSql(spec: RawMergeSpec, stagedRows: string): string {
  const cols = spec.rawColumns;
  const at = sqlTimestamp(spec.liveAt!);
  const read = new Set(spec.observedColumns ?? spec.stagedColumns.map((c) => c.name));
  const differs = comparedColumns(spec).map((c) => ` OR l.${q(c)} IS DISTINCT FROM s.${q(c)}`).join('');
  const liveCols = cols
    .map((c) => {
      if (c.name === 'isdeleted') return `CAST(NULL AS boolean) AS ${q(c.name)}`;
      if (c.name === 'systemmodstamp') return `${at} AS ${q(c.name)}`;
      return read.has(c.name) ? `s.${q(c.name)}` : `l.${q(c.name)}`;
    })
    .join(', ');
  return [
    `SELECT ${liveCols}, 'r' AS ${q('_kind')}`,
    `FROM (`,
    `  SELECT r.*, row_number() OVER (PARTITION BY r.${q('id')} ORDER BY ${LATEST_ROW_ORDER}) AS ${q('_rn')}`,
    `  FROM ${dmlName(spec.database, spec.raw)} r`,
    `) l`,
    `JOIN (`,
    `  SELECT c.*, row_number() OVER (PARTITION BY c.${q('id')} ORDER BY c.${q('systemmodstamp')} DESC, c.${q(STAGE_SEQ)} DESC) AS ${q('_rn')}`,
    `  FROM ${stagedRows} c`,
    `) s ON s.${q('id')} = l.${q('id')} AND s.${q('_rn')} = 1`,
    `WHERE l.${q('_rn')} = 1`,
    `  AND l.${q('systemmodstamp')} < ${at}`,
    `  AND s.${q('systemmodstamp')} < l.${q('systemmodstamp')}`,
    `  AND (coalesce(l.${q('isdeleted')}, false) = true${differs})`,
  ].join('\n');
}

/** Staged data columns raw has and the load read, but the version key: compared to find a rewritten version. */
function comparedColumns(spec: RawMergeSpec): string[] {
  const raw = new Set(spec.rawColumns.map((c) => c.name));
  const read = new Set(spec.observedColumns ?? spec.stagedColumns.map((c) => c.name));
  return spec.stagedColumns.map((c) => c.name).filter((n) => raw.has(n) && read.has(n) && n !== 'id' && n !== 'systemmodstamp' && n !== 'isdeleted');
}

/**
 * A staged version raw has under the same (id, systemmodstamp) with other values — two changes
 * within one SystemModstamp second; the later observation is kept. A tombstone under that key
 * (the record came back in the very second a full refresh missed it) is replaced by the version.
 */
function rewriteCondition(spec: RawMergeSpec): string {
  const cols = comparedColumns(spec);
  if (cols.length === 0) return 'false';
  const differs = cols.map((c) => `t.${q(c)} IS DISTINCT FROM s.${q(c)}`).join(' OR ');
  const tombstone = hasIsDeleted(spec) ? `coalesce(t.${q('isdeleted')}, false) = true OR ` : '';
  return `s.${q('_kind')} = 'v' AND (${tombstone}${differs})`;
}

function hasIsDeleted(spec: RawMergeSpec): boolean {
  return spec.rawColumns.some((c) => c.name === 'isdeleted');
}

/** Counts what the MERGE will write: new versions, tombstones, revivals, rewritten versions (the run lock keeps raw still meanwhile). */
export function countNewRawSql(spec: RawMergeSpec): string {
  const isNew = `t.${q('id')} IS NULL`;
  return [
    `SELECT count(CASE WHEN s.${q('_kind')} = 'v' AND ${isNew} THEN 1 END) AS ${q('versions')}, count(CASE WHEN s.${q('_kind')} = 't' AND ${isNew} THEN 1 END) AS ${q('tombstones')}, count(CASE WHEN s.${q('_kind')} = 'r' AND ${isNew} THEN 1 END) AS ${q('revived')}, count(CASE WHEN t.${q('id')} IS NOT NULL AND ${rewriteCondition(spec)} THEN 1 END) AS ${q('rewritten')}`,
    `FROM (`,
    rawSourceSql(spec),
    `) s`,
    `LEFT JOIN ${dmlName(spec.database, spec.raw)} t ON t.${q('id')} = s.${q('id')} AND t.${q('systemmodstamp')} = s.${q('systemmodstamp')}`,
  ].join('\n');
}

/**
 * One atomic, idempotent Iceberg commit: versions, tombstones and revivals raw lacks are
 * inserted; a version raw has with other values (same second) takes the new ones and this load's
 * stamp. A rerun changes nothing.
 */
export function mergeRawSql(spec: RawMergeSpec & { runId: string; extractedAt: Date }): string {
  const cols = spec.rawColumns.map((c) => q(c.name));
  const stamp = `${q('_extracted_at')} = ${sqlTimestamp(spec.extractedAt)}, ${q('_extraction_run_id')} = ${sqlString(spec.runId)}`;
  const compared = comparedColumns(spec);
  return [
    `MERGE INTO ${dmlName(spec.database, spec.raw)} AS t`,
    `USING (`,
    rawSourceSql(spec),
    `) AS s`,
    `ON (t.${q('id')} = s.${q('id')} AND t.${q('systemmodstamp')} = s.${q('systemmodstamp')})`,
    `WHEN NOT MATCHED THEN INSERT (${cols.join(', ')}, ${q('_extracted_at')}, ${q('_extraction_run_id')})`,
    `VALUES (${cols.map((c) => `s.${c}`).join(', ')}, ${sqlTimestamp(spec.extractedAt)}, ${sqlString(spec.runId)})`,
    ...(compared.length
      ? [`WHEN MATCHED AND ${rewriteCondition(spec)} THEN UPDATE SET ${[...compared, ...(hasIsDeleted(spec) ? ['isdeleted'] : [])].map((c) => `${q(c)} = s.${q(c)}`).join(', ')}, ${stamp}`]
      : []),
  ].join('\n');
}

export interface QuarantineMergeSpec {
  database: string;
  quarantine: string;
  stage: string;
}

function quarantineSourceSql(spec: QuarantineMergeSpec): string {
  return `SELECT DISTINCT CAST(x.${q('raw_json')} AS varchar) AS ${q('raw_json')}, CAST(x.${q('reason')} AS varchar) AS ${q('reason')} FROM ${dmlName(spec.database, spec.stage)} x`;
}

export function countNewQuarantineSql(spec: QuarantineMergeSpec): string {
  return [
    `SELECT count(*) AS ${q('quarantined')}`,
    `FROM (${quarantineSourceSql(spec)}) s`,
    `WHERE NOT EXISTS (SELECT 1 FROM ${dmlName(spec.database, spec.quarantine)} t WHERE t.${q('raw_json')} = s.${q('raw_json')} AND t.${q('reason')} = s.${q('reason')})`,
  ].join('\n');
}

export function mergeQuarantineSql(spec: QuarantineMergeSpec & { runId: string; extractedAt: Date }): string {
  return [
    `MERGE INTO ${dmlName(spec.database, spec.quarantine)} AS t`,
    `USING (${quarantineSourceSql(spec)}) AS s`,
    `ON (t.${q('raw_json')} = s.${q('raw_json')} AND t.${q('reason')} = s.${q('reason')})`,
    `WHEN NOT MATCHED THEN INSERT (${q('raw_json')}, ${q('reason')}, ${q('_extraction_run_id')}, ${q('_extracted_at')})`,
    `VALUES (s.${q('raw_json')}, s.${q('reason')}, ${sqlString(spec.runId)}, ${sqlTimestamp(spec.extractedAt)})`,
  ].join('\n');
}

/** Max of the cursor over committed live rows, as text (`YYYY-MM-DD HH:MM:SS.fff…`). */
export function watermarkSql(database: string, raw: string, cursorColumn: string, hasIsDeleted: boolean): string {
  return [
    `SELECT CAST(max(${q(cursorColumn)}) AS varchar) AS ${q('watermark')}`,
    `FROM ${dmlName(database, raw)}`,
    ...(hasIsDeleted ? [`WHERE coalesce(${q('isdeleted')}, false) = false`] : []),
  ].join('\n');
}

export function rawStatsSql(database: string, raw: string): string {
  return `SELECT count(*) AS ${q('rows')}, count(DISTINCT ${q('id')}) AS ${q('ids')}\nFROM ${dmlName(database, raw)}`;
}

export const QUARANTINE_COLUMNS: readonly ColumnSpec[] = [
  { name: 'raw_json', type: 'string' },
  { name: 'reason', type: 'string' },
  { name: '_extraction_run_id', type: 'string' },
  { name: '_extracted_at', type: 'timestamp' },
];
