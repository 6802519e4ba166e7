import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, embeddedConfigPath, loadPipelineConfig, parsePipelineConfig } from '../../assets/config/load-config.js';
import { tempDir } from '../helpers/temp.js';

const embedded = () => fs.readFileSync(embeddedConfigPath(), 'utf8');

test('the embedded default parses: simulator, DuckDB under the state dir, 1 h lookback, the seed columns', (t) => {
  const c = loadPipelineConfig(embeddedConfigPath());
  t.is(c.salesforce.mode, 'simulator');
  t.is(c.salesforce.apiVersion, '62.0');
  t.is(c.warehouse.engine, 'duckdb');
  t.is(c.warehouse.duckdb.path, 'warehouse.duckdb');
  t.is(c.source.lookbackMs, 3_600_000);
  t.is(c.source.cursorField, 'SystemModstamp');
  t.deepEqual(c.source.columns.map((x) => x.name), ['Id', 'Name', 'Division', 'Audit_Phase__c', 'IsActive', 'IsDeleted', 'LastModifiedDate', 'SystemModstamp']);
});

const bad: [string, (y: string) => string, RegExp][] = [
  ['a bad duration names the path, the line and the fix', (y) => y.replace('lookback: 1h', 'lookback: an hour'), /cfg\.yaml: source\.lookback \(line \d+\): "an hour" is not a duration\. Fix: write a number and a unit/],
  ['an unknown engine lists the choices', (y) => y.replace('engine: duckdb', 'engine: postgres'), /warehouse\.engine.*"postgres" is not one of duckdb, athena/],
  ['a bad column type', (y) => y.replace('{ name: Division, type: string }', '{ name: Division, type: text }'), /source\.columns\[2\]\.type.*"text" is not one of string, boolean/],
  ['a duplicate column', (y) => y.replace('{ name: Division, type: string }', '{ name: name, type: string }'), /"name" is listed twice/],
  ['the cursor column must be configured', (y) => y.replace('    - { name: SystemModstamp, type: timestamp }\n', ''), /source\.columns.*must include SystemModstamp/],
  ['page size is bounded', (y) => y.replace('page_size: 2000', 'page_size: 5000'), /source\.page_size.*5000 is out of range.*200\.\.2000/],
  ['a secret in the config is refused without echoing it', (y) => y.replace('source: simulator      #', 'client_secret: hunter2\n      source: simulator      #'), /holds a secret value/],
  ['invalid YAML', () => 'salesforce: [unclosed', /cfg\.yaml: invalid YAML: [^]*\nFix: correct the YAML at that line or above it/],
  ['an empty file', () => '', /cfg\.yaml: the top level must be a mapping \(keys such as salesforce:, source:, warehouse:\), and the file is empty\. Fix: start from the embedded default/],
  ['an unquoted api version that is not NN.0', (y) => y.replace('api_version: "62.0"', 'api_version: "v62"'), /salesforce\.api_version.*write it like "62\.0"/],
];
for (const [name, edit, expected] of bad) {
  test(`config error: ${name}`, (t) => {
    const err = t.throws(() => parsePipelineConfig('cfg.yaml', edit(embedded())), { instanceOf: ConfigError });
    t.regex(err!.message, expected);
    t.notRegex(err!.message, /hunter2/);
  });
}

test('SFPIPE_CONFIG-style loading of a missing file says which file and how to fix it', (t) => {
  const missing = path.join(tempDir(), 'nope.yaml');
  const err = t.throws(() => loadPipelineConfig(missing), { instanceOf: ConfigError });
  t.regex(err!.message, /nope\.yaml: cannot read the pipeline config \(ENOENT\)\. Fix: point SFPIPE_CONFIG/);
});

test('production credentials sources parse', (t) => {
  const y = embedded()
    .replace('mode: simulator ', 'mode: salesforce')
    .replace('source: simulator      # the simulator\'s public demo credentials', 'source: aws_secrets_manager\n      secret_name: salesforce/production/credentials\n      region: us-east-1');
  const c = parsePipelineConfig('prod.yaml', y);
  t.deepEqual(c.salesforce.auth.credentials, { source: 'aws_secrets_manager', secretName: 'salesforce/production/credentials', region: 'us-east-1' });
  const k8s = parsePipelineConfig('k.yaml', embedded().replace('mode: simulator ', 'mode: salesforce').replace("source: simulator      # the simulator's public demo credentials", 'source: k8s_secret'));
  t.deepEqual(k8s.salesforce.auth.credentials, { source: 'k8s_secret', dir: '/var/run/secrets/salesforce' });
  const err = t.throws(() => parsePipelineConfig('x.yaml', embedded().replace('mode: simulator ', 'mode: salesforce')), { instanceOf: ConfigError });
  t.regex(err!.message, /simulator credentials only work with salesforce\.mode: simulator/);
});

test('warehouse.engine athena: settings from the config or the SFPIPE_ATHENA_* env the chart sets; a missing location names the fix', (t) => {
  const yaml = embedded().replace('engine: duckdb', 'engine: athena');
  const saved = { ...process.env };
  try {
    process.env.SFPIPE_ATHENA_REGION = 'eu-west-1';
    process.env.SFPIPE_ATHENA_S3_DATA_DIR = 's3://lake/warehouse';
    const c = parsePipelineConfig('a.yaml', yaml);
    t.deepEqual(c.warehouse.athena, {
      region: 'eu-west-1',
      workGroup: 'primary',
      outputLocation: null,
      database: 'sf_raw',
      tableLocation: 's3://lake/warehouse/',
      stagingLocation: 's3://lake/warehouse/_staging/sf_user/',
      endpoint: null,
      dbtDataLocation: 's3://lake/warehouse/',
      catalog: 'awsdatacatalog',
    });
    delete process.env.SFPIPE_ATHENA_S3_DATA_DIR;
    const err = t.throws(() => parsePipelineConfig('a.yaml', yaml), { instanceOf: ConfigError });
    t.regex(err!.message, /warehouse\.athena\.table_location.*is missing\. Fix: set warehouse\.athena\.table_location .* or the SFPIPE_ATHENA_S3_DATA_DIR environment variable/);
    t.is(parsePipelineConfig('d.yaml', embedded()).warehouse.athena, null);
    // A misspelt region would only fail at run time, as a DNS error.
    process.env.SFPIPE_ATHENA_S3_DATA_DIR = 's3://lake/warehouse';
    for (const region of ['eu-west1', 'EU-WEST-1', 'westeurope']) {
      process.env.SFPIPE_ATHENA_REGION = region;
      const bad = t.throws(() => parsePipelineConfig('a.yaml', yaml), { instanceOf: ConfigError });
      t.regex(bad!.message, new RegExp(`warehouse\\.athena\\.region: "${region}" \\(warehouse\\.athena\\.region or \\$SFPIPE_ATHENA_REGION\\) is not an AWS region\\. Fix: write a region name such as eu-west-1`));
    }
    for (const region of ['us-gov-west-1', 'cn-north-1', 'ap-southeast-3', 'il-central-1', 'eusc-de-east-1']) {
      process.env.SFPIPE_ATHENA_REGION = region;
      t.is(parsePipelineConfig('a.yaml', yaml).warehouse.athena?.region, region);
    }
  } finally {
    process.env = saved;
  }
});

test('dbt: the profile follows the warehouse engine; the removed dbt.target, bad threads or unit_tests name the fix', (t) => {
  const noTarget = embedded();
  t.deepEqual(parsePipelineConfig('d.yaml', embedded()).dbt, { profile: 'sf_user_pipeline', threads: null, unitTests: true, fullTestEveryMs: 7 * 86_400_000 });
  const athena = noTarget.replace('engine: duckdb', 'engine: athena\n  athena:\n    region: us-east-1\n    table_location: s3://lake/raw\n    dbt_data_location: s3://lake/dbt');
  const a = parsePipelineConfig('a.yaml', athena);
  t.is(a.dbt.profile, 'sf_user_pipeline_athena', 'athena has its own profile');
  t.is(a.warehouse.athena?.dbtDataLocation, 's3://lake/dbt/');
  for (const staging of ['s3://lake/raw', 's3://lake', 's3://lake/raw/sf_user/_stage']) {
    const overlap = t.throws(() => parsePipelineConfig('o.yaml', athena.replace('    dbt_data_location', `    staging_location: ${staging}\n    dbt_data_location`)), { instanceOf: ConfigError });
    t.regex(overlap!.message, /warehouse\.athena\.staging_location.*overlaps the raw table files under s3:\/\/lake\/raw\/sf_user/, staging);
  }
  const quote = t.throws(() => parsePipelineConfig('q.yaml', athena.replace('s3://lake/dbt', "s3://lake/it's")), { instanceOf: ConfigError });
  t.regex(quote!.message, /dbt_data_location.*is not an s3:\/\/ location of plain characters/);
  const catalog = t.throws(() => parsePipelineConfig('c.yaml', athena.replace('    dbt_data_location', '    catalog: other_catalog\n    dbt_data_location')), { instanceOf: ConfigError });
  t.regex(catalog!.message, /warehouse\.athena\.catalog.*"other_catalog" is not supported/);
  const removed = t.throws(() => parsePipelineConfig('m.yaml', athena.replace('dbt:\n', 'dbt:\n  target: prod\n')), { instanceOf: ConfigError });
  t.regex(removed!.message, /dbt\.target \(line \d+\): was removed: dbt's target is the environment.*Fix: remove dbt\.target/);
  const tuned = parsePipelineConfig('t.yaml', embedded().replace('unit_tests: true', 'unit_tests: false\n  threads: 2'));
  t.deepEqual(tuned.dbt, { profile: 'sf_user_pipeline', threads: 2, unitTests: false, fullTestEveryMs: 7 * 86_400_000 });
  t.is(parsePipelineConfig('f.yaml', embedded().replace('full_test_every: 7d', 'full_test_every: 0s')).dbt.fullTestEveryMs, 0);
  const every = t.throws(() => parsePipelineConfig('f.yaml', embedded().replace('full_test_every: 7d', 'full_test_every: weekly')), { instanceOf: ConfigError });
  t.regex(every!.message, /dbt\.full_test_every.*"weekly" is not a duration/);
  const threads = t.throws(() => parsePipelineConfig('t.yaml', embedded().replace('unit_tests: true', 'threads: 0')), { instanceOf: ConfigError });
  t.regex(threads!.message, /dbt\.threads/);
  const unit = t.throws(() => parsePipelineConfig('u.yaml', embedded().replace('unit_tests: true', 'unit_tests: sometimes')), { instanceOf: ConfigError });
  t.regex(unit!.message, /dbt\.unit_tests/);
});

test('a key sfpipe does not read is refused with its line and the setting it may have meant', (t) => {
  const typo = t.throws(() => parsePipelineConfig('p.yaml', embedded().replace('  lookback: 1h', '  lookbak: 1h')), { instanceOf: ConfigError });
  t.regex(typo!.message, /^p\.yaml: source\.lookbak \(line \d+\): is not a setting sfpipe reads\. Fix: did you mean lookback\?/);
  const top = t.throws(() => parsePipelineConfig('p.yaml', `${embedded()}\nwarehous:\n  engine: athena\n`), { instanceOf: ConfigError });
  t.regex(top!.message, /warehous \(line \d+\): is not a setting sfpipe reads\. Fix: did you mean warehouse\?/);
  const nowhere = t.throws(() => parsePipelineConfig('p.yaml', `${embedded()}\nextras:\n  colour: blue\n`), { instanceOf: ConfigError });
  t.regex(nowhere!.message, /extras \(line \d+\): is not a setting sfpipe reads\. Fix: remove it or check its spelling and place/);
  const range = t.throws(() => parsePipelineConfig('p.yaml', embedded().replace('raw_record_count: { min: 4000, max: 6000 }', 'raw_record_count: { min: 6000, max: 4000 }')), { instanceOf: ConfigError });
  t.regex(range!.message, /checks\.raw_record_count .*min 6000 is above max 4000/);
  const table = t.throws(() => parsePipelineConfig('p.yaml', embedded().replace('destination_table: sf_user', 'destination_table: users')), { instanceOf: ConfigError });
  t.regex(table!.message, /source\.destination_table.*"users" is not one of sf_user/);
});

test('settings that do not apply to this config say what they apply to', (t) => {
  const cases: [string, RegExp][] = [
    [embedded().replace('engine: duckdb', 'engine: duckdb\n  athena:\n    region: eu-west-1'), /warehouse\.athena \(line \d+\): only applies to warehouse\.engine: athena\. Fix: remove it or set warehouse\.engine: athena/],
    [embedded().replace("source: simulator      # the simulator's public demo credentials", 'source: simulator\n      secret_name: x'), /salesforce\.auth\.credentials\.secret_name .*only applies to source: aws_secrets_manager/],
    [embedded().replace('sf_raw/sf_user: { warn_after: 26h, fail_after: 50h, data_time: true }', 'sf_raw/sf_user: { cron: "0 9 * * *", fail_after: 50h }'), /freshness\.sf_raw\/sf_user\.fail_after .*cannot be combined with cron/],
    [embedded().replace('sf_raw/sf_user: { warn_after: 26h, fail_after: 50h, data_time: true }', 'sf_raw/sf_user: { fail_after: 50h, timezone: Europe/Berlin }'), /freshness\.sf_raw\/sf_user\.timezone .*only applies to a cron policy/],
  ];
  for (const [yaml, message] of cases) {
    const err = t.throws(() => parsePipelineConfig('p.yaml', yaml), { instanceOf: ConfigError });
    t.regex(err!.message, message);
  }
});

test('a freshness cron is validated by cron-parser, five fields: what is wrong and the fix', (t) => {
  const withCron = (cron: string) => parsePipelineConfig('p.yaml', embedded().replace('sf_raw/sf_user: { warn_after: 26h, fail_after: 50h, data_time: true }', `sf_raw/sf_user: { cron: "${cron}" }`));
  t.is(withCron('0 9 * * MON-FRI').freshness['sf_raw/sf_user']!.cron, '0 9 * * MON-FRI');
  const range = t.throws(() => withCron('61 9 * * *'), { instanceOf: ConfigError });
  t.regex(range!.message, /freshness\.sf_raw\/sf_user\.cron \(line \d+\): "61 9 \* \* \*" is not a 5-field cron expression: .*61.*0-59.*\. Fix: write minute hour day-of-month month day-of-week, e\.g\. "0 9 \* \* \*"/);
  for (const bad of ['0 9 * *', '0 0 9 * * *']) {
    t.regex(t.throws(() => withCron(bad), { instanceOf: ConfigError })!.message, /is not a 5-field cron expression: has \d fields, not 5/, bad);
  }
});

test('salesforce.login_url: an http(s) URL alone; credentials, a query or no URL name the fix without repeating the value', (t) => {
  const withUrl = (url: string) => parsePipelineConfig('cfg.yaml', embedded().replace(/^salesforce:\n/m, `salesforce:\n  login_url: ${JSON.stringify(url)}\n`));
  t.is(withUrl('https://acme.my.salesforce.com').salesforce.loginUrl, 'https://acme.my.salesforce.com');
  t.is(withUrl('http://127.0.0.1:8765').salesforce.loginUrl, 'http://127.0.0.1:8765');
  const cases: [string, RegExp][] = [
    ['https://admin:hunter2@acme.my.salesforce.com', /holds credentials \(user:password@\) in its URL/],
    ['https://login.salesforce.com/?token=hunter2', /has a query or a fragment/],
    ['https://login.salesforce.com/#hunter2', /has a query or a fragment/],
    ['hunter2 not a url', /is not an http\(s\) URL/],
    ['ftp://login.salesforce.com', /is not an http\(s\) URL/],
  ];
  // A real org over https; plain http only to this machine (the simulator mode may reach a simulator anywhere).
  const salesforceMode = (url: string) =>
    parsePipelineConfig(
      'cfg.yaml',
      embedded().replace('mode: simulator', 'mode: salesforce').replace('source: simulator', 'source: env').replace(/^salesforce:\n/m, `salesforce:\n  login_url: ${JSON.stringify(url)}\n`),
    );
  t.is(salesforceMode('http://127.0.0.1:8765').salesforce.loginUrl, 'http://127.0.0.1:8765');
  t.is(withUrl('http://sim.internal:8765').salesforce.loginUrl, 'http://sim.internal:8765');
  t.regex(
    t.throws(() => salesforceMode('http://login.salesforce.com'), { instanceOf: ConfigError })!.message,
    /salesforce\.login_url \(line \d+\): is plain http to another host, which would send the credentials unencrypted\. Fix: /,
  );
  for (const [bad, problem] of cases) {
    const message = t.throws(() => withUrl(bad), { instanceOf: ConfigError })!.message;
    t.regex(message, /cfg\.yaml: salesforce\.login_url \(line \d+\): /, bad);
    t.regex(message, problem, bad);
    t.regex(message, /\. Fix: write the org's login URL alone, e\.g\. https:\/\/login\.salesforce\.com/, bad);
    t.notRegex(message, /hunter2/, bad);
  }
});

test('ui.base_url: where sfpipe ui is served (alerts link to it); credentials, a query or another scheme name the fix', (t) => {
  t.is(parsePipelineConfig('cfg.yaml', embedded()).ui.baseUrl, null);
  const withUrl = (url: string) => parsePipelineConfig('cfg.yaml', `${embedded()}\nui:\n  base_url: ${JSON.stringify(url)}\n`);
  t.is(withUrl('https://sfpipe.example.com/').ui.baseUrl, 'https://sfpipe.example.com');
  t.is(withUrl('http://localhost:8642/sfpipe').ui.baseUrl, 'http://localhost:8642/sfpipe');
  const creds = t.throws(() => withUrl('https://admin:hunter2@sfpipe.example.com'), { instanceOf: ConfigError });
  t.regex(creds!.message, /cfg\.yaml: ui\.base_url \(line \d+\): holds credentials \(user:password@\) in its URL\. Fix: /);
  t.notRegex(creds!.message, /hunter2/);
  for (const bad of ['ftp://sfpipe.example.com', 'https://sfpipe.example.com/?tab=1', 'sfpipe.example.com']) {
    t.regex(t.throws(() => withUrl(bad), { instanceOf: ConfigError })!.message, /ui\.base_url .*is not an http\(s\) URL without a query\. Fix: write where sfpipe ui is served/, bad);
  }
  t.regex(t.throws(() => parsePipelineConfig('cfg.yaml', `${embedded()}\nui:\n  baseurl: x\n`), { instanceOf: ConfigError })!.message, /ui\.baseurl/);
});
