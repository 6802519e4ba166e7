/** The type a configured field is stored as in raw (every warehouse engine maps it to its own). */
export type ColumnType = 'string' | 'boolean' | 'timestamp' | 'double' | 'bigint' | 'date';
import type { AlertsConfig } from './alerts-config.js';
import type { EnvironmentConfig } from './environment.js';
import type { EventLogConfig } from './event-log-config.js';
import type { WarehouseConfig } from './warehouse-config.js';
export type { AthenaConfig, TrinoConfig, WarehouseEngineName } from './warehouse-config.js';

export type CredentialsSource =
  | { source: 'simulator' }
  | { source: 'env'; prefix: string }
  | { source: 'file'; path: string }
  | { source: 'k8s_secret'; dir: string }
  | { source: 'aws_secrets_manager'; secretName: string; region?: string; endpoint?: string };

export type AuthMethod = 'client_credentials' | 'jwt' | 'refresh_token' | 'password';

export interface SourceColumn {
  /** The Salesforce field name, e.g. `Audit_Phase__c`. */
  name: string;
  type: ColumnType;
  /**
   * May be missing from the object's describe (its raw column then stays null). Default: false,
   * except IsDeleted (User has none): a missing field fails the run rather than read as null.
   */
  optional?: boolean;
}


export type { SecretRef } from './alerts-config.js';
import type { SecretRef } from './alerts-config.js';

export interface FreshnessConfig {
  warnAfterMs?: number;
  failAfterMs?: number;
  cron?: string;
  timezone?: string;
  lowerBoundDeltaMs?: number;
  dataTime: boolean;
  /** Where the entry is (`file: freshness.<key> (line N)`), to name it in errors found later. */
  where: string;
}

export interface PipelineConfig {
  /** The file it came from, for messages. */
  file: string;
  salesforce: {
    mode: 'simulator' | 'salesforce';
    apiVersion: string;
    loginUrl: string | null;
    auth: { method: AuthMethod; credentials: CredentialsSource };
    simulator: { users: number; seed: number; advanceDaysPerRun: number };
  };
  source: {
    object: string;
    destinationTable: string;
    cursorField: string;
    lookbackMs: number;
    bulkThreshold: number;
    bulkPageSize: number;
    pageSize: number;
    apiBudgetShare: number;
    requestTimeoutMs: number;
    columns: SourceColumn[];
  };
  freshness: Record<string, FreshnessConfig>;
  checks: {
    rawRecordCount: { min: number; max: number };
    rawRecordCountMaxChangePct: number;
    extractionMaxDurationMs: number;
  };
  /** Channels (Slack, webhook, email) and escalation: assets/config/alerts-config.ts. */
  alerts: AlertsConfig;
  /** `sfpipe ui`: where it is served (http(s)://host[:port][/path], no trailing slash), for links in alerts; null: no links. */
  ui: { baseUrl: string | null };
  metrics: { pushgatewayUrl: SecretRef | { value: string } | null; job: string };
  dbt: {
    /** The profiles.yml profile of the warehouse engine (its adapter); the target is environment.name. */
    profile: string;
    /** dbt --threads; null: the profile's. */
    threads: number | null;
    /** false: `dbt build --exclude-resource-type unit_test` (unit tests cost warehouse queries; run them in CI). */
    unitTests: boolean;
    /**
     * An incremental run's data tests read only the users it touched; a run whose models were
     * last tested in full longer ago than this (or a full refresh) tests every row. 0: always in full.
     */
    fullTestEveryMs: number;
  };
  warehouse: Omit<WarehouseConfig, 'schemaSuffix' | 'protectedLocations'>;
  /** Where the event log lives: the SQLite file in the state directory (default) or objects in S3. */
  eventLog: EventLogConfig;
  /** The stage (dev, staging, prod; --env / $SFPIPE_ENV): its overlay, schema suffix and the locations it must not write. */
  environment: EnvironmentConfig;
}
