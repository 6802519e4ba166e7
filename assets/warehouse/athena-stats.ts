import { createAwsClients } from '../aws/clients.js';
import type { AthenaConfig } from '../config/pipeline-config.js';
import { AthenaQueryRunner, type StatementRecord } from './athena-query.js';
import type { ReadOnlyQuery } from './duckdb-stats.js';

/** Read-only SELECTs through Athena (row statistics after dbt), each logged with its query execution id. */
export async function withAthenaReadOnly<T>(
  athena: AthenaConfig,
  opts: { signal?: AbortSignal; onStatement?: (record: StatementRecord) => void },
  fn: (query: ReadOnlyQuery) => Promise<T>,
): Promise<T> {
  const clients = createAwsClients({ region: athena.region, endpoint: athena.endpoint ?? undefined });
  const runner = new AthenaQueryRunner(clients.athena, {
    workGroup: athena.workGroup,
    catalog: athena.catalog,
    ...(athena.outputLocation ? { outputLocation: athena.outputLocation } : {}),
    ...(opts.onStatement ? { onStatement: opts.onStatement } : {}),
  });
  try {
    return await fn(async (sql) => {
      const result = await runner.run(sql, 'row statistics', { hasHeader: true, ...(opts.signal ? { signal: opts.signal } : {}) });
      return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i]])));
    });
  } finally {
    clients.destroy();
  }
}
