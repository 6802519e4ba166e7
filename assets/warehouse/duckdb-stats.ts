import { DuckDBInstance } from '@duckdb/node-api';

/** Runs read-only aggregate queries against a DuckDB file and closes it again. */
export async function queryDuckDbReadOnly(file: string, sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  const conn = await instance.connect();
  try {
    const reader = await conn.runAndReadAll(sql);
    return reader.getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
