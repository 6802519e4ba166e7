/**
 * The `warehouse:` section of the pipeline config: the engine (DuckDB, Athena or Trino) and its
 * settings. Athena's and Trino's fall back to the SFPIPE_ATHENA_* / SFPIPE_TRINO_* variables
 * the chart sets; a section of an engine not in use is refused rather than silently unused.
 */
import { z } from 'zod';
import { secretRef } from './alerts-config.js';
import { LOCATION_FORMS, parseLocation } from './environment.js';
import { awsRegion, issue, list, matching, maybe, msg, oneOf, parseWithin, readLater, section, setting, text, urlOf, type Env } from './schema-kit.js';

export const WAREHOUSE_ENGINES = ['duckdb', 'athena', 'trino'] as const;
export type WarehouseEngineName = (typeof WAREHOUSE_ENGINES)[number];

// Locations become SQL literals in Hive DDL (LOCATION '…'): plain key characters only.
const s3Prefix = (missing?: string) =>
  matching(/^s3:\/\/[a-z0-9.-]+(\/[A-Za-z0-9._=\/-]*)?$/, (v) => `"${v}" is not an s3:// location of plain characters`, 'write s3://bucket/prefix/ (letters, digits, . _ = - /)', missing).transform((v) =>
    v.endsWith('/') ? v : `${v}/`,
  );

export function athenaSchema(env: Env) {
  const from = env;
  // In the order a missing or bad setting is reported.
  return section({
    /** s3:// prefix of the raw Iceberg tables. */
    table_location: setting(s3Prefix('set warehouse.athena.table_location (e.g. s3://my-lake/warehouse/) or the SFPIPE_ATHENA_S3_DATA_DIR environment variable'), { env: ['SFPIPE_ATHENA_S3_DATA_DIR'], from }),
    region: setting(awsRegion('warehouse.athena.region or $SFPIPE_ATHENA_REGION', 'set warehouse.athena.region (e.g. eu-west-1) or the SFPIPE_ATHENA_REGION environment variable'), { env: ['SFPIPE_ATHENA_REGION'], from }),
    work_group: setting(text(), { env: ['SFPIPE_ATHENA_WORK_GROUP'], default: 'primary', from }),
    /** s3:// prefix for query results (omit when the workgroup enforces one). */
    output_location: maybe(s3Prefix(), { env: ['SFPIPE_ATHENA_S3_STAGING_DIR'], from }),
    database: setting(text(), { env: ['SFPIPE_ATHENA_RAW_DATABASE'], default: 'sf_raw', from }),
    /** s3:// prefix for staged run files; default <table_location>_staging/sf_user/. */
    staging_location: maybe(s3Prefix(), { env: ['SFPIPE_ATHENA_S3_RAW_STAGING'], from }),
    /** An emulator's endpoint (tests); null in production. */
    endpoint: maybe(text(), { env: ['SFPIPE_AWS_ENDPOINT'], from }),
    /** s3:// prefix under which dbt-athena writes the models' tables (its s3_data_dir); default table_location. */
    dbt_data_location: maybe(s3Prefix(), { env: ['SFPIPE_ATHENA_S3_DATA_DIR'], from }),
    // The raw load talks to Glue directly, so dbt and it agree only on the account's own catalog.
    catalog: setting(
      text()
        .refine((c) => c.toLowerCase() === 'awsdatacatalog', {
          error: (iss) =>
            msg(
              `"${String(iss.input)}" is not supported: the raw load reads and writes the account's Glue catalog (awsdatacatalog), and dbt must read raw where it was loaded`,
              "remove it (or SFPIPE_ATHENA_CATALOG / the chart's athena.catalog), or set awsdatacatalog",
            ),
        })
        .transform((): string => 'awsdatacatalog'),
      { env: ['SFPIPE_ATHENA_CATALOG'], default: 'awsdatacatalog', from },
    ),
  }).transform((a, ctx) => {
    const staging = a.staging_location ?? `${a.table_location}_staging/sf_user/`;
    // The loader deletes what it staged (and stale stages of killed runs): never where tables live.
    for (const tableDir of [`${a.table_location}sf_user/`, `${a.table_location}sf_user_quarantine/`]) {
      if (tableDir.startsWith(staging) || staging.startsWith(tableDir)) {
        issue(ctx, ['staging_location'], `"${staging}" overlaps the raw table files under ${tableDir}`, 'give staged files a prefix of their own, e.g. s3://bucket/staging/sf_user/');
        return z.NEVER;
      }
    }
    return {
      region: a.region,
      workGroup: a.work_group,
      outputLocation: a.output_location ?? null,
      database: a.database,
      tableLocation: a.table_location,
      stagingLocation: staging,
      endpoint: a.endpoint ?? null,
      dbtDataLocation: a.dbt_data_location ?? a.table_location,
      /** The Athena data catalog holding the databases (awsdatacatalog, the Glue catalog). */
      catalog: a.catalog,
    };
  });
}

const TRINO_AUTH = ['none', 'password', 'jwt'] as const;

/** The user's own Trino over Iceberg (warehouse.engine: trino). */
export function trinoSchema(env: Env) {
  const from = env;
  const name = (envName: string, fallback: string) =>
    setting(matching(/^[a-z_][a-z0-9_]*$/, (v) => `"${v}" is not a plain lower-case name`, 'use lower-case letters, digits and _'), { env: [envName], default: fallback, from });
  const server = text('set warehouse.trino.server (e.g. https://trino.example.com:8443) or SFPIPE_TRINO_SERVER').superRefine((v, ctx) => {
    const url = urlOf(v);
    // Never echoed: the URL holds a secret.
    if (url && (url.username || url.password)) {
      issue(ctx, [], 'holds credentials (user:password@) in its URL', 'write http(s)://host:port; set warehouse.trino.user, and auth: password with the password from a Secret');
    } else if (!url || !/^https?:$/.test(url.protocol) || url.pathname.replace(/\/$/, '') !== '') {
      issue(ctx, [], `"${v}" is not a Trino server URL`, 'write http(s)://host:port, without a path');
    }
  });
  return section({
    /** http(s)://host:port of the coordinator. */
    server: setting(server, { env: ['SFPIPE_TRINO_SERVER'], from }),
    /** The Iceberg catalog holding the raw schema and dbt's schemas. */
    catalog: name('SFPIPE_TRINO_CATALOG', 'iceberg'),
    raw_schema: name('SFPIPE_TRINO_RAW_SCHEMA', 'sf_raw'),
    /** `CREATE SCHEMA … WITH (location)` for catalogs without a default location. */
    schema_location: maybe(text(), { env: ['SFPIPE_TRINO_SCHEMA_LOCATION'], from }),
    user: setting(text(), { env: ['SFPIPE_TRINO_USER'], default: 'sfpipe', from }),
    auth: setting(oneOf(TRINO_AUTH), { env: ['SFPIPE_TRINO_AUTH'], default: 'none', from }),
    /** The password (auth: password; HTTPS only) or the JWT (auth: jwt): secrets, by reference; read below, by auth. */
    password: readLater(secretRef('SFPIPE_TRINO_PASSWORD', 'holds the password itself; it is a secret')),
    jwt: readLater(secretRef('SFPIPE_TRINO_JWT', 'holds the jwt itself; it is a secret')),
    /** A PEM CA bundle for a server certificate from a private CA. */
    ca_file: maybe(text(), { env: ['SFPIPE_TRINO_CA_FILE'], from }),
  }).transform((t, ctx) => {
    if (t.auth === 'password' && !t.server.startsWith('https:')) {
      issue(ctx, ['auth'], `password authentication needs HTTPS (Trino refuses it on ${t.server})`, 'use an https:// server, or auth: jwt / none');
      return z.NEVER;
    }
    for (const key of ['password', 'jwt'] as const) {
      if (key !== t.auth && t[key] !== undefined) {
        issue(ctx, [key], `only applies to auth: ${key}`, `remove it or set auth: ${key}`);
        return z.NEVER;
      }
    }
    let secret = null;
    if (t.auth !== 'none') {
      const ref = secretRef(t.auth === 'password' ? 'SFPIPE_TRINO_PASSWORD' : 'SFPIPE_TRINO_JWT', `holds the ${t.auth} itself; it is a secret`);
      secret = parseWithin(ref, t[t.auth], ctx, [t.auth]);
      if (secret === null) {
        issue(ctx, [t.auth], 'is null', `give { env: NAME } or { file: /path } for the ${t.auth}`);
        return z.NEVER;
      }
    }
    return {
      server: t.server.replace(/\/$/, ''),
      catalog: t.catalog,
      rawSchema: t.raw_schema,
      schemaLocation: t.schema_location ?? null,
      user: t.user,
      auth: t.auth,
      secret,
      caFile: t.ca_file ?? null,
    };
  });
}

export function warehouseSchema(env: Env) {
  const athena = athenaSchema(env);
  const trino = trinoSchema(env);
  const location = text().refine((v) => parseLocation(v) !== null, { error: (iss) => msg(`"${String(iss.input)}" is not a location`, `write ${LOCATION_FORMS}`) });
  return setting(
    section({
      engine: setting(oneOf(WAREHOUSE_ENGINES), { default: 'duckdb' }),
      duckdb: setting(
        section({
          /** Relative to the state directory. */
          path: setting(text(), { default: 'warehouse.duckdb' }),
          memory_limit: setting(matching(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, (v) => `"${v}" is not a memory size`, 'write e.g. 256MB or 2GB'), { default: '64MB' }),
        }),
        { default: {} },
      ),
      athena: readLater(athena),
      trino: readLater(trino),
      // The environment decides these (load-config.ts readEnvironment): the suffix of dbt's schemas, and where this stage must not write.
      schema_suffix: maybe(
        z.string({ error: (iss) => msg(`${JSON.stringify(iss.input)} is not a schema suffix`, 'write "" or _ and lower-case letters, digits and _ (e.g. _alice)') }).regex(/^(_[a-z0-9_]+)?$/, {
          error: (iss) => msg(`${JSON.stringify(iss.input)} is not a schema suffix`, 'write "" or _ and lower-case letters, digits and _ (e.g. _alice)'),
        }),
      ),
      protected_locations: maybe(list(location)),
    }).transform((w, ctx) => {
      // A section of an engine not in use: refused rather than silently unused.
      for (const other of ['athena', 'trino'] as const) {
        if (other !== w.engine && w[other] !== undefined && w[other] !== null) {
          issue(ctx, [other], `only applies to warehouse.engine: ${other}`, `remove it or set warehouse.engine: ${other}`);
          return z.NEVER;
        }
      }
      return {
        engine: w.engine as WarehouseEngineName,
        duckdb: { path: w.duckdb.path, memoryLimit: w.duckdb.memory_limit },
        /** Set when engine is athena. */
        athena: w.engine === 'athena' ? parseWithin(athena, w.athena ?? {}, ctx, ['athena']) : null,
        /** Set when engine is trino. */
        trino: w.engine === 'trino' ? parseWithin(trino, w.trino ?? {}, ctx, ['trino']) : null,
        schemaSuffix: w.schema_suffix ?? null,
        protectedLocations: w.protected_locations ?? [],
      };
    }),
    { default: {} },
  );
}

export type WarehouseConfig = z.output<ReturnType<typeof warehouseSchema>>;
export type AthenaConfig = NonNullable<WarehouseConfig['athena']>;
export type TrinoConfig = NonNullable<WarehouseConfig['trino']>;
