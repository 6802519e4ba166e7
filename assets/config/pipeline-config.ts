/**
 * The pipeline config's schema: the one place that says which settings exist, their types, their
 * defaults, the variables they fall back to and what makes them wrong. `PipelineConfig` is what
 * it produces (plus the file and the environment: assets/config/load-config.ts). The commented
 * assets/config/embedded.yaml is checked against it (test/assets/config-schema.test.ts).
 */
import { z } from 'zod';
import { deadlineCronProblem } from '../../runtime/freshness.js';
import { alertsSchema, secretRef } from './alerts-config.js';
import type { EnvironmentConfig } from './environment.js';
import { eventLogSchema } from './event-log-config.js';
import { awsRegion, bool, duration, issue, list, LOGIN_URL_FIX, loginUrlProblem, matching, maybe, msg, number, oneOf, refused, section, setting, text, urlOf, type Env } from './schema-kit.js';
import { warehouseSchema, type WarehouseConfig, type WarehouseEngineName } from './warehouse-config.js';

export type { AthenaConfig, TrinoConfig, WarehouseEngineName } from './warehouse-config.js';
export type { AlertsConfig, SecretRef } from './alerts-config.js';
export type { EventLogConfig } from './event-log-config.js';

/** The types a configured field is stored as in raw (every warehouse engine maps each to its own). */
export const COLUMN_TYPES = ['string', 'boolean', 'timestamp', 'double', 'bigint', 'date'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

const AUTH_METHODS = ['client_credentials', 'jwt', 'refresh_token', 'password'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

const CREDENTIAL_SOURCES = ['simulator', 'env', 'file', 'k8s_secret', 'aws_secrets_manager'] as const;
export type CredentialsSource =
  | { source: 'simulator' }
  | { source: 'env'; prefix: string }
  | { source: 'file'; path: string }
  | { source: 'k8s_secret'; dir: string }
  | { source: 'aws_secrets_manager'; secretName: string; region?: string; endpoint?: string };

/** The source each setting of salesforce.auth.credentials belongs to: another source's setting would be silently unused. */
const CREDENTIALS_OWNER = { prefix: 'env', path: 'file', dir: 'k8s_secret', secret_name: 'aws_secrets_manager', region: 'aws_secrets_manager', endpoint: 'aws_secrets_manager' } as const;

function salesforceSchema() {
  const secretValue = refused('holds a secret value', 'keep secrets out of the config; use source: env, file, k8s_secret or aws_secrets_manager');
  const credentials = section({
    /** Default: simulator with salesforce.mode simulator, else env. */
    source: maybe(oneOf(CREDENTIAL_SOURCES)),
    /** source env; default SF_. */
    prefix: maybe(text()),
    path: maybe(text()),
    /** source k8s_secret; default /var/run/secrets/salesforce. */
    dir: maybe(text()),
    secret_name: maybe(text()),
    region: maybe(awsRegion('the config')),
    endpoint: maybe(text()),
    client_secret: secretValue,
    password: secretValue,
    private_key: secretValue,
  });
  return section({
    mode: setting(oneOf(['simulator', 'salesforce']), { default: 'simulator' }),
    api_version: setting(matching(/^\d{2}\.0$/, (v) => `"${v}" is not an API version`, 'write it like "62.0" (quoted)'), { default: '62.0' }),
    login_url: maybe(text()),
    auth: setting(section({ method: setting(oneOf(AUTH_METHODS), { default: 'client_credentials' }), credentials: setting(credentials, { default: {} }) }), { default: {} }),
    simulator: setting(
      section({
        users: setting(number({ min: 1, max: 10_000_000, integer: true }), { default: 5000 }),
        seed: setting(number({ integer: true }), { default: 42 }),
        advance_days_per_run: setting(number({ min: 0, max: 365, integer: true }), { default: 1 }),
      }),
      { default: {} },
    ),
  }).transform((s, ctx) => {
    const loginUrlIs = s.login_url == null ? null : loginUrlProblem(s.login_url, s.mode);
    if (loginUrlIs) {
      issue(ctx, ['login_url'], loginUrlIs, LOGIN_URL_FIX);
      return z.NEVER;
    }
    const at = ['auth', 'credentials'];
    const c = s.auth.credentials;
    const source = c.source ?? (s.mode === 'simulator' ? 'simulator' : 'env');
    if (source === 'simulator' && s.mode !== 'simulator') {
      issue(ctx, [...at, 'source'], 'the simulator credentials only work with salesforce.mode: simulator', 'use env, file, k8s_secret or aws_secrets_manager');
      return z.NEVER;
    }
    for (const [key, owner] of Object.entries(CREDENTIALS_OWNER)) {
      if (owner !== source && c[key as keyof typeof CREDENTIALS_OWNER] !== undefined) {
        issue(ctx, [...at, key], `only applies to source: ${owner}`, `remove it or set source: ${owner}`);
        return z.NEVER;
      }
    }
    const need = (key: 'path' | 'secret_name'): string => {
      if (c[key] === undefined) issue(ctx, [...at, key], 'is missing', `add salesforce.auth.credentials.${key}: <text>`);
      return c[key] ?? '';
    };
    let credentialsSource: CredentialsSource;
    switch (source) {
      case 'simulator':
        credentialsSource = { source };
        break;
      case 'env':
        credentialsSource = { source, prefix: c.prefix ?? 'SF_' };
        break;
      case 'file':
        credentialsSource = { source, path: need('path') };
        break;
      case 'k8s_secret':
        credentialsSource = { source, dir: c.dir ?? '/var/run/secrets/salesforce' };
        break;
      case 'aws_secrets_manager':
        credentialsSource = { source, secretName: need('secret_name'), ...(c.region ? { region: c.region } : {}), ...(c.endpoint ? { endpoint: c.endpoint } : {}) };
        break;
    }
    return {
      mode: s.mode,
      apiVersion: s.api_version,
      loginUrl: s.login_url ?? null,
      auth: { method: s.auth.method, credentials: credentialsSource },
      simulator: { users: s.simulator.users, seed: s.simulator.seed, advanceDaysPerRun: s.simulator.advance_days_per_run },
    };
  });
}

function sourceSchema() {
  const column = section({
    /** The Salesforce field name, e.g. `Audit_Phase__c`. */
    name: matching(/^[A-Za-z][A-Za-z0-9_]*$/, (v) => `"${v}" is not a Salesforce field name`, 'use the API name, e.g. Audit_Phase__c'),
    type: oneOf(COLUMN_TYPES),
    /**
     * May be missing from the object's describe (its raw column then stays null). Default: false,
     * except IsDeleted (User has none): a missing field fails the run rather than read as null.
     */
    optional: maybe(bool()),
  }).transform(({ name, type, optional }) => ({ name, type, ...(optional !== undefined ? { optional } : {}) }));
  return setting(
    section({
      object: setting(text(), { default: 'User' }),
      destination_table: setting(oneOf(['sf_user']), { default: 'sf_user' }),
      cursor_field: setting(text(), { default: 'SystemModstamp' }),
      lookback: setting(duration(), { default: '1h' }),
      bulk_threshold: setting(number({ min: 1, integer: true }), { default: 50_000 }),
      bulk_page_size: setting(number({ min: 1000, max: 500_000, integer: true }), { default: 20_000 }),
      page_size: setting(number({ min: 200, max: 2000, integer: true }), { default: 2000 }),
      request_timeout: setting(duration(), { default: '120s' }),
      api_budget_share: setting(number({ min: 0.01, max: 1 }), { default: 0.5 }),
      columns: list(column),
    }).transform((s, ctx) => {
      const seen = new Set<string>();
      for (const [i, c] of s.columns.entries()) {
        if (seen.has(c.name.toLowerCase())) issue(ctx, ['columns', i, 'name'], `"${c.name}" is listed twice`, 'remove the duplicate');
        seen.add(c.name.toLowerCase());
      }
      for (const required of ['Id', s.cursor_field, 'SystemModstamp']) {
        if (!seen.has(required.toLowerCase())) issue(ctx, ['columns'], `must include ${required}`, `add "- { name: ${required}, type: ${required === 'Id' ? 'string' : 'timestamp'} }"`);
      }
      return {
        object: s.object,
        destinationTable: s.destination_table as string,
        cursorField: s.cursor_field,
        lookbackMs: s.lookback,
        bulkThreshold: s.bulk_threshold,
        bulkPageSize: s.bulk_page_size,
        pageSize: s.page_size,
        requestTimeoutMs: s.request_timeout,
        apiBudgetShare: s.api_budget_share,
        columns: s.columns,
      };
    }),
    { default: {} },
  );
}
export type SourceColumn = PipelineConfig['source']['columns'][number];

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

/** A freshness policy: a time window (warn_after, fail_after) or a cron deadline (cron, lower_bound_delta, timezone). */
function policySchema() {
  return section({
    warn_after: maybe(duration()),
    /** Default (a time window): 50h. */
    fail_after: maybe(duration()),
    cron: maybe(text()),
    /** Default (a cron deadline): 0s. */
    lower_bound_delta: maybe(duration()),
    timezone: maybe(text()),
    data_time: setting(bool(), { default: false }),
  }).transform((p, ctx): Omit<FreshnessConfig, 'where'> => {
    const fc: Omit<FreshnessConfig, 'where'> = { dataTime: p.data_time };
    if (p.cron !== undefined) {
      const problem = deadlineCronProblem(p.cron);
      if (problem) issue(ctx, ['cron'], `"${p.cron}" is not a 5-field cron expression: ${problem}`, 'write minute hour day-of-month month day-of-week, e.g. "0 9 * * *" (09:00 every day)');
      fc.cron = p.cron;
      for (const k of ['warn_after', 'fail_after'] as const) {
        if (p[k] !== undefined) issue(ctx, [k], 'cannot be combined with cron (a policy is a time window or a cron deadline)', `remove ${k}, or remove cron and lower_bound_delta`);
      }
      fc.lowerBoundDeltaMs = p.lower_bound_delta ?? 0;
      if (p.timezone) {
        try {
          new Intl.DateTimeFormat('en', { timeZone: p.timezone });
        } catch {
          issue(ctx, ['timezone'], `"${p.timezone}" is not a time zone`, 'use an IANA name such as Europe/Berlin');
        }
        fc.timezone = p.timezone;
      }
    } else {
      for (const k of ['lower_bound_delta', 'timezone'] as const) {
        if (p[k] !== undefined) issue(ctx, [k], 'only applies to a cron policy', `remove ${k}, or add cron: "<5-field expression>"`);
      }
      fc.failAfterMs = p.fail_after ?? 50 * 3_600_000;
      if (p.warn_after !== undefined) fc.warnAfterMs = p.warn_after;
      if (fc.warnAfterMs !== undefined && fc.warnAfterMs >= fc.failAfterMs) issue(ctx, ['warn_after'], 'must be shorter than fail_after', 'make warn_after < fail_after');
    }
    return fc;
  });
}

function checksSchema() {
  const range = section({
    min: setting(number({ min: 0, integer: true }), { default: 4000 }),
    max: setting(number({ min: 0, integer: true }), { default: 6000 }),
  }).superRefine((r, ctx) => {
    if (r.min > r.max) issue(ctx, [], `min ${r.min} is above max ${r.max}: the check could never pass`, 'swap them');
  });
  return setting(
    section({
      raw_record_count: setting(range, { default: {} }),
      raw_record_count_max_change_pct: setting(number({ min: 0 }), { default: 20 }),
      extraction_max_duration: setting(duration(), { default: '1800s' }),
    }).transform((c) => ({ rawRecordCount: c.raw_record_count, rawRecordCountMaxChangePct: c.raw_record_count_max_change_pct, extractionMaxDurationMs: c.extraction_max_duration })),
    { default: {} },
  );
}

/** ui.base_url: where `sfpipe ui` is served, so alerts link to an asset's or a run's page. Not a secret: no credentials in it. */
function uiSchema() {
  const baseUrl = text().superRefine((v, ctx) => {
    const url = urlOf(v);
    if (url && (url.username || url.password)) {
      issue(ctx, [], 'holds credentials (user:password@) in its URL', 'write the URL people open, e.g. https://sfpipe.example.com; put any login in front of it (a proxy), not in alerts');
    } else if (!url || !/^https?:$/.test(url.protocol) || url.search || url.hash) {
      issue(ctx, [], `"${v}" is not an http(s) URL without a query`, 'write where sfpipe ui is served, e.g. https://sfpipe.example.com or http://localhost:8642');
    }
  });
  /** http(s)://host[:port][/path], no trailing slash; null: no links. */
  return setting(section({ base_url: maybe(baseUrl) }).transform((u) => ({ baseUrl: u.base_url?.replace(/\/+$/, '') ?? null })), { default: {} });
}

function metricsSchema() {
  return setting(
    section({
      // A URL written as it is is not a secret; a reference may be.
      pushgateway_url: z.union([text().transform((value) => ({ value })), secretRef('SFPIPE_PUSHGATEWAY_URL')]),
      job: setting(text(), { default: 'sf-user-pipeline' }),
    }).transform((m) => ({ pushgatewayUrl: m.pushgateway_url, job: m.job })),
    { default: {} },
  );
}

/** The dbt profile of each warehouse engine (dbt/profiles.yml); its targets are the stages. */
const DBT_PROFILE: Readonly<Record<WarehouseEngineName, string>> = { duckdb: 'sf_user_pipeline', athena: 'sf_user_pipeline_athena', trino: 'sf_user_pipeline_trino' };

function dbtSchema() {
  return setting(
    section({
      target: refused(
        "was removed: dbt's target is the environment (dev, staging or prod: --env or $SFPIPE_ENV) and warehouse.engine picks the profile (the adapter)",
        'remove dbt.target',
      ),
      /** dbt --threads; null: the profile's. */
      threads: maybe(number({ min: 1, max: 64, integer: true })),
      /** false: `dbt build --exclude-resource-type unit_test` (unit tests cost warehouse queries; run them in CI). */
      unit_tests: setting(bool(), { default: true }),
      /**
       * An incremental run's data tests read only the users it touched; a run whose models were
       * last tested in full longer ago than this (or a full refresh) tests every row. 0: always in full.
       */
      full_test_every: setting(duration(), { default: '7d' }),
    }),
    { default: {} },
  );
}

/**
 * The whole file (after its environment's overlay is merged in). `env`: where settings' variables
 * are read; `locate`: a path's place in the file, kept with settings that are checked later.
 */
export function pipelineConfigSchema(env: Env, locate: (path: (string | number)[]) => string) {
  const policy = policySchema();
  return section({
    salesforce: setting(salesforceSchema(), { default: {} }),
    source: sourceSchema(),
    freshness: setting(
      z.record(z.string(), setting(policy, { default: {} }), { error: msg('must be a mapping', 'write {path} as "key: value" lines') }).transform((f) =>
        Object.fromEntries(Object.entries(f).map(([key, p]): [string, FreshnessConfig] => [key, { ...p, where: locate(['freshness', key]) }])),
      ),
      { default: {} },
    ),
    checks: checksSchema(),
    /** Channels (Slack, webhook, email) and escalation: assets/config/alerts-config.ts. */
    alerts: alertsSchema(env),
    ui: uiSchema(),
    metrics: metricsSchema(),
    dbt: dbtSchema(),
    warehouse: warehouseSchema(env),
    /** Where the event log lives: the SQLite file in the state directory (default) or objects in S3. */
    event_log: eventLogSchema(env),
    /** The overlays: load-config.ts merges the one in use over the file before this schema reads it. */
    environments: z.unknown().optional(),
  }).transform(({ environments: _, event_log, dbt, ...c }) => ({
    ...c,
    dbt: {
      /** The profiles.yml profile of the warehouse engine (its adapter); the target is environment.name. */
      profile: DBT_PROFILE[c.warehouse.engine],
      threads: dbt.threads ?? null,
      unitTests: dbt.unit_tests,
      fullTestEveryMs: dbt.full_test_every,
    },
    eventLog: event_log,
  }));
}

type Parsed = z.output<ReturnType<typeof pipelineConfigSchema>>;

export type PipelineConfig = Omit<Parsed, 'warehouse'> & {
  /** The file it came from, for messages. */
  file: string;
  warehouse: Omit<WarehouseConfig, 'schemaSuffix' | 'protectedLocations'>;
  /** The stage (dev, staging, prod; --env / $SFPIPE_ENV): its overlay, schema suffix and the locations it must not write. */
  environment: EnvironmentConfig;
};
