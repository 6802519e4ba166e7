/**
 * The one place where the warehouse engine is chosen. Everything engine-specific the pipeline
 * needs — the raw warehouse, the settings dbt's profiles.yml reads, read-only queries (row
 * statistics, `sfpipe history`) and how the engine's statements are logged — comes from here, so
 * the raw asset, the dbt asset and the CLI never branch on `warehouse.engine` themselves.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Logger } from '../../runtime/logging.js';
import type { PipelineConfig, TrinoConfig, WarehouseEngineName } from '../config/pipeline-config.js';
import { readSecret } from '../config/alert-destinations.js';
import { logAthenaStatement } from './athena-sql.js';
import type { ReadOnlyQuery } from './duckdb-stats.js';
import type { RawWarehouse } from './raw-warehouse.js';
import type { TrinoConnection } from './trino-query.js';

export interface WarehouseEngine {
  readonly name: WarehouseEngineName;
  /** A description for messages, without secrets. */
  readonly description: string;
  /** Opens the raw warehouse; the caller closes it (DuckDB allows one writer per file). */
  openRawWarehouse(opts: { log: Logger; signal?: AbortSignal }): Promise<RawWarehouse>;
  /** The variables dbt's profiles.yml reads for this engine (secrets included: only for dbt's environment). */
  dbtEnv(): Record<string, string>;
  /** Runs read-only SELECTs (row statistics, history), then releases the connection. */
  withReadOnly<T>(opts: { log: Logger; signal?: AbortSignal; purpose: string }, fn: (query: ReadOnlyQuery) => Promise<T>): Promise<T>;
  /** Whether dbt's debug log names each statement's engine query id (Athena does), to log it per node. */
  readonly tracesDbtQueries: boolean;
  /** Why the dimension cannot be read yet, or null (e.g. the DuckDB file does not exist). */
  missingWarehouse(): string | null;
}

export function warehouseEngine(config: PipelineConfig, stateDir: string): WarehouseEngine {
  switch (config.warehouse.engine) {
    case 'duckdb':
      return duckdbEngine(config, stateDir);
    case 'athena':
      return athenaEngine(config);
    case 'trino':
      return trinoEngine(config.warehouse.trino!);
  }
}

function duckdbEngine(config: PipelineConfig, stateDir: string): WarehouseEngine {
  const file = path.resolve(stateDir, config.warehouse.duckdb.path);
  return {
    name: 'duckdb',
    description: `DuckDB file ${file}`,
    tracesDbtQueries: false,
    async openRawWarehouse() {
      const { DuckDbRawWarehouse } = await import('./duckdb-raw-warehouse.js');
      return DuckDbRawWarehouse.open(file, { memoryLimit: config.warehouse.duckdb.memoryLimit });
    },
    dbtEnv: () => ({ SFPIPE_DUCKDB_PATH: file }),
    async withReadOnly(_opts, fn) {
      const { withDuckDbReadOnly } = await import('./duckdb-stats.js');
      return withDuckDbReadOnly(file, fn);
    },
    missingWarehouse: () => (fs.existsSync(file) ? null : `the embedded warehouse ${file} does not exist yet`),
  };
}

function athenaEngine(config: PipelineConfig): WarehouseEngine {
  const athena = config.warehouse.athena!;
  return {
    name: 'athena',
    description: `Athena workgroup ${athena.workGroup} (${athena.region})`,
    tracesDbtQueries: true,
    async openRawWarehouse({ log, signal }) {
      const { AthenaRawWarehouse } = await import('./athena-raw-warehouse.js');
      return new AthenaRawWarehouse({
        aws: { region: athena.region, ...(athena.endpoint ? { endpoint: athena.endpoint } : {}) },
        workGroup: athena.workGroup,
        ...(athena.outputLocation ? { outputLocation: athena.outputLocation } : {}),
        database: athena.database,
        catalog: athena.catalog,
        tableLocation: athena.tableLocation,
        stagingLocation: athena.stagingLocation,
        ...(signal ? { signal } : {}),
        onStatement: (s) => logAthenaStatement(log, s.queryExecutionId, s.sql, { purpose: s.purpose }),
        onNotice: (message) => log.warn(message),
      });
    },
    dbtEnv: () => ({
      SFPIPE_ATHENA_REGION: athena.region,
      SFPIPE_ATHENA_WORK_GROUP: athena.workGroup,
      SFPIPE_ATHENA_S3_DATA_DIR: athena.dbtDataLocation,
      SFPIPE_RAW_SCHEMA: athena.database,
      SFPIPE_ATHENA_CATALOG: athena.catalog,
      ...(athena.outputLocation ? { SFPIPE_ATHENA_S3_STAGING_DIR: athena.outputLocation } : {}),
      // boto3 honours AWS_ENDPOINT_URL for every service (Athena, Glue, S3, STS).
      ...(athena.endpoint ? { AWS_ENDPOINT_URL: athena.endpoint } : {}),
    }),
    async withReadOnly({ log, signal, purpose }, fn) {
      const { withAthenaReadOnly } = await import('./athena-stats.js');
      return withAthenaReadOnly(
        athena,
        { ...(signal ? { signal } : {}), onStatement: (s) => logAthenaStatement(log, s.queryExecutionId, s.sql, { purpose }) },
        fn,
      );
    },
    missingWarehouse: () => null,
  };
}

/** The password or JWT, read from its reference; null with auth none; a clear error when it is missing. */
function trinoSecret(trino: TrinoConfig): string | null {
  if (trino.auth === 'none') return null;
  const secret = trino.secret ? readSecret(trino.secret) : null;
  if (!secret) {
    const where = trino.secret && 'env' in trino.secret ? `the environment variable ${trino.secret.env}` : `the file ${trino.secret && 'file' in trino.secret ? trino.secret.file : '?'}`;
    throw new Error(`warehouse.trino.auth is ${trino.auth}, but ${where} is empty or missing: set it (a mounted Secret in the cluster)`);
  }
  return secret;
}

/** The connection the runtime opens to Trino, with the password or JWT read from its reference. */
export function trinoConnection(trino: TrinoConfig, schema: string): TrinoConnection {
  const secret = trinoSecret(trino);
  return {
    server: trino.server,
    catalog: trino.catalog,
    schema,
    user: trino.user,
    ...(trino.auth === 'password' ? { password: secret! } : {}),
    ...(trino.auth === 'jwt' ? { jwt: secret! } : {}),
    ...(trino.caFile ? { caPem: fs.readFileSync(trino.caFile, 'utf8') } : {}),
  };
}

function trinoEngine(trino: TrinoConfig): WarehouseEngine {
  const logStatement = (log: Logger, queryId: string, sql: string, meta: Record<string, unknown>): void => {
    log.info(`trino query ${queryId}: ${sql.split('\n')[0]!.slice(0, 160)}`, { trinoQueryId: queryId, ...meta });
  };
  return {
    name: 'trino',
    description: `Trino ${trino.server}, catalog ${trino.catalog}`,
    tracesDbtQueries: false,
    async openRawWarehouse({ log, signal }) {
      const { TrinoRawWarehouse } = await import('./trino-raw-warehouse.js');
      return new TrinoRawWarehouse({
        connection: trinoConnection(trino, trino.rawSchema),
        database: trino.rawSchema,
        ...(trino.schemaLocation ? { schemaLocation: trino.schemaLocation } : {}),
        ...(signal ? { signal } : {}),
        onStatement: (s) => logStatement(log, s.queryId, s.sql, { purpose: s.purpose }),
        onNotice: (message) => log.warn(message),
      });
    },
    dbtEnv() {
      const url = new URL(trino.server);
      const secret = trinoSecret(trino);
      return {
        SFPIPE_TRINO_HOST: url.hostname,
        SFPIPE_TRINO_PORT: url.port || (url.protocol === 'https:' ? '443' : '80'),
        SFPIPE_TRINO_SCHEME: url.protocol.replace(':', ''),
        SFPIPE_TRINO_USER: trino.user,
        SFPIPE_TRINO_CATALOG: trino.catalog,
        SFPIPE_RAW_SCHEMA: trino.rawSchema,
        SFPIPE_TRINO_AUTH: trino.auth === 'password' ? 'ldap' : trino.auth,
        ...(secret && trino.auth === 'password' ? { SFPIPE_TRINO_PASSWORD: secret } : {}),
        ...(secret && trino.auth === 'jwt' ? { SFPIPE_TRINO_JWT: secret } : {}),
        ...(trino.caFile ? { SFPIPE_TRINO_CA_FILE: trino.caFile } : {}),
      };
    },
    async withReadOnly({ log, signal, purpose }, fn) {
      const { TrinoQueryRunner } = await import('./trino-query.js');
      const runner = new TrinoQueryRunner(trinoConnection(trino, trino.rawSchema), (s) => logStatement(log, s.queryId, s.sql, { purpose }));
      return fn(async (sql) => {
        const r = await runner.run(sql, purpose, signal ? { signal } : {});
        return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]])));
      });
    },
    missingWarehouse: () => null,
  };
}
