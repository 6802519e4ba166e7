import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ConfigReader, formatPath } from './config-reader.js';
import {
  DBT_SCHEMAS,
  defaultSchemaSuffix,
  ENV_VARIABLE,
  ENVIRONMENTS,
  formatLocation,
  overlaps,
  parseEnvironmentName,
  parseLocation,
  type EnvironmentConfig,
  type EnvironmentName,
  type Location,
  type WrittenLocation,
} from './environment.js';
import { pipelineConfigSchema, type PipelineConfig } from './pipeline-config.js';

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

export interface ParseOptions {
  /** Where SFPIPE_* defaults and SFPIPE_ENV are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The environment; default $SFPIPE_ENV, else dev. */
  environment?: EnvironmentName;
  /** Who runs this, for dev's default schema suffix after $SFPIPE_DEVELOPER and $USER; default the OS login name. */
  loginName?: () => string | undefined;
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
  const parsed = r.parse([], pipelineConfigSchema(env, (p) => r.locate(p)));
  const { schemaSuffix, protectedLocations, ...warehouse } = parsed.warehouse;
  const config: PipelineConfig = {
    file,
    ...parsed,
    warehouse,
    environment: { name: stage, overlay: overlay.applied, schemaSuffix: '', protectedLocations: [] },
  };
  config.environment = readEnvironment(r, config, { file, text, declared: overlay.declared, env, schemaSuffix, protectedLocations, ...(opts.loginName ? { loginName: opts.loginName } : {}) });
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
  src: { file: string; text: string; declared: string[]; env: NodeJS.ProcessEnv; schemaSuffix: string | null; protectedLocations: string[]; loginName?: () => string | undefined },
): EnvironmentConfig {
  const stage = config.environment.name;
  const engine = config.warehouse.engine;
  const suffixPath = ['warehouse', 'schema_suffix'];
  const schemaSuffix =
    src.schemaSuffix ??
    defaultSchemaSuffix(stage, engine, src.env, src.loginName) ??
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

export { ConfigError };
