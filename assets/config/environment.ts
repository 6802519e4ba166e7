/**
 * The stage a process runs in — dev, staging or prod — and what it changes:
 * - the config overlay: `environments.<stage>` of the config file, merged over the rest of it;
 * - the schema suffix of the dbt models on a shared warehouse (Athena, Trino): dev builds into
 *   `sf_staging_<developer>` / `sf_curated_<developer>`, staging into `…_staging`, prod into the
 *   plain names (`warehouse.schema_suffix` overrides it; DuckDB, a file of your own, has none);
 * - the locations it must never write: outside prod, the config refuses any location it would
 *   write that is one of prod's (see `protectedLocationProblem`).
 */
import os from 'node:os';
import type { WarehouseEngineName } from './pipeline-config.js';

export const ENVIRONMENTS = ['dev', 'staging', 'prod'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];
/** The variable `--env` sets (the CLI sets it before anything loads the config). */
export const ENV_VARIABLE = 'SFPIPE_ENV';
export const DEFAULT_ENVIRONMENT: EnvironmentName = 'dev';

/** The dbt models' configured schemas (dbt/dbt_project.yml `+schema`): their asset keys, before the suffix. */
export const DBT_SCHEMAS = ['sf_staging', 'sf_curated'] as const;

export interface EnvironmentConfig {
  name: EnvironmentName;
  /** `environments.<name>` was found and merged over the file; false: the file as it is. */
  overlay: boolean;
  /** Appended to the dbt models' schemas (e.g. `_alice`); '' in prod and on DuckDB. */
  schemaSuffix: string;
  /** Locations this stage refuses to write (prod's own, and `warehouse.protected_locations`); empty in prod. */
  protectedLocations: string[];
}

/** The stage named by `value` (from --env or $SFPIPE_ENV), or an error naming the choices. */
export function parseEnvironmentName(value: string | undefined, from: string): EnvironmentName {
  if (value === undefined || value === '') return DEFAULT_ENVIRONMENT;
  const aliases: Record<string, EnvironmentName> = { development: 'dev', production: 'prod', stage: 'staging' };
  const name = aliases[value] ?? value;
  if (!(ENVIRONMENTS as readonly string[]).includes(name)) {
    throw new Error(`${from} is "${value}", not an environment. Fix: use one of ${ENVIRONMENTS.join(', ')}`);
  }
  return name as EnvironmentName;
}

/** The login name of the user running this process; undefined when the OS has none (a container's arbitrary uid). */
function osLoginName(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return undefined;
  }
}

/** `_<developer>` for dev: $SFPIPE_DEVELOPER, else $USER, else the login name, lower-cased with other characters as `_`. */
export function developerSuffix(env: NodeJS.ProcessEnv, loginName: () => string | undefined = osLoginName): string | null {
  const who = env.SFPIPE_DEVELOPER || env.USER || loginName() || '';
  const clean = who.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return clean ? `_${clean}` : null;
}

/** The default suffix of a stage on an engine: DuckDB none; dev `_<developer>`; staging `_staging`; prod none. */
export function defaultSchemaSuffix(stage: EnvironmentName, engine: WarehouseEngineName, env: NodeJS.ProcessEnv, loginName?: () => string | undefined): string | null {
  if (engine === 'duckdb' || stage === 'prod') return '';
  return stage === 'staging' ? '_staging' : developerSuffix(env, loginName);
}

/**
 * A location a run writes, or one it must not: `s3://bucket/prefix/`, `glue:<database>` (an
 * Athena/Glue database) or `trino:<catalog>[.<schema>]` (a whole catalog, or one schema of it).
 */
export type Location = { kind: 's3'; prefix: string } | { kind: 'glue'; database: string } | { kind: 'trino'; catalog: string; schema: string | null };

export const LOCATION_FORMS = 's3://bucket/prefix/, glue:<database> or trino:<catalog>[.<schema>]';

export function parseLocation(text: string): Location | null {
  const s3 = /^s3:\/\/([a-z0-9][a-z0-9.-]*[a-z0-9])(\/.*)?$/.exec(text);
  if (s3) return { kind: 's3', prefix: `s3://${s3[1]}${(s3[2] ?? '/').replace(/\/?$/, '/')}` };
  const glue = /^glue:([a-z0-9_]+)$/.exec(text);
  if (glue) return { kind: 'glue', database: glue[1]! };
  const trino = /^trino:([a-z0-9_]+)(?:\.([a-z0-9_]+))?$/.exec(text);
  if (trino) return { kind: 'trino', catalog: trino[1]!, schema: trino[2] ?? null };
  return null;
}

export function formatLocation(l: Location): string {
  switch (l.kind) {
    case 's3':
      return l.prefix;
    case 'glue':
      return `glue:${l.database}`;
    case 'trino':
      return `trino:${l.catalog}${l.schema ? `.${l.schema}` : ''}`;
  }
}

/**
 * Whether writing `written` could touch `protectedLoc`: S3 prefixes that contain one another (a
 * clean-up under the outer one reaches the inner), the same Glue database, a schema of a protected
 * Trino catalog or the protected schema itself.
 */
export function overlaps(written: Location, protectedLoc: Location): boolean {
  if (written.kind === 's3' && protectedLoc.kind === 's3') return written.prefix.startsWith(protectedLoc.prefix) || protectedLoc.prefix.startsWith(written.prefix);
  if (written.kind === 'glue' && protectedLoc.kind === 'glue') return written.database === protectedLoc.database;
  if (written.kind === 'trino' && protectedLoc.kind === 'trino') {
    return written.catalog === protectedLoc.catalog && (protectedLoc.schema === null || written.schema === null || written.schema === protectedLoc.schema);
  }
  return false;
}

/** A location the config makes a run write, with the setting it comes from (a config path). */
export interface WrittenLocation {
  location: Location;
  /** The config path that decides it, e.g. ['warehouse', 'athena', 'table_location']. */
  setting: (string | number)[];
  /** What it is, for the message (e.g. "the raw tables' prefix"). */
  what: string;
}

/** What `sfpipe lineage` shows of the environment (text: `summary`; JSON: every field). */
export function describeEnvironment(config: {
  file: string;
  environment: EnvironmentConfig;
  warehouse: { engine: WarehouseEngineName };
  dbt: { profile: string };
}): { name: string; summary: string; [detail: string]: unknown } {
  const e = config.environment;
  const overlay = e.overlay ? `environments.${e.name}` : null;
  const schemas = DBT_SCHEMAS.map((s) => `${s}${e.schemaSuffix}`);
  const parts = [
    `config ${config.file}${overlay ? ` + ${overlay}` : ''}`,
    `warehouse ${config.warehouse.engine}`,
    `dbt profile ${config.dbt.profile}, target ${e.name}, schemas ${schemas.join(', ')}`,
    e.name === 'prod' ? null : `${e.protectedLocations.length} prod location${e.protectedLocations.length === 1 ? '' : 's'} refused`,
  ];
  return {
    name: e.name,
    summary: parts.filter(Boolean).join('; '),
    config: config.file,
    overlay,
    warehouse: config.warehouse.engine,
    dbt: { profile: config.dbt.profile, target: e.name, schemaSuffix: e.schemaSuffix, schemas },
    protectedLocations: e.protectedLocations,
  };
}

/** The protected location that writing `written` would touch in this environment, or null (always null in prod). */
export function protectedOverlap(environment: EnvironmentConfig, written: Location): string | null {
  if (environment.name === 'prod') return null;
  return environment.protectedLocations.find((p) => {
    const l = parseLocation(p);
    return l !== null && overlaps(written, l);
  }) ?? null;
}
