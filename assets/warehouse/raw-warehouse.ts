/** Where the raw Salesforce versions land: DuckDB on the embedded default; Iceberg through Athena or Trino in production. */

import type { ColumnType } from '../config/pipeline-config.js';

export type { ColumnType };

export interface ColumnSpec {
  /** Lower-case raw column name, e.g. `audit_phase__c`. */
  name: string;
  type: ColumnType;
}

/** One observed record version. Timestamps are Dates (UTC); missing fields are null. */
export type RawRow = Record<string, string | number | boolean | Date | null>;

export interface QuarantineRow {
  /** The record as received, JSON. */
  rawJson: string;
  reason: string;
}

export interface LoadSummary {
  /** New (id, systemmodstamp) versions written to raw. */
  inserted: number;
  /** Staged rows whose version raw already had (or that repeated within the load). */
  duplicates: number;
  /**
   * Versions raw had with other values under the same (id, systemmodstamp) — two changes within
   * one SystemModstamp second — now holding this load's (the later) observation.
   */
  rewritten: number;
  quarantined: number;
  /** Tombstone versions written for records a full refresh no longer saw. */
  tombstones: number;
  /**
   * Live versions written for tombstoned records a full refresh sees again unchanged (same
   * SystemModstamp, e.g. visibility restored), stamped with the refresh time.
   */
  revived: number;
}

/** A run's staged load: nothing is visible in raw until `commit` returns. */
export interface RawLoad {
  append(rows: RawRow[]): Promise<void>;
  quarantine(rows: QuarantineRow[]): Promise<void>;
  /**
   * Merges the staged versions into raw in one transaction, idempotently on (id, systemmodstamp).
   * With `tombstonesAt`, also writes a tombstone (last known values, isdeleted = true,
   * systemmodstamp = tombstonesAt) for each record whose latest raw version is live and
   * that the load did not contain.
   * With `observedAt` (when the source was read; a full refresh uses `tombstonesAt`), a record
   * seen at an older SystemModstamp than raw's latest row for it — which can then only be a
   * tombstone or a live copy written by an earlier load — whose values differ from that row gets
   * a live copy of what was seen, stamped `observedAt`, so raw's latest row agrees with the source
   * (counted in `revived`).
   */
  commit(opts?: { tombstonesAt?: Date; observedAt?: Date }): Promise<LoadSummary>;
  abort(): Promise<void>;
}

/** Columns every raw row gets from its load, never from the source. */
export const LOAD_COLUMNS: readonly ColumnSpec[] = [
  { name: '_extracted_at', type: 'timestamp' },
  { name: '_extraction_run_id', type: 'string' },
];
export const LOAD_COLUMN_NAMES: ReadonlySet<string> = new Set(LOAD_COLUMNS.map((c) => c.name));

/**
 * The rules every engine holds raw's configured columns to (each checks its own name rules and
 * types first): no loader column, none twice (names compared lower-case: engines fold them), the
 * version key (id string, systemmodstamp timestamp) present, isdeleted boolean when present.
 */
export function checkRawColumns(columns: readonly ColumnSpec[]): void {
  const seen = new Set<string>();
  for (const c of columns) {
    const key = c.name.toLowerCase();
    if (LOAD_COLUMN_NAMES.has(key)) throw new Error(`raw column ${c.name} is reserved for the loader`);
    if (seen.has(key)) throw new Error(`raw column ${c.name} is configured twice`);
    seen.add(key);
  }
  const byName = new Map(columns.map((c) => [c.name.toLowerCase(), c]));
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

export class SchemaTypeChangeError extends Error {
  override name = 'SchemaTypeChangeError';
}

export interface RawWarehouse {
  readonly engine: 'duckdb' | 'athena' | 'trino';
  /** A description for logs, without secrets (e.g. the DuckDB file path). */
  readonly location: string;
  /**
   * Creates `sf_raw.sf_user` (the given columns plus `_extracted_at`, `_extraction_run_id`)
   * and `sf_raw.sf_user_quarantine` when missing; adds configured columns the table lacks,
   * keeping every row. A column whose type differs is a SchemaTypeChangeError naming it.
   */
  ensureRawTables(columns: ColumnSpec[]): Promise<{ added: string[] }>;
  /** Max of the cursor column over committed live (non-tombstone) rows; null when raw is empty. */
  watermark(cursorColumn: string): Promise<Date | null>;
  /** Row and distinct-id counts of raw. */
  rawStats(): Promise<{ rows: number; ids: number }>;
  beginLoad(runId: string, extractedAt: Date): Promise<RawLoad>;
  close(): Promise<void>;
}
