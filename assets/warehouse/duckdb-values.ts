/** Identifier quoting, logical → DuckDB type mapping and JS → DuckDB value encoding for the raw layer. */

import { dateValue, timestampValue, type DuckDBValue } from '@duckdb/node-api';

import type { ColumnType } from './raw-warehouse.js';

const MILLIS_PER_DAY = 86_400_000;

/** A double-quoted SQL identifier (embedded quotes doubled). */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new Error('empty SQL identifier');
  if (name.includes('\u0000')) throw new Error(`SQL identifier contains NUL: ${JSON.stringify(name)}`);
  return `"${name.replaceAll('"', '""')}"`;
}

export const DUCKDB_TYPE: Readonly<Record<ColumnType, string>> = {
  string: 'VARCHAR',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
  double: 'DOUBLE',
  bigint: 'BIGINT',
  date: 'DATE',
};

/** The logical type of a DuckDB `information_schema.columns.data_type`, or undefined if it has none. */
export function logicalTypeOf(duckdbType: string): ColumnType | undefined {
  const upper = duckdbType.toUpperCase();
  for (const [logical, physical] of Object.entries(DUCKDB_TYPE)) {
    if (physical === upper) return logical as ColumnType;
  }
  return undefined;
}

type RawValue = string | number | boolean | Date | null | undefined;
export type ValueEncoder = (value: RawValue) => DuckDBValue;

function describe(value: unknown): string {
  if (value instanceof Date) return `Date(${Number.isNaN(value.getTime()) ? 'Invalid' : value.toISOString()})`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

function toMillis(value: RawValue, column: string, type: ColumnType): number {
  let millis: number;
  if (value instanceof Date) millis = value.getTime();
  else if (typeof value === 'string') millis = Date.parse(value);
  else if (typeof value === 'number') millis = value;
  else throw new TypeError(`column ${column} (${type}): cannot store ${describe(value)}`);
  if (!Number.isFinite(millis)) throw new TypeError(`column ${column} (${type}): invalid date/time ${describe(value)}`);
  return Math.trunc(millis);
}

/** Builds the encoder that turns a RawRow value into the DuckDBValue stored in a column of `type`. */
export function encoderFor(column: string, type: ColumnType): ValueEncoder {
  switch (type) {
    case 'string':
      return (v) => {
        if (v === null || v === undefined) return null;
        if (typeof v === 'string') return v;
        if (v instanceof Date) return v.toISOString();
        return String(v);
      };
    case 'boolean':
      return (v) => {
        if (v === null || v === undefined) return null;
        if (typeof v === 'boolean') return v;
        if (typeof v === 'string') {
          const s = v.trim().toLowerCase();
          if (s === 'true') return true;
          if (s === 'false') return false;
          if (s === '') return null;
        }
        if (v === 0 || v === 1) return v === 1;
        throw new TypeError(`column ${column} (boolean): cannot store ${describe(v)}`);
      };
    case 'timestamp':
      return (v) => {
        if (v === null || v === undefined) return null;
        return timestampValue(BigInt(toMillis(v, column, type)) * 1000n);
      };
    case 'date':
      return (v) => {
        if (v === null || v === undefined) return null;
        return dateValue(Math.floor(toMillis(v, column, type) / MILLIS_PER_DAY));
      };
    case 'double':
      return (v) => {
        if (v === null || v === undefined) return null;
        if (typeof v === 'number') return v;
        if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
        throw new TypeError(`column ${column} (double): cannot store ${describe(v)}`);
      };
    case 'bigint':
      return (v) => {
        if (v === null || v === undefined) return null;
        if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
        if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return BigInt(v.trim());
        throw new TypeError(`column ${column} (bigint): cannot store ${describe(v)}`);
      };
  }
}
