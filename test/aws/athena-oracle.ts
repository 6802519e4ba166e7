/**
 * A test-only "engine" behind moto's Athena, which records statements but never executes them.
 * Every StartQueryExecution the adapter sends is first applied to a DuckDB file:
 * - Athena DDL (Hive dialect) is translated: CREATE TABLE (Iceberg) → DuckDB table + Glue CreateTable
 *   in moto (what Athena does in the catalog); ALTER TABLE ADD COLUMNS → DuckDB + Glue UpdateTable;
 *   CREATE EXTERNAL TABLE over s3://… → the staged objects are read from moto's S3 into DuckDB;
 *   DROP TABLE → DuckDB (+ Glue DeleteTable).
 * - DML (SELECT, MERGE) runs VERBATIM on DuckDB; a SELECT's rows are queued into moto so that the
 *   adapter's GetQueryResults returns them (header row first, as Athena does).
 * Then the statement goes to moto unchanged, so moto's query history is exactly what Athena got.
 */
import fs from 'node:fs';
import path from 'node:path';

import { AthenaClient, StartQueryExecutionCommand } from '@aws-sdk/client-athena';
import { CreateTableCommand, DeleteTableCommand, GetTableCommand, GlueClient, UpdateTableCommand } from '@aws-sdk/client-glue';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { DuckDBConnection } from '@duckdb/node-api';

import { DUCKDB_TYPE } from '../../assets/warehouse/duckdb-values.js';
import { queueAthenaResults } from '../services/moto/start.js';

// The Athena DDL type names are the loader's column types: DuckDB's type for each is the embedded loader's.
const DUCK_TYPE: Readonly<Record<string, string>> = DUCKDB_TYPE;

interface ParsedDdl {
  db: string;
  table: string;
  columns: { name: string; type: string }[];
  location?: string;
}

function parseDdl(sql: string): ParsedDdl {
  const name = /(?:TABLE|EXISTS)\s+`([^`]+)`\.`([^`]+)`/.exec(sql);
  if (!name) throw new Error(`oracle: cannot parse table name of ${sql.split('\n')[0]}`);
  const columns = [...sql.matchAll(/^\s+`([^`]+)` (\w+),?$/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
  const location = /LOCATION '([^']+)'/.exec(sql)?.[1];
  return { db: name[1]!, table: name[2]!, columns, ...(location ? { location } : {}) };
}

export class AthenaOracle {
  readonly statements: string[] = [];

  constructor(
    private readonly conn: DuckDBConnection,
    private readonly endpoint: string,
    private readonly glue: GlueClient,
    private readonly s3: S3Client,
    private readonly tmp: string,
  ) {}

  /** An AthenaClient whose StartQueryExecution first runs the statement on DuckDB. */
  wrap(athena: AthenaClient): AthenaClient {
    const send = athena.send.bind(athena) as (cmd: unknown, opts?: unknown) => Promise<unknown>;
    return {
      send: async (cmd: unknown, opts?: unknown) => {
        if (cmd instanceof StartQueryExecutionCommand) await this.execute(cmd.input.QueryString ?? '');
        return send(cmd, opts);
      },
      destroy: () => athena.destroy(),
    } as unknown as AthenaClient;
  }

  private async execute(sql: string): Promise<void> {
    this.statements.push(sql);
    if (/^CREATE TABLE IF NOT EXISTS /.test(sql)) {
      const d = parseDdl(sql);
      if (!/TBLPROPERTIES \('table_type'='ICEBERG', 'format'='parquet', 'write_compression'='snappy'\)/.test(sql)) {
        throw new Error('oracle: raw tables must be Iceberg/parquet/snappy');
      }
      await this.conn.run(`CREATE SCHEMA IF NOT EXISTS "${d.db}"`);
      await this.conn.run(`CREATE TABLE IF NOT EXISTS "${d.db}"."${d.table}" (${d.columns.map((c) => `"${c.name}" ${DUCK_TYPE[c.type]}`).join(', ')})`);
      await this.glue.send(
        new CreateTableCommand({
          DatabaseName: d.db,
          TableInput: {
            Name: d.table,
            TableType: 'EXTERNAL_TABLE',
            Parameters: { table_type: 'ICEBERG', metadata_location: `${d.location}metadata/00000-oracle.metadata.json` },
            StorageDescriptor: { Columns: d.columns.map((c) => ({ Name: c.name, Type: c.type })), Location: d.location },
          },
        }),
      );
      return;
    }
    if (/^ALTER TABLE /.test(sql)) {
      const d = parseDdl(sql);
      for (const c of d.columns) await this.conn.run(`ALTER TABLE "${d.db}"."${d.table}" ADD COLUMN "${c.name}" ${DUCK_TYPE[c.type]}`);
      const t = (await this.glue.send(new GetTableCommand({ DatabaseName: d.db, Name: d.table }))).Table!;
      await this.glue.send(
        new UpdateTableCommand({
          DatabaseName: d.db,
          TableInput: {
            Name: d.table,
            TableType: t.TableType,
            Parameters: t.Parameters,
            StorageDescriptor: { ...t.StorageDescriptor, Columns: [...(t.StorageDescriptor?.Columns ?? []), ...d.columns.map((c) => ({ Name: c.name, Type: c.type }))] },
          },
        }),
      );
      return;
    }
    if (/^CREATE EXTERNAL TABLE /.test(sql)) {
      const d = parseDdl(sql);
      if (!sql.includes("ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'")) throw new Error('oracle: stage must be JSON');
      await this.conn.run(`CREATE TABLE "${d.db}"."${d.table}" (${d.columns.map((c) => `"${c.name}" VARCHAR`).join(', ')})`);
      const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(d.location!)!;
      const listed = await this.s3.send(new ListObjectsV2Command({ Bucket: m[1]!, Prefix: m[2]! }));
      for (const obj of listed.Contents ?? []) {
        const body = await (await this.s3.send(new GetObjectCommand({ Bucket: m[1]!, Key: obj.Key! }))).Body!.transformToString('utf8');
        const file = path.join(this.tmp, `${path.basename(obj.Key!)}-${Date.now()}-${Math.random()}.json`);
        fs.writeFileSync(file, body);
        const cols = d.columns.map((c) => `'${c.name}': 'VARCHAR'`).join(', ');
        await this.conn.run(
          `INSERT INTO "${d.db}"."${d.table}" SELECT * FROM read_json('${file}', format = 'newline_delimited', columns = {${cols}})`,
        );
      }
      return;
    }
    if (/^DROP TABLE IF EXISTS /.test(sql)) {
      const d = parseDdl(sql);
      await this.conn.run(`DROP TABLE IF EXISTS "${d.db}"."${d.table}"`);
      await this.glue.send(new DeleteTableCommand({ DatabaseName: d.db, Name: d.table })).catch(() => undefined);
      return;
    }
    if (/^SELECT\s/i.test(sql)) {
      const reader = await this.conn.runAndReadAll(sql);
      const names = reader.columnNames();
      const rows = reader.getRowsJS().map((r) => r.map((v) => (v === null || v === undefined ? null : String(v))));
      await queueAthenaResults(this.endpoint, [{ rows: [names, ...rows], columns: names }]);
      return;
    }
    if (/^MERGE INTO /.test(sql)) {
      // Trino's json_extract_scalar is DuckDB's json_extract_string.
      await this.conn.run(`CREATE OR REPLACE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)`);
      await this.conn.run(sql);
      return;
    }
    throw new Error(`oracle: unexpected statement ${sql.split('\n')[0]}`);
  }
}
