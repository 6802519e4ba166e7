/**
 * Environments through the real CLI: `--env` / SFPIPE_ENV picks the stage `lineage` shows (text
 * and JSON); a config that would write a prod location outside prod stops every command before
 * anything runs; a schema suffix moves where dbt builds, not the asset keys.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';

import { embeddedConfigPath } from '../../assets/config/load-config.js';
import { withDuckDbReadOnly } from '../../assets/warehouse/duckdb-stats.js';
import { runPipelineCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const embedded = fs.readFileSync(embeddedConfigPath(), 'utf8');

test('--env and SFPIPE_ENV pick the environment lineage shows, in text and JSON; --env wins; dev by default', async (t) => {
  const home = tempDir();
  const json = async (args: string[], env: Record<string, string> = {}) => {
    const r = await runPipelineCli([...args, 'lineage', '--json'], { SFPIPE_HOME: home, ...env });
    t.is(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { environment: { name: string; dbt: { target: string; profile: string } }; assets: { key: string }[] };
  };
  t.is((await json([])).environment.name, 'dev');
  const staging = await json(['--env', 'staging']);
  t.like(staging.environment, { name: 'staging', dbt: { target: 'staging', profile: 'sf_user_pipeline' } });
  t.true(staging.assets.some((a) => a.key === 'sf_curated/dim_sf_user_scd'));
  t.is((await json([], { SFPIPE_ENV: 'prod' })).environment.name, 'prod');
  t.is((await json(['--env', 'dev'], { SFPIPE_ENV: 'prod' })).environment.name, 'dev', 'the flag wins over the variable');

  const text = await runPipelineCli(['--env', 'staging', 'lineage'], { SFPIPE_HOME: home });
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout.split('\n')[0]!, /^environment: staging \(config .*embedded\.yaml; warehouse duckdb; dbt profile sf_user_pipeline, target staging, schemas sf_staging, sf_curated; 0 prod locations refused\)$/);
  const bad = await runPipelineCli(['--env', 'qa', 'lineage'], { SFPIPE_HOME: home });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /option '--env <name>' argument 'qa' is invalid\. Allowed choices are dev, staging, prod/);
});

test('a dev config pointing at a prod location stops every command before it runs anything, naming the setting and the fix', async (t) => {
  const dir = tempDir();
  const home = path.join(dir, 'home');
  const file = path.join(dir, 'pipeline.yaml');
  const athena = (table: string, stage: string) =>
    `warehouse: { athena: { region: eu-west-1, table_location: ${table}, dbt_data_location: s3://acme-${stage}-lake/dbt/, output_location: s3://acme-${stage}-results/, database: sf_raw_${stage} } }`;
  // dev's raw tables where prod's are (a copied value); everything else its own.
  fs.writeFileSync(
    file,
    embedded.replace('  engine: duckdb\n', '  engine: athena\n') +
      `environments:\n  dev:\n    ${athena('s3://acme-prod-lake/sf_raw/', 'dev')}\n  prod:\n    ${athena('s3://acme-prod-lake/sf_raw/', 'prod')}\n`,
  );
  for (const args of [['materialize'], ['check'], ['lineage']]) {
    const r = await runPipelineCli(args, { SFPIPE_HOME: home, SFPIPE_CONFIG: file, SFPIPE_DEVELOPER: 'alice' });
    t.is(r.code, 1, args[0]);
    t.regex(
      r.stderr,
      /^sfpipe: .*pipeline\.yaml: warehouse\.athena\.table_location \(line \d+\): s3:\/\/acme-prod-lake\/sf_raw\/ \(the raw tables' prefix\) is a prod location \(environments\.prod's warehouse\.athena\.table_location: s3:\/\/acme-prod-lake\/sf_raw\/\), and this is the dev environment: a dev run must never write there\. Fix: give dev a location of its own in environments\.dev/m,
      args[0],
    );
    t.is(r.stdout, '', `${args[0]}: nothing ran`);
  }
  t.false(fs.existsSync(path.join(home, 'events.sqlite')), 'no run was recorded');
});

test("docs generate --publish refuses a prod location outside prod, before dbt runs", async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'pipeline.yaml');
  fs.writeFileSync(file, embedded.replace('  engine: duckdb\n', '  engine: duckdb\n  protected_locations: [s3://acme-prod-docs/]\n'));
  const args = ['docs', 'generate', '--publish', 's3://acme-prod-docs/sf-user-pipeline/', '--region', 'eu-west-1'];
  const r = await runPipelineCli(['--env', 'staging', ...args], { SFPIPE_HOME: path.join(dir, 'home'), SFPIPE_CONFIG: file });
  t.is(r.code, 1);
  t.regex(r.stderr, /^sfpipe: --publish s3:\/\/acme-prod-docs\/sf-user-pipeline\/ is a prod location \(s3:\/\/acme-prod-docs\/\), and this is the staging environment: a staging run must never write there\. Fix: publish staging's docs under a prefix of its own/m);
  t.is(r.stdout, '', 'dbt did not run');
});

test('a schema suffix moves where dbt builds (sf_staging_alice, sf_curated_alice), not the asset keys; stats and history read it there', async (t) => {
  const home = tempDir();
  const dir = tempDir();
  const file = path.join(dir, 'pipeline.yaml');
  fs.writeFileSync(file, embedded.replace('  engine: duckdb\n', '  engine: duckdb\n  schema_suffix: _alice\n').replace('users: 5000', 'users: 300'));
  const env = { SFPIPE_HOME: home, SFPIPE_CONFIG: file };
  const run = await runPipelineCli(['materialize', '--json'], env);
  t.is(run.code, 0, run.stderr.slice(-3000));
  const result = JSON.parse(run.stdout) as { status: string; steps: { key: string; metadata: { users?: number } }[] };
  t.is(result.status, 'SUCCESS');
  t.is(result.steps.find((s) => s.key === 'sf_curated/dim_sf_user_scd')?.metadata.users, 300, 'the row statistics read sf_curated_alice');
  const tables = await withDuckDbReadOnly(path.join(home, 'warehouse.duckdb'), (q) =>
    q(`select table_schema || '.' || table_name as t from information_schema.tables where table_schema like 'sf_%' order by 1`),
  );
  t.deepEqual(tables.map((r) => r.t), ['sf_curated_alice.dim_sf_user_scd', 'sf_raw.sf_user', 'sf_raw.sf_user_quarantine', 'sf_staging_alice.stg_sf_user']);
  const user = await withDuckDbReadOnly(path.join(home, 'warehouse.duckdb'), (q) => q('select min(user_id) as id from sf_curated_alice.dim_sf_user_scd'));
  const history = await runPipelineCli(['history', String(user[0]!.id), '--json'], env);
  t.is(history.code, 0, history.stderr);
  t.true((JSON.parse(history.stdout) as { versions: unknown[] }).versions.length >= 1);
  const lineage = await runPipelineCli(['lineage', '--json'], env);
  const report = JSON.parse(lineage.stdout) as { environment: { dbt: { schemas: string[] } }; assets: { key: string }[] };
  t.deepEqual(report.environment.dbt.schemas, ['sf_staging_alice', 'sf_curated_alice']);
  t.deepEqual(report.assets.map((a) => a.key).sort(), ['salesforce/User', 'sf_curated/dim_sf_user_scd', 'sf_raw/sf_user', 'sf_staging/stg_sf_user']);
});
