/**
 * Environments (dev, staging, prod): the overlay `--env` / SFPIPE_ENV picks, the stage's dbt
 * schema suffix, and the refusal of prod's locations outside prod.
 */
import fs from 'node:fs';
import test from 'ava';

import { ConfigError, embeddedConfigPath, parsePipelineConfig, writtenLocations } from '../../assets/config/load-config.js';
import { describeEnvironment, formatLocation } from '../../assets/config/environment.js';
import { dbtStageEnv } from '../../assets/dbt/dbt-env.js';
import { modelsFromManifest } from '../../assets/dbt/manifest.js';

const embedded = fs.readFileSync(embeddedConfigPath(), 'utf8');
/** The embedded config on Athena with prod's locations, and `tail` appended (overlays). */
const athena = (tail = ''): string =>
  embedded.replace(
    /^warehouse:\n  engine: duckdb\n/m,
    [
      'warehouse:',
      '  engine: athena',
      '  athena:',
      '    region: eu-west-1',
      '    output_location: s3://acme-prod-results/sfpipe/',
      '    table_location: s3://acme-prod-lake/sf_raw/',
      '    dbt_data_location: s3://acme-prod-lake/dbt/',
      '',
    ].join('\n'),
  ) + tail;

/** A dev overlay with dev's own locations (the well-configured case). */
const DEV_OVERLAY = `
environments:
  dev:
    warehouse:
      athena:
        output_location: s3://acme-dev-results/sfpipe/
        table_location: s3://acme-dev-lake/sf_raw/
        dbt_data_location: s3://acme-dev-lake/dbt/
        database: sf_raw_dev
  staging:
    source: { bulk_threshold: 20000, columns: [{ name: Id, type: string }, { name: SystemModstamp, type: timestamp }] }
    warehouse:
      athena:
        output_location: s3://acme-staging-results/sfpipe/
        table_location: s3://acme-staging-lake/sf_raw/
        dbt_data_location: s3://acme-staging-lake/dbt/
        database: sf_raw_staging
  prod: {}
`;

const parse = (text: string, environment?: 'dev' | 'staging' | 'prod', env: NodeJS.ProcessEnv = { SFPIPE_DEVELOPER: 'Alice.B' }) =>
  parsePipelineConfig('pipeline.yaml', text, { env, ...(environment ? { environment } : {}) });

test('the environment comes from SFPIPE_ENV (dev by default), and its overlay is merged over the file', (t) => {
  const dev = parse(athena(DEV_OVERLAY));
  t.is(dev.environment.name, 'dev');
  t.true(dev.environment.overlay);
  t.like(dev.warehouse.athena, { tableLocation: 's3://acme-dev-lake/sf_raw/', database: 'sf_raw_dev', region: 'eu-west-1' }, 'merged key by key: region stays');
  t.is(dev.source.bulkThreshold, 50_000);

  const staging = parse(athena(DEV_OVERLAY), undefined, { SFPIPE_ENV: 'staging' });
  t.is(staging.environment.name, 'staging');
  t.is(staging.source.bulkThreshold, 20_000);
  t.deepEqual(staging.source.columns.map((c) => c.name), ['Id', 'SystemModstamp'], 'a list replaces the list');
  t.like(staging.warehouse.athena, { database: 'sf_raw_staging' });

  const prod = parse(athena(DEV_OVERLAY), 'prod');
  t.like(prod.warehouse.athena, { tableLocation: 's3://acme-prod-lake/sf_raw/', database: 'sf_raw' });
  t.is(parse(embedded, undefined, { SFPIPE_ENV: 'production' }).environment.name, 'prod', 'production is prod');
  t.false(parse(embedded).environment.overlay, 'no environments: the file as it is');

  const bad = t.throws(() => parse(embedded, undefined, { SFPIPE_ENV: 'qa' }), { instanceOf: ConfigError });
  t.is(bad!.message, '$SFPIPE_ENV is "qa", not an environment. Fix: use one of dev, staging, prod');
});

test('an overlay is checked like the file: a typo names its line inside the overlay; an unknown stage is refused', (t) => {
  const typo = t.throws(() => parse(athena('environments:\n  dev:\n    source:\n      lookbak: 2h\n')), { instanceOf: ConfigError });
  t.regex(typo!.message, /pipeline\.yaml: source\.lookbak \(line \d+\): is not a setting sfpipe reads\. Fix: did you mean lookback\?/);
  const line = Number(/line (\d+)/.exec(typo!.message)![1]);
  t.is(athena('environments:\n  dev:\n    source:\n      lookbak: 2h\n').split('\n')[line - 1], '      lookbak: 2h');
  const stage = t.throws(() => parse(athena('environments:\n  qa: {}\n')), { instanceOf: ConfigError });
  t.regex(stage!.message, /environments\.qa \(line \d+\): "qa" is not an environment\. Fix: name the overlays dev, staging, prod/);
  const nested = t.throws(() => parse(athena('environments:\n  dev:\n    environments: {}\n')), { instanceOf: ConfigError });
  t.regex(nested!.message, /an overlay cannot hold overlays/);
});

test('dbt: the stage is the target and sets the schema suffix on a shared warehouse (none on DuckDB)', (t) => {
  const text = athena(DEV_OVERLAY);
  t.is(parse(text).environment.schemaSuffix, '_alice_b', 'dev: _<developer>, lower-cased, other characters as _');
  t.is(parse(text, 'staging').environment.schemaSuffix, '_staging');
  t.is(parse(text, 'prod').environment.schemaSuffix, '');
  t.is(parse(embedded).environment.schemaSuffix, '', 'DuckDB: a file of your own');
  t.is(parse(text.replace('        database: sf_raw_dev\n', '        database: sf_raw_dev\n      schema_suffix: _team_a\n')).environment.schemaSuffix, '_team_a');
  // Set for every stage, it would make dev build where prod does: refused.
  t.throws(() => parse(text.replace('  engine: athena\n', '  engine: athena\n  schema_suffix: _team_a\n')), { message: /warehouse\.schema_suffix \(line \d+\): glue:sf_staging_team_a .*is a prod location/ });
  t.deepEqual(dbtStageEnv(parse(text)), { SFPIPE_DBT_PROFILE: 'sf_user_pipeline_athena', SFPIPE_ENV: 'dev', SFPIPE_SCHEMA_SUFFIX: '_alice_b' });
  const bad = t.throws(() => parse(text.replace('  engine: athena\n', '  engine: athena\n  schema_suffix: -x\n')), { instanceOf: ConfigError });
  t.regex(bad!.message, /warehouse\.schema_suffix \(line \d+\): "-x" is not a schema suffix\. Fix: write "" or _ and lower-case/);
  // No developer name at all (no $SFPIPE_DEVELOPER, no $USER, no login name): say how to give one.
  t.throws(() => parsePipelineConfig('pipeline.yaml', text, { environment: 'dev', env: {}, loginName: () => undefined }), {
    message: /warehouse\.schema_suffix: cannot be derived.*Fix: set SFPIPE_DEVELOPER=<your name>/,
  });
  t.is(parsePipelineConfig('pipeline.yaml', text, { environment: 'dev', env: {}, loginName: () => 'Ann.B' }).environment.schemaSuffix, '_ann_b', 'the login name last');
  const described = describeEnvironment(parse(text));
  t.like(described, { name: 'dev', overlay: 'environments.dev', warehouse: 'athena', dbt: { profile: 'sf_user_pipeline_athena', target: 'dev', schemaSuffix: '_alice_b', schemas: ['sf_staging_alice_b', 'sf_curated_alice_b'] } });
  t.regex(described.summary, /^config pipeline\.yaml \+ environments\.dev; warehouse athena; dbt profile sf_user_pipeline_athena, target dev, schemas sf_staging_alice_b, sf_curated_alice_b; \d+ prod locations refused$/);
});

test("a dev run can never write to prod's locations: every location environments.prod resolves to is refused outside prod, naming the setting and the fix", (t) => {
  const ok = parse(athena(DEV_OVERLAY));
  const prodLocations = writtenLocations(parse(athena(DEV_OVERLAY), 'prod')).map((w) => formatLocation(w.location));
  t.deepEqual(new Set(ok.environment.protectedLocations), new Set(prodLocations), "dev refuses exactly prod's locations");
  t.true(prodLocations.includes('s3://acme-prod-lake/sf_raw/') && prodLocations.includes('glue:sf_raw') && prodLocations.includes('glue:sf_curated'));

  // Each of dev's locations pointed at prod's, one at a time (or one containing it).
  const cases: [string, string, RegExp][] = [
    ['table_location: s3://acme-dev-lake/sf_raw/', 'table_location: s3://acme-prod-lake/sf_raw/', /warehouse\.athena\.table_location \(line \d+\): s3:\/\/acme-prod-lake\/sf_raw\/ \(the raw tables' prefix\) is a prod location/],
    ['dbt_data_location: s3://acme-dev-lake/dbt/', 'dbt_data_location: s3://acme-prod-lake/', /warehouse\.athena\.dbt_data_location .*s3:\/\/acme-prod-lake\/ \(the dbt models' tables\) is a prod location/],
    ['output_location: s3://acme-dev-results/sfpipe/', 'output_location: s3://acme-prod-results/sfpipe/x/', /warehouse\.athena\.output_location .*is a prod location/],
    ['database: sf_raw_dev', 'database: sf_raw', /warehouse\.athena\.database \(line \d+\): glue:sf_raw \(the raw database\) is a prod location \(environments\.prod's warehouse\.athena\.database: glue:sf_raw\)/],
  ];
  for (const [from, to, expected] of cases) {
    const text = athena(DEV_OVERLAY.replace(`        ${from}`, `        ${to}`));
    t.not(text, athena(DEV_OVERLAY), from);
    const err = t.throws(() => parse(text), { instanceOf: ConfigError }, to);
    t.regex(err!.message, expected, to);
    t.regex(err!.message, /and this is the dev environment: a dev run must never write there\. Fix: give dev a location of its own in environments\.dev .*run with --env prod/, to);
    t.notThrows(() => parse(text, 'prod'), 'prod itself writes there');
  }
  // dbt's schemas: dev with no suffix would build into prod's sf_staging / sf_curated.
  const noSuffix = athena(DEV_OVERLAY.replace('        database: sf_raw_dev\n', '        database: sf_raw_dev\n      schema_suffix: ""\n'));
  const schemas = t.throws(() => parse(noSuffix), { instanceOf: ConfigError });
  t.regex(schemas!.message, /warehouse\.schema_suffix \(line \d+\): glue:sf_staging \(dbt's database sf_staging\) is a prod location.*Fix: give dev schemas of its own: set warehouse\.schema_suffix in environments\.dev/);
  // Staging is held to the same rule.
  const stagingOnProd = athena(DEV_OVERLAY.replace('table_location: s3://acme-staging-lake/sf_raw/', 'table_location: s3://acme-prod-lake/sf_raw/'));
  const staging = t.throws(() => parse(stagingOnProd, 'staging'), { instanceOf: ConfigError });
  t.regex(staging!.message, /this is the staging environment: a staging run must never write there\. Fix: give staging a location of its own in environments\.staging/);
});

test("prod's locations are read from the file only: this process's SFPIPE_* variables are not prod's; an incomplete prod overlay is refused", (t) => {
  // A dev pod's variables (its own data dir) must not become "prod's" and refuse dev itself.
  const viaEnv = embedded.replace(/^warehouse:\n  engine: duckdb\n/m, 'warehouse:\n  engine: athena\n') + DEV_OVERLAY;
  const err = t.throws(() => parse(viaEnv, 'dev', { SFPIPE_DEVELOPER: 'alice', SFPIPE_ATHENA_REGION: 'eu-west-1', SFPIPE_ATHENA_S3_DATA_DIR: 's3://acme-dev-lake/x/' }), { instanceOf: ConfigError });
  t.regex(err!.message, /environments\.prod \(line \d+\): cannot tell prod's locations \(needed to keep dev out of them\): warehouse\.athena\.table_location: is missing\. Fix: give environments\.prod its locations in this file/);
});

test('warehouse.protected_locations: S3 prefixes either way round, Glue databases, Trino catalogs and schemas; ignored in prod; a bad entry names the forms', (t) => {
  const withList = (list: string, text = athena(DEV_OVERLAY.replace('  prod: {}\n', ''))) => text.replace('  engine: athena\n', `  engine: athena\n  protected_locations: ${list}\n`);
  t.notThrows(() => parse(withList('[s3://acme-prod-lake/, glue:sf_curated]')), "dev's own locations are not protected");
  t.throws(() => parse(withList('[s3://acme-dev-lake/sf_raw/sf_user/]')), { message: /table_location .*is a prod location \(warehouse\.protected_locations: s3:\/\/acme-dev-lake\/sf_raw\/sf_user\/\)/ }, 'a protected prefix inside a written one');
  t.throws(() => parse(withList('[glue:sf_raw_dev]')), { message: /warehouse\.athena\.database .*glue:sf_raw_dev/ });
  t.throws(() => parse(withList('[glue:sf_curated_alice_b]')), { message: /warehouse\.schema_suffix: glue:sf_curated_alice_b/ });
  t.notThrows(() => parse(withList('[s3://acme-dev-lake/]'), 'prod'), 'prod is never refused');
  const bad = t.throws(() => parse(withList('[prod-lake]')), { instanceOf: ConfigError });
  t.regex(bad!.message, /warehouse\.protected_locations\[0\] \(line \d+\): "prod-lake" is not a location\. Fix: write s3:\/\/bucket\/prefix\/, glue:<database> or trino:<catalog>\[\.<schema>\]/);

  const trino = embedded.replace(/^warehouse:\n  engine: duckdb\n/m, 'warehouse:\n  engine: trino\n  trino:\n    server: http://trino-dev:8080\n    catalog: lake_dev\n');
  const trinoWith = (list: string) => trino.replace('  engine: trino\n', `  engine: trino\n  protected_locations: ${list}\n`);
  t.notThrows(() => parse(trinoWith('[trino:lake_prod, trino:lake_dev.sf_curated]')));
  t.throws(() => parse(trinoWith('[trino:lake_dev]')), { message: /warehouse\.trino\.raw_schema: trino:lake_dev\.sf_raw \(the raw schema\) is a prod location \(warehouse\.protected_locations: trino:lake_dev\)/ });
  t.throws(() => parse(trinoWith('[trino:lake_dev.sf_raw]')), { message: /trino:lake_dev\.sf_raw/ });
  // The event log is a location too.
  const s3Log = `${athena(DEV_OVERLAY)}event_log:\n  store: s3\n  s3_location: s3://acme-prod-lake/event-log/\n  region: eu-west-1\n`;
  t.throws(() => parse(s3Log), { message: /event_log\.s3_location .*\(the event log\) is a prod location/ });
});

test("a model's asset key is its configured schema, not where this environment builds it", (t) => {
  const node = (name: string, schema: string, deps: string[] = []) => ({
    unique_id: `model.p.${name}`,
    resource_type: 'model',
    package_name: 'p',
    name,
    schema: `${schema}_alice`,
    config: { materialized: 'table', schema },
    depends_on: { nodes: deps },
  });
  const models = modelsFromManifest({
    metadata: { project_name: 'p' },
    nodes: { 'model.p.a': node('a', 'sf_staging'), 'model.p.b': node('b', 'sf_curated', ['model.p.a']) },
    sources: {},
  });
  t.deepEqual(models.map((m) => [m.key, m.deps]), [['sf_curated/b', ['sf_staging/a']], ['sf_staging/a', []]]);
});
