import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { alertsSchema } from './alerts-config.js';
import { deadlineCronProblem } from '../../runtime/freshness.js';
import { ConfigError, ConfigReader, formatPath } from './config-reader.js';
import {
  DBT_SCHEMAS,
  defaultSchemaSuffix,
  ENV_VARIABLE,
  ENVIRONMENTS,
  formatLocation,
  LOCATION_FORMS,
  overlaps,
  parseEnvironmentName,
  parseLocation,
  type EnvironmentConfig,
  type EnvironmentName,
  type Location,
  type WrittenLocation,
} from './environment.js';
import { readEventLogConfig } from './event-log-config.js';
import { warehouseSchema } from './warehouse-config.js';
import type { AthenaConfig, ColumnType, CredentialsSource, FreshnessConfig, PipelineConfig, SecretRef, SourceColumn, TrinoConfig, WarehouseEngineName } from './pipeline-config.js';

/** The dbt profile of each warehouse engine (dbt/profiles.yml); its targets are the stages. */
const DBT_PROFILE: Readonly<Record<WarehouseEngineName, string>> = { duckdb: 'sf_user_pipeline', athena: 'sf_user_pipeline_athena', trino: 'sf_user_pipeline_trino' };

const here = path.dirname(fileURLToPath(import.meta.url));

/** The config shipped for the embedded default (simulator + DuckDB). */
export function embeddedConfigPath(): string {
  // Works from the sources and from dist/ alike.
  const candidates = [path.join(here, 'embedded.yaml'), path.resolve(here, '../../../assets/config/embedded.yaml')];
  return candidates.find((p) => fs.existsSync(p)) ?? candidates[0]!;
}

const loaded = new Map<string, PipelineConfig>();

/**
 * `$SFPIPE_CONFIG` when set, else the embedded default, with the overlay of the environment
 * `$SFPIPE_ENV` names (`--env` sets it). Each file is read once per process and environment:
 * definitions, resources, the event log, alerts and commands share it.
 */
export function loadPipelineConfig(file: string = process.env.SFPIPE_CONFIG || embeddedConfigPath()): PipelineConfig {
  const key = `${file}\0${process.env[ENV_VARIABLE] ?? ''}`;
  let config = loaded.get(key);
  if (!config) loaded.set(key, (config = readPipelineConfig(file)));
  return config;
}

function readPipelineConfig(file: string): PipelineConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read the pipeline config (${(err as NodeJS.ErrnoException).code ?? err}). Fix: point SFPIPE_CONFIG at a readable YAML file`);
  }
  return parsePipelineConfig(file, text);
}

const COLUMN_TYPES: readonly ColumnType[] = ['string', 'boolean', 'timestamp', 'double', 'bigint', 'date'];

export interface ParseOptions {
  /** Where SFPIPE_* defaults and SFPIPE_ENV are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The environment; default $SFPIPE_ENV, else dev. */
  environment?: EnvironmentName;
}

export function parsePipelineConfig(file: string, text: string, opts: ParseOptions = {}): PipelineConfig {
  const env = opts.env ?? process.env;
  let stage: EnvironmentName;
  try {
    stage = opts.environment ?? parseEnvironmentName(env[ENV_VARIABLE], `$${ENV_VARIABLE}`);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const r = new ConfigReader(file, text);
  const overlay = r.applyOverlay('environments', stage, ENVIRONMENTS);
  const mode = r.oneOf(['salesforce', 'mode'], ['simulator', 'salesforce'] as const, 'simulator');
  const apiVersion = r.string(['salesforce', 'api_version'], '62.0');
  if (!/^\d{2}\.0$/.test(apiVersion)) r.fail(['salesforce', 'api_version'], `"${apiVersion}" is not an API version`, 'write it like "62.0" (quoted)');

  const { schemaSuffix, protectedLocations, ...warehouse } = r.parse(['warehouse'], warehouseSchema(env));
  const engine = warehouse.engine;
  const columns: SourceColumn[] = [];
  const n = r.length(['source', 'columns']);
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const name = r.string(['source', 'columns', i, 'name']);
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) r.fail(['source', 'columns', i, 'name'], `"${name}" is not a Salesforce field name`, 'use the API name, e.g. Audit_Phase__c');
    if (seen.has(name.toLowerCase())) r.fail(['source', 'columns', i, 'name'], `"${name}" is listed twice`, 'remove the duplicate');
    seen.add(name.toLowerCase());
    columns.push({
      name,
      type: r.oneOf(['source', 'columns', i, 'type'], COLUMN_TYPES),
      ...(r.has(['source', 'columns', i, 'optional']) ? { optional: r.boolean(['source', 'columns', i, 'optional'], false) } : {}),
    });
  }
  const cursorField = r.string(['source', 'cursor_field'], 'SystemModstamp');
  for (const required of ['Id', cursorField, 'SystemModstamp']) {
    if (!seen.has(required.toLowerCase())) r.fail(['source', 'columns'], `must include ${required}`, `add "- { name: ${required}, type: ${required === 'Id' ? 'string' : 'timestamp'} }"`);
  }

  const config: PipelineConfig = {
    file,
    salesforce: {
      mode,
      apiVersion,
      loginUrl: r.optionalString(['salesforce', 'login_url']),
      auth: {
        method: r.oneOf(['salesforce', 'auth', 'method'], ['client_credentials', 'jwt', 'refresh_token', 'password'] as const, 'client_credentials'),
        credentials: readCredentials(r, mode),
      },
      simulator: {
        users: r.number(['salesforce', 'simulator', 'users'], { min: 1, max: 10_000_000, integer: true, fallback: 5000 }),
        seed: r.number(['salesforce', 'simulator', 'seed'], { integer: true, fallback: 42 }),
        advanceDaysPerRun: r.number(['salesforce', 'simulator', 'advance_days_per_run'], { min: 0, max: 365, integer: true, fallback: 1 }),
      },
    },
    source: {
      object: r.string(['source', 'object'], 'User'),
      destinationTable: r.oneOf(['source', 'destination_table'], ['sf_user'] as const, 'sf_user'),
      cursorField,
      lookbackMs: r.duration(['source', 'lookback'], '1h'),
      bulkThreshold: r.number(['source', 'bulk_threshold'], { min: 1, integer: true, fallback: 50_000 }),
      bulkPageSize: r.number(['source', 'bulk_page_size'], { min: 1000, max: 500_000, integer: true, fallback: 20_000 }),
      pageSize: r.number(['source', 'page_size'], { min: 200, max: 2000, integer: true, fallback: 2000 }),
      requestTimeoutMs: r.duration(['source', 'request_timeout'], '120s'),
      apiBudgetShare: r.number(['source', 'api_budget_share'], { min: 0.01, max: 1, fallback: 0.5 }),
      columns,
    },
    freshness: readFreshness(r),
    checks: {
      rawRecordCount: readCountRange(r),
      rawRecordCountMaxChangePct: r.number(['checks', 'raw_record_count_max_change_pct'], { min: 0, fallback: 20 }),
      extractionMaxDurationMs: r.duration(['checks', 'extraction_max_duration'], '1800s'),
    },
    alerts: r.parse(['alerts'], alertsSchema(env)),
    ui: { baseUrl: readUiBaseUrl(r) },
    metrics: {
      pushgatewayUrl:
        typeof r.raw(['metrics', 'pushgateway_url']) === 'string'
          ? { value: r.string(['metrics', 'pushgateway_url']) }
          : readSecretRef(r, ['metrics', 'pushgateway_url'], 'SFPIPE_PUSHGATEWAY_URL'),
      job: r.string(['metrics', 'job'], 'sf-user-pipeline'),
    },
    dbt: readDbt(r, engine),
    warehouse,
    eventLog: readEventLogConfig(r, env),
    environment: { name: stage, overlay: overlay.applied, schemaSuffix: '', protectedLocations: [] },
  };
  config.environment = readEnvironment(r, config, { file, text, declared: overlay.declared, env, schemaSuffix, protectedLocations });
  r.rejectUnknown();
  return config;
}

/**
 * The stage's schema suffix and the locations it must not write. Outside prod the config is
 * refused when a location it writes is one of prod's: an entry of warehouse.protected_locations,
 * or (when the file declares environments.prod) a location the file resolves to under --env prod.
 */
function readEnvironment(
  r: ConfigReader,
  config: PipelineConfig,
  src: { file: string; text: string; declared: string[]; env: NodeJS.ProcessEnv; schemaSuffix: string | null; protectedLocations: string[] },
): EnvironmentConfig {
  const stage = config.environment.name;
  const engine = config.warehouse.engine;
  const suffixPath = ['warehouse', 'schema_suffix'];
  const schemaSuffix =
    src.schemaSuffix ??
    defaultSchemaSuffix(stage, engine, src.env) ??
    r.fail(suffixPath, `cannot be derived: dev on ${engine} builds into per-developer schemas, and neither $SFPIPE_DEVELOPER nor $USER names you`, 'set SFPIPE_DEVELOPER=<your name>, or warehouse.schema_suffix (e.g. _alice) in environments.dev');
  const listed = src.protectedLocations.map((text) => ({ location: parseLocation(text)!, from: 'warehouse.protected_locations' }));
  const environment: EnvironmentConfig = { name: stage, overlay: config.environment.overlay, schemaSuffix, protectedLocations: [] };
  if (stage === 'prod') return environment;
  const prods: { location: Location; from: string }[] = [...listed];
  if (src.declared.includes('prod')) {
    let prod: PipelineConfig;
    try {
      // Without this process's environment: a dev shell's or pod's SFPIPE_* variables are not prod's.
      prod = parsePipelineConfig(src.file, src.text, { env: {}, environment: 'prod' });
    } catch (err) {
      const why = (err as Error).message.replace(`${src.file}: `, '').split('. Fix: ')[0];
      r.fail(['environments', 'prod'], `cannot tell prod's locations (needed to keep ${stage} out of them): ${why}`, 'give environments.prod its locations in this file (not only in environment variables)');
    }
    for (const w of writtenLocations(prod)) prods.push({ location: w.location, from: `environments.prod's ${formatPath(w.setting)}` });
  }
  environment.protectedLocations = [...new Set(prods.map((p) => formatLocation(p.location)))];
  const written = writtenLocations({ ...config, environment });
  // Where the fix goes: the stage's overlay when the file has overlays, else the file (or the chart's values) itself.
  const inOverlay = src.declared.length ? ` in environments.${stage}` : '';
  for (const w of written) {
    const hit = prods.find((p) => overlaps(w.location, p.location));
    if (!hit) continue;
    const fix =
      w.setting[0] === 'warehouse' && w.setting[1] === 'schema_suffix'
        ? `give ${stage} schemas of its own: set warehouse.schema_suffix${inOverlay} (e.g. _${stage === 'dev' ? 'yourname' : stage}), or another ${engine === 'trino' ? 'catalog' : 'database'}`
        : `give ${stage} a location of its own${inOverlay} (e.g. a bucket or prefix for ${stage}); if this is production, run with --env prod (SFPIPE_ENV=prod)`;
    r.fail(w.setting, `${formatLocation(w.location)} (${w.what}) is a prod location (${hit.from}: ${formatLocation(hit.location)}), and this is the ${stage} environment: a ${stage} run must never write there`, fix);
  }
  return environment;
}

/** Every location a run of this config writes: S3 prefixes, Glue databases, Trino schemas. */
export function writtenLocations(config: PipelineConfig): WrittenLocation[] {
  const out: WrittenLocation[] = [];
  const s3 = (prefix: string | null, setting: string[], what: string) => {
    const location = prefix ? parseLocation(prefix) : null;
    if (location?.kind === 's3') out.push({ location, setting, what });
  };
  const suffix = config.environment.schemaSuffix;
  const a = config.warehouse.athena;
  if (a) {
    const at = (k: string) => ['warehouse', 'athena', k];
    s3(a.tableLocation, at('table_location'), "the raw tables' prefix");
    s3(a.stagingLocation, at('staging_location'), "the raw load's staged files");
    s3(a.outputLocation, at('output_location'), "Athena's query results");
    s3(a.dbtDataLocation, at('dbt_data_location'), "the dbt models' tables");
    out.push({ location: { kind: 'glue', database: a.database }, setting: at('database'), what: 'the raw database' });
    for (const s of DBT_SCHEMAS) out.push({ location: { kind: 'glue', database: `${s}${suffix}` }, setting: ['warehouse', 'schema_suffix'], what: `dbt's database ${s}${suffix}` });
  }
  const t = config.warehouse.trino;
  if (t) {
    out.push({ location: { kind: 'trino', catalog: t.catalog, schema: t.rawSchema }, setting: ['warehouse', 'trino', 'raw_schema'], what: 'the raw schema' });
    for (const s of DBT_SCHEMAS) out.push({ location: { kind: 'trino', catalog: t.catalog, schema: `${s}${suffix}` }, setting: ['warehouse', 'schema_suffix'], what: `dbt's schema ${s}${suffix}` });
    s3(t.schemaLocation, ['warehouse', 'trino', 'schema_location'], "the raw schema's location");
  }
  if (config.eventLog.store === 's3') s3(config.eventLog.location, ['event_log', 's3_location'], 'the event log');
  return out;
}

function readFreshness(r: ConfigReader): Record<string, FreshnessConfig> {
  const out: Record<string, FreshnessConfig> = {};
  for (const key of r.keys(['freshness'])) {
    const p = ['freshness', key];
    const cron = r.optionalString([...p, 'cron']);
    const fc: FreshnessConfig = { dataTime: r.boolean([...p, 'data_time'], false), where: r.locate(p) };
    if (cron) {
      const problem = deadlineCronProblem(cron);
      if (problem) r.fail([...p, 'cron'], `"${cron}" is not a 5-field cron expression: ${problem}`, 'write minute hour day-of-month month day-of-week, e.g. "0 9 * * *" (09:00 every day)');
      fc.cron = cron;
      for (const k of ['warn_after', 'fail_after']) {
        if (r.has([...p, k])) r.fail([...p, k], 'cannot be combined with cron (a policy is a time window or a cron deadline)', `remove ${k}, or remove cron and lower_bound_delta`);
      }
      fc.lowerBoundDeltaMs = r.duration([...p, 'lower_bound_delta'], '0s');
      const tz = r.optionalString([...p, 'timezone']);
      if (tz) {
        try {
          new Intl.DateTimeFormat('en', { timeZone: tz });
        } catch {
          r.fail([...p, 'timezone'], `"${tz}" is not a time zone`, 'use an IANA name such as Europe/Berlin');
        }
        fc.timezone = tz;
      }
    } else {
      for (const k of ['lower_bound_delta', 'timezone']) {
        if (r.has([...p, k])) r.fail([...p, k], 'only applies to a cron policy', `remove ${k}, or add cron: "<5-field expression>"`);
      }
      fc.failAfterMs = r.duration([...p, 'fail_after'], '50h');
      if (r.has([...p, 'warn_after'])) fc.warnAfterMs = r.duration([...p, 'warn_after'], '26h');
      if (fc.warnAfterMs !== undefined && fc.warnAfterMs >= fc.failAfterMs) {
        r.fail([...p, 'warn_after'], 'must be shorter than fail_after', 'make warn_after < fail_after');
      }
    }
    out[key] = fc;
  }
  return out;
}

function readSecretRef(r: ConfigReader, path: string[], defaultEnv: string, inline = 'holds the URL itself; webhook URLs are secrets'): SecretRef | null {
  if (!r.has(path)) return { env: defaultEnv };
  if (r.raw(path) === null) return null;
  if (typeof r.raw(path) === 'string') {
    r.fail(path, inline, `write { env: ${defaultEnv} } or { file: /path/to/secret }`);
  }
  if (r.has([...path, 'env'])) return { env: r.string([...path, 'env']) };
  if (r.has([...path, 'file'])) return { file: r.string([...path, 'file']) };
  return r.fail(path, 'needs env or file', `write { env: ${defaultEnv} } or { file: /path/to/secret }`);
}

/** ui.base_url: where `sfpipe ui` is served, so alerts link to an asset's or a run's page. Not a secret: no credentials in it. */
function readUiBaseUrl(r: ConfigReader): string | null {
  const path = ['ui', 'base_url'];
  const v = r.optionalString(path);
  if (!v) return null;
  let url: URL | null = null;
  try {
    url = new URL(v);
  } catch {
    // reported below
  }
  if (url && (url.username || url.password)) r.fail(path, 'holds credentials (user:password@) in its URL', 'write the URL people open, e.g. https://sfpipe.example.com; put any login in front of it (a proxy), not in alerts');
  if (!url || !/^https?:$/.test(url.protocol) || url.search || url.hash) {
    r.fail(path, `"${v}" is not an http(s) URL without a query`, 'write where sfpipe ui is served, e.g. https://sfpipe.example.com or http://localhost:8642');
  }
  return v.replace(/\/+$/, '');
}

function readCountRange(r: ConfigReader): { min: number; max: number } {
  const min = r.number(['checks', 'raw_record_count', 'min'], { min: 0, integer: true, fallback: 4000 });
  const max = r.number(['checks', 'raw_record_count', 'max'], { min: 0, integer: true, fallback: 6000 });
  if (min > max) r.fail(['checks', 'raw_record_count'], `min ${min} is above max ${max}: the check could never pass`, 'swap them');
  return { min, max };
}

/** dbt's profile follows the warehouse engine (the adapter), its target is the environment. */
function readDbt(r: ConfigReader, engine: WarehouseEngineName): PipelineConfig['dbt'] {
  if (r.has(['dbt', 'target'])) {
    r.fail(
      ['dbt', 'target'],
      "was removed: dbt's target is the environment (dev, staging or prod: --env or $SFPIPE_ENV) and warehouse.engine picks the profile (the adapter)",
      'remove dbt.target',
    );
  }
  const threads = r.has(['dbt', 'threads']) ? r.number(['dbt', 'threads'], { min: 1, max: 64, integer: true }) : null;
  return {
    profile: DBT_PROFILE[engine],
    threads,
    unitTests: r.boolean(['dbt', 'unit_tests'], true),
    fullTestEveryMs: r.duration(['dbt', 'full_test_every'], '7d'),
  };
}

function readCredentials(r: ConfigReader, mode: 'simulator' | 'salesforce'): CredentialsSource {
  const base = ['salesforce', 'auth', 'credentials'];
  const source = r.oneOf([...base, 'source'], ['simulator', 'env', 'file', 'k8s_secret', 'aws_secrets_manager'] as const, mode === 'simulator' ? 'simulator' : 'env');
  if (source === 'simulator' && mode !== 'simulator') {
    r.fail([...base, 'source'], 'the simulator credentials only work with salesforce.mode: simulator', 'use env, file, k8s_secret or aws_secrets_manager');
  }
  if (r.has([...base, 'client_secret']) || r.has([...base, 'password']) || r.has([...base, 'private_key'])) {
    throw new ConfigError(`${r.file}: salesforce.auth.credentials holds a secret value. Fix: keep secrets out of the config; use source: env, file, k8s_secret or aws_secrets_manager`);
  }
  // Settings of another source would be silently unused: say which source they belong to.
  const owner: Record<string, string> = { prefix: 'env', path: 'file', dir: 'k8s_secret', secret_name: 'aws_secrets_manager', region: 'aws_secrets_manager', endpoint: 'aws_secrets_manager' };
  for (const [key, src] of Object.entries(owner)) {
    if (src !== source && r.has([...base, key])) r.fail([...base, key], `only applies to source: ${src}`, `remove it or set source: ${src}`);
  }
  switch (source) {
    case 'simulator':
      return { source };
    case 'env':
      return { source, prefix: r.string([...base, 'prefix'], 'SF_') };
    case 'file':
      return { source, path: r.string([...base, 'path']) };
    case 'k8s_secret':
      return { source, dir: r.string([...base, 'dir'], '/var/run/secrets/salesforce') };
    case 'aws_secrets_manager': {
      const region = r.optionalString([...base, 'region']);
      if (region) r.awsRegion([...base, 'region'], region, 'the config');
      const endpoint = r.optionalString([...base, 'endpoint']);
      return {
        source,
        secretName: r.string([...base, 'secret_name']),
        ...(region ? { region } : {}),
        ...(endpoint ? { endpoint } : {}),
      };
    }
  }
}

export { ConfigError };
