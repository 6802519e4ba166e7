/**
 * The ONE place where values and names become Athena SQL text. Every statement the Athena adapter
 * issues is built from these functions; nothing else concatenates user data into SQL.
 *
 * Rules (Athena engine v3 = Trino for DML, Hive for DDL; DuckDB shares the string-literal rules):
 * - String literals are single-quoted with embedded single quotes doubled. There are NO backslash
 *   escapes: a backslash is an ordinary character, and so are newlines and any Unicode character.
 *   NUL and unpaired UTF-16 surrogates cannot round-trip through the UTF-8 query string: refused.
 * - DML identifiers are double-quoted (embedded `"` doubled); DDL (Hive) identifiers are
 *   backtick-quoted (embedded backtick doubled). Glue stores names lower-case, so the adapter
 *   additionally restricts table and column names to `[a-z_][a-z0-9_]*` (see `assertGlueName`).
 * - Timestamps are UTC wall-clock `TIMESTAMP 'YYYY-MM-DD HH:MM:SS.mmm'` (Iceberg `timestamp`
 *   has no zone; the pipeline stores UTC).
 */

import type { Logger } from '../../runtime/logging.js';
import type { ColumnType } from './raw-warehouse.js';

export class SqlValueError extends TypeError {
  override name = 'SqlValueError';
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function assertEncodable(text: string, what: string): void {
  if (text.includes('\u0000')) throw new SqlValueError(`${what} contains NUL, which Athena cannot take in a query string`);
  if (LONE_SURROGATE.test(text)) throw new SqlValueError(`${what} contains an unpaired UTF-16 surrogate (not valid UTF-8)`);
}

/** A SQL string literal: `'` + text with `'` doubled + `'`. Backslashes, newlines and any script pass through verbatim. */
export function sqlString(text: string): string {
  if (typeof text !== 'string') throw new SqlValueError(`sqlString needs a string, got ${typeof text}`);
  assertEncodable(text, 'string literal');
  return `'${text.replaceAll("'", "''")}'`;
}

/** A double-quoted identifier for Trino DML / DuckDB (embedded `"` doubled). */
export function sqlIdentifier(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new SqlValueError('empty SQL identifier');
  assertEncodable(name, 'identifier');
  return `"${name.replaceAll('"', '""')}"`;
}

/** A backtick-quoted identifier for Athena DDL (Hive): CREATE/ALTER/DROP TABLE. */
export function ddlIdentifier(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new SqlValueError('empty DDL identifier');
  assertEncodable(name, 'identifier');
  return `\`${name.replaceAll('`', '``')}\``;
}

/** Glue lower-cases names; the adapter only creates names that survive that unchanged. */
export function assertGlueName(name: string, what = 'name'): string {
  if (!/^[a-z_][a-z0-9_]{0,254}$/.test(name)) {
    throw new SqlValueError(
      `${what} ${JSON.stringify(name)} is not a valid Glue/Athena name: use lower-case letters, digits and underscores`,
    );
  }
  return name;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** `YYYY-MM-DD HH:MM:SS.mmm` in UTC: the text form used in literals and in staged files. */
export function timestampText(date: Date): string {
  const ms = date instanceof Date ? date.getTime() : Number.NaN;
  if (!Number.isFinite(ms)) throw new SqlValueError('invalid Date');
  const y = date.getUTCFullYear();
  if (y < 1 || y > 9999) throw new SqlValueError(`timestamp year ${y} is outside 0001..9999`);
  return (
    `${pad(y, 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.${pad(date.getUTCMilliseconds(), 3)}`
  );
}

export function sqlTimestamp(date: Date): string {
  return `TIMESTAMP '${timestampText(date)}'`;
}

/** `YYYY-MM-DD` (UTC). */
export function dateText(date: Date): string {
  return timestampText(date).slice(0, 10);
}

/** Parses what Athena prints for a `timestamp` (`2024-01-02 03:04:05.678000`, UTC wall-clock). */
export function parseTimestampText(text: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?: UTC|Z)?$/.exec(text.trim());
  if (!m) throw new Error(`cannot parse the timestamp ${JSON.stringify(text)} returned by Athena`);
  const millis = (m[7] ?? '').padEnd(3, '0').slice(0, 3);
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${millis}Z`);
  if (Number.isNaN(d.getTime())) throw new Error(`invalid timestamp ${JSON.stringify(text)} returned by Athena`);
  return d;
}

/** Athena DDL type (Hive spelling, as Glue reports it) of a logical column type. */
export const ATHENA_DDL_TYPE: Readonly<Record<ColumnType, string>> = {
  string: 'string',
  boolean: 'boolean',
  timestamp: 'timestamp',
  double: 'double',
  bigint: 'bigint',
  date: 'date',
};

/** Trino / DuckDB type name for CASTs in DML. */
export const ATHENA_DML_TYPE: Readonly<Record<ColumnType, string>> = {
  string: 'varchar',
  boolean: 'boolean',
  timestamp: 'timestamp',
  double: 'double',
  bigint: 'bigint',
  date: 'date',
};

/** The logical type of a Glue column type, or undefined. */
export function logicalTypeOfGlue(glueType: string): ColumnType | undefined {
  const t = glueType.trim().toLowerCase();
  if (t === 'string' || t === 'varchar' || t.startsWith('varchar(')) return 'string';
  if (t === 'timestamp' || t === 'timestamp(3)' || t === 'timestamp(6)') return 'timestamp';
  if (t === 'boolean') return 'boolean';
  if (t === 'double') return 'double';
  if (t === 'bigint') return 'bigint';
  if (t === 'date') return 'date';
  return undefined;
}

type Scalar = string | number | boolean | Date | null | undefined;

function describe(value: unknown): string {
  if (value instanceof Date) return `Date(${Number.isNaN(value.getTime()) ? 'Invalid' : value.toISOString()})`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

function toDate(value: Scalar, column: string, type: ColumnType): Date {
  let d: Date;
  if (value instanceof Date) d = value;
  else if (typeof value === 'string') d = new Date(Date.parse(value));
  else if (typeof value === 'number') d = new Date(value);
  else throw new SqlValueError(`column ${column} (${type}): cannot store ${describe(value)}`);
  if (!Number.isFinite(d.getTime())) throw new SqlValueError(`column ${column} (${type}): invalid date/time ${describe(value)}`);
  return d;
}

/**
 * The canonical TEXT of a value of a logical type (null for SQL NULL), with the same coercions as
 * the DuckDB encoder. Staged files carry this text; `CAST(text AS type)` restores the value on
 * Trino and DuckDB alike.
 */
export function valueText(value: Scalar, column: string, type: ColumnType): string | null {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'string': {
      const s = typeof value === 'string' ? value : value instanceof Date ? value.toISOString() : String(value);
      assertEncodable(s, `column ${column}`);
      return s;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value ? 'true' : 'false';
      if (typeof value === 'string') {
        const s = value.trim().toLowerCase();
        if (s === 'true' || s === 'false') return s;
        if (s === '') return null;
      }
      if (value === 0 || value === 1) return value === 1 ? 'true' : 'false';
      throw new SqlValueError(`column ${column} (boolean): cannot store ${describe(value)}`);
    }
    case 'timestamp':
      return timestampText(toDate(value, column, type));
    case 'date':
      return dateText(toDate(value, column, type));
    case 'double': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
      if (typeof value !== 'number' && Number.isNaN(n)) throw new SqlValueError(`column ${column} (double): cannot store ${describe(value)}`);
      if (Number.isNaN(n)) return 'NaN';
      if (n === Infinity) return 'Infinity';
      if (n === -Infinity) return '-Infinity';
      return String(n);
    }
    case 'bigint': {
      if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
      if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) {
        const b = BigInt(value.trim());
        if (b > 9223372036854775807n || b < -9223372036854775808n) throw new SqlValueError(`column ${column} (bigint): out of range ${value}`);
        return b.toString();
      }
      throw new SqlValueError(`column ${column} (bigint): cannot store ${describe(value)}`);
    }
  }
}

/** A typed SQL literal of a value (typed NULL for null), valid on Trino and DuckDB. */
export function sqlValue(value: Scalar, column: string, type: ColumnType): string {
  const text = valueText(value, column, type);
  if (text === null) return `CAST(NULL AS ${ATHENA_DML_TYPE[type]})`;
  switch (type) {
    case 'string':
      return sqlString(text);
    case 'boolean':
      return text === 'true' ? 'TRUE' : 'FALSE';
    case 'timestamp':
      return `TIMESTAMP '${text}'`;
    case 'date':
      return `DATE '${text}'`;
    case 'double':
      return `CAST(${sqlString(text)} AS double)`;
    case 'bigint':
      return `CAST(${sqlString(text)} AS bigint)`;
  }
}

/** The first line of a statement, shortened, for error messages (statements put no data on line 1). */
export function firstLine(sql: string, max = 160): string {
  // Leading comments (dbt's `-- /* {"app": "dbt", …} */` header) say nothing about the statement.
  const body = sql.replace(/^(?:\s*--[^\n]*(?:\n|$)|\s*\/\*[\s\S]*?\*\/)*/, '');
  const line = (body || sql).trimStart().split('\n', 1)[0] ?? '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** The run log's line for one Athena statement, whoever sent it: `athena query <id>: <first line>`. */
export function logAthenaStatement(log: Logger, queryExecutionId: string, sql: string, meta: Record<string, unknown> = {}): void {
  log.info(`athena query ${queryExecutionId}: ${firstLine(sql)}`, { queryExecutionId, ...meta });
}
