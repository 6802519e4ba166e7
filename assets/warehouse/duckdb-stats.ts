import { DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';

export type ReadOnlyQuery = (sql: string, params?: DuckDBValue[]) => Promise<Record<string, unknown>[]>;

/** Opens a DuckDB file read-only once for several queries, then releases it. */
export async function withDuckDbReadOnly<T>(file: string, fn: (query: ReadOnlyQuery) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  const conn = await instance.connect();
  try {
    return await fn(async (sql, params) => (await conn.runAndReadAll(sql, params)).getRowObjectsJson() as Record<string, unknown>[]);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
