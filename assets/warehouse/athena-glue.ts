/**
 * The Glue Data Catalog side of the Athena adapter: database/table existence, the columns used for
 * schema evolution, and the Iceberg table's current metadata (so freshness can be judged from the
 * table itself, even when something outside the pipeline committed to it).
 */

import { gunzipSync } from 'node:zlib';

import {
  AlreadyExistsException,
  CreateDatabaseCommand,
  DeleteTableCommand,
  EntityNotFoundException,
  GetDatabaseCommand,
  GetTableCommand,
  GetTablesCommand,
  type GlueClient,
  type Table,
} from '@aws-sdk/client-glue';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

import { logicalTypeOfGlue } from './athena-sql.js';
import type { ColumnType } from './raw-warehouse.js';

export interface GlueColumn {
  name: string;
  /** The Glue type text, e.g. `string`, `timestamp`. */
  glueType: string;
  type: ColumnType | undefined;
}

export interface GlueTableInfo {
  name: string;
  columns: GlueColumn[];
  parameters: Record<string, string>;
  isIceberg: boolean;
  /** Iceberg: the current metadata file (changes on every commit). */
  metadataLocation: string | undefined;
  previousMetadataLocation: string | undefined;
  updateTime: Date | undefined;
  location: string | undefined;
}

function isNotFound(err: unknown): boolean {
  return err instanceof EntityNotFoundException || (err as { name?: string })?.name === 'EntityNotFoundException';
}

export class GlueCatalog {
  constructor(
    private readonly glue: GlueClient,
    private readonly catalogId?: string,
  ) {}

  private get idParam(): { CatalogId?: string } {
    return this.catalogId ? { CatalogId: this.catalogId } : {};
  }

  async databaseExists(database: string): Promise<boolean> {
    try {
      await this.glue.send(new GetDatabaseCommand({ ...this.idParam, Name: database }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Creates the database when missing; true when this call created it. */
  async ensureDatabase(database: string, description?: string): Promise<boolean> {
    if (await this.databaseExists(database)) return false;
    try {
      await this.glue.send(
        new CreateDatabaseCommand({
          ...this.idParam,
          DatabaseInput: { Name: database, ...(description ? { Description: description } : {}) },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof AlreadyExistsException || (err as { name?: string })?.name === 'AlreadyExistsException') return false;
      throw err;
    }
  }

  /** Tables of the database whose names match, with when they were created and where they point. */
  async listTables(database: string, name: RegExp): Promise<{ name: string; createTime: Date | undefined; location: string | undefined }[]> {
    const out: { name: string; createTime: Date | undefined; location: string | undefined }[] = [];
    let NextToken: string | undefined;
    do {
      const page = await this.glue.send(new GetTablesCommand({ ...this.idParam, DatabaseName: database, ...(NextToken ? { NextToken } : {}) }));
      for (const t of page.TableList ?? []) {
        if (t.Name && name.test(t.Name)) out.push({ name: t.Name, createTime: t.CreateTime, location: t.StorageDescriptor?.Location });
      }
      NextToken = page.NextToken;
    } while (NextToken);
    return out;
  }

  /** Removes a table from the catalog (its files are left alone); false when it was not there. */
  async deleteTable(database: string, table: string): Promise<boolean> {
    try {
      await this.glue.send(new DeleteTableCommand({ ...this.idParam, DatabaseName: database, Name: table }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** The table, or null when it does not exist. */
  async getTable(database: string, table: string): Promise<GlueTableInfo | null> {
    let t: Table | undefined;
    try {
      t = (await this.glue.send(new GetTableCommand({ ...this.idParam, DatabaseName: database, Name: table }))).Table;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    if (!t) return null;
    const parameters = { ...(t.Parameters ?? {}) };
    const columns = (t.StorageDescriptor?.Columns ?? []).map((c) => ({
      name: (c.Name ?? '').toLowerCase(),
      glueType: c.Type ?? '',
      type: logicalTypeOfGlue(c.Type ?? ''),
    }));
    const tableType = parameters['table_type'] ?? parameters['TABLE_TYPE'];
    return {
      name: t.Name ?? table,
      columns,
      parameters,
      isIceberg: (tableType ?? '').toUpperCase() === 'ICEBERG',
      metadataLocation: parameters['metadata_location'],
      previousMetadataLocation: parameters['previous_metadata_location'],
      updateTime: t.UpdateTime,
      location: t.StorageDescriptor?.Location,
    };
  }
}

export interface IcebergSnapshotInfo {
  metadataLocation: string;
  /** Commit time of the current snapshot; null for a table without snapshots (never written). */
  currentSnapshotCommittedAt: Date | null;
  currentSnapshotId: string | null;
  /** `summary.operation` of the current snapshot (append, overwrite, …). */
  operation: string | null;
  /** Metadata `last-updated-ms`: includes schema changes, not only data commits. */
  lastUpdatedAt: Date | null;
}

export function parseS3Url(url: string): { bucket: string; key: string } {
  const m = /^s3a?:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new Error(`not an s3:// URL: ${url}`);
  return { bucket: m[1]!, key: m[2]! };
}

/** Reads an Iceberg metadata file from S3 (plain or gzip) and returns its current snapshot. */
export async function readIcebergMetadata(s3: S3Client, metadataLocation: string): Promise<IcebergSnapshotInfo> {
  const { bucket, key } = parseS3Url(metadataLocation);
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!out.Body) throw new Error(`Iceberg metadata ${metadataLocation} has no body`);
  let bytes = Buffer.from(await out.Body.transformToByteArray());
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  // Snapshot ids are 64-bit: keep them as strings rather than lossy doubles.
  const text = bytes.toString('utf8').replace(/("(?:current-snapshot-id|snapshot-id|parent-snapshot-id)"\s*:\s*)(-?\d+)/g, '$1"$2"');
  const meta = JSON.parse(text) as {
    'current-snapshot-id'?: number | string | null;
    'last-updated-ms'?: number;
    snapshots?: { 'snapshot-id': number | string; 'timestamp-ms': number; summary?: { operation?: string } }[];
  };
  const currentId = meta['current-snapshot-id'];
  const current =
    currentId === undefined || currentId === null || String(currentId) === '-1'
      ? undefined
      : (meta.snapshots ?? []).find((s) => String(s['snapshot-id']) === String(currentId));
  return {
    metadataLocation,
    currentSnapshotCommittedAt: current ? new Date(current['timestamp-ms']) : null,
    currentSnapshotId: current ? String(current['snapshot-id']) : null,
    operation: current?.summary?.operation ?? null,
    lastUpdatedAt: typeof meta['last-updated-ms'] === 'number' ? new Date(meta['last-updated-ms']) : null,
  };
}
