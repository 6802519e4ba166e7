import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { embeddedConfigPath } from '../../assets/config/load-config.js';
import { runPipelineCli, SFPIPE } from '../helpers/cli.js';
import { receiver } from '../helpers/http-receiver.js';
import { tempDir } from '../helpers/temp.js';
import { queryFile } from './fixtures/duckdb-fixture.js';

const sfpipe = runPipelineCli;
const sqlLiteral = (v: string) => `'${v.replace(/'/g, "''")}'`;

test('the embedded default end to end: first run loads the org, the next sees it evolve; lineage reports it', async (t) => {
  const env = { SFPIPE_HOME: tempDir() };
  const first = await sfpipe(['materialize', '--json'], env);
  t.is(first.code, 0, first.stderr);
  const r1 = JSON.parse(first.stdout);
  t.deepEqual(r1.steps.map((s: { key: string; status: string }) => `${s.key}:${s.status}`), ['sf_raw/sf_user:SUCCESS', 'sf_staging/stg_sf_user:SUCCESS', 'sf_curated/dim_sf_user_scd:SUCCESS']);
  t.like(r1.steps[0], { key: 'sf_raw/sf_user', status: 'SUCCESS', metadata: { mode: 'full', path: 'rest', records_fetched: 5000, versions_inserted: 5000, missing_fields: ['IsDeleted'] } });
  t.deepEqual(r1.steps[0].metadata.api_calls, { auth: 1, describe: 1, query: 1, queryMore: 2 });
  t.regex(first.stderr, /"message":"User has no field IsDeleted/);

  const second = await sfpipe(['materialize', '--json'], env);
  t.is(second.code, 0, second.stderr);
  const r2 = JSON.parse(second.stdout);
  t.is(r2.status, 'SUCCESS');
  const m2 = r2.steps[0].metadata;
  t.is(m2.mode, 'incremental');
  t.true(m2.versions_inserted > 50 && m2.versions_inserted < 500, `a day of changes: ${m2.versions_inserted}`);
  t.true(m2.api_calls_total <= 3);
  t.true(m2.watermark_after > m2.watermark_before);
  // The first run tests every row and runs the unit tests; the second, incremental, tests the
  // users it touched and skips the unit tests (the project did not change since they passed).
  const dbtCommand = (stderr: string) => JSON.parse(stderr.split('\n').find((l) => l.includes('"message":"dbt build'))!).message as string;
  t.notRegex(dbtCommand(first.stderr), /unit_test/);
  t.regex(dbtCommand(second.stderr), /--exclude-resource-type unit_test/);
  t.regex(first.stderr, /"message":"dbt data tests: every row, SFPIPE_DBT_TEST_SCOPE=all \(no full test/);
  t.regex(second.stderr, /"message":"dbt data tests: the touched users, SFPIPE_DBT_TEST_SCOPE=touched \(incremental run/);
  t.is(r1.steps[2].metadata.dbt_tests, 'all rows');
  t.true(Date.parse(r1.steps[2].metadata.dbt_tests_full_at) >= Date.parse(r1.startedAt), 'the full test is recorded with its time');
  t.like(r2.steps[2].metadata, { dbt_tests: 'touched users', dbt_tests_full_at: r1.steps[2].metadata.dbt_tests_full_at, dbt_unit_tests_passed_for: r1.steps[2].metadata.dbt_unit_tests_passed_for });
  t.regex(r1.steps[2].metadata.dbt_unit_tests_passed_for, /^[0-9a-f]{64}$/);

  const lineage = JSON.parse((await sfpipe(['lineage', '--json'], env)).stdout);
  t.deepEqual(lineage.assets.map((a: { key: string }) => a.key), ['salesforce/User', 'sf_raw/sf_user', 'sf_staging/stg_sf_user', 'sf_curated/dim_sf_user_scd']);
  const dim = lineage.assets[3];
  // The dimension reads staging, and raw directly for its incremental selection.
  t.deepEqual(dim.deps, ['sf_raw/sf_user', 'sf_staging/stg_sf_user']);
  t.like(dim.checks.find((c: { name: string }) => c.name === 'assert_dim_sf_user_scd_integrity'), { severity: 'ERROR', blocking: true, lastResult: 'PASSED' });
  // Only the seeded invalid division / audit phase values warn; every ERROR check passes.
  const failed = lineage.assets.flatMap((a: { checks: { name: string; severity: string; lastResult: string }[] }) => a.checks.filter((c) => c.lastResult === 'FAILED'));
  t.true(failed.every((c: { severity: string; name: string }) => c.severity === 'WARN' && c.name.startsWith('accepted_values')), JSON.stringify(failed));
  t.is(lineage.assets[1].lastMaterialization.metadata.versions_inserted, m2.versions_inserted);
  // Staging's statistics (counted from raw, not through the view) are the view's.
  const [staged] = await queryFile(`${env.SFPIPE_HOME}/warehouse.duckdb`, 'select count(*) as observations, count(distinct user_id) as users from sf_staging.stg_sf_user');
  t.like(lineage.assets[2].lastMaterialization.metadata, { observations: Number(staged!.observations), users: Number(staged!.users) });
  // The dimension's summary metadata and one user's history through `sfpipe history`.
  const dimMeta = lineage.assets[3].lastMaterialization.metadata;
  t.true(dimMeta.versions_opened > 0 && dimMeta.versions_closed > 0, JSON.stringify(dimMeta));
  t.is(dimMeta.versions - dimMeta.current_versions, dimMeta.versions_closed, 'all closed versions were closed by the second run');
  const [changed] = await queryFile(`${env.SFPIPE_HOME}/warehouse.duckdb`, 'select user_id from sf_curated.dim_sf_user_scd group by 1 having count(*) > 1 order by 1 limit 1');
  const history = await sfpipe(['history', String(changed!.user_id), '--json'], env);
  t.is(history.code, 0, history.stderr);
  const versions = JSON.parse(history.stdout).versions as { valid_from: string; valid_to: string | null; is_current: boolean }[];
  t.true(versions.length >= 2);
  t.deepEqual(versions.map((v) => v.is_current), [...versions.slice(1).map(() => false), true]);
  for (let i = 1; i < versions.length; i++) t.is(versions[i - 1]!.valid_to, versions[i]!.valid_from);
  t.is(versions.at(-1)!.valid_to, null);
  t.is((await sfpipe(['history', 'not-an-id'], env)).code, 2);
  // The 15-character form finds the same user; an Id with no versions exits 1 and says so.
  const short = await sfpipe(['history', String(changed!.user_id).slice(0, 15), '--json'], env);
  t.is(short.code, 0, short.stderr);
  t.deepEqual(JSON.parse(short.stdout), { userId: changed!.user_id, versions });
  const text = await sfpipe(['history', String(changed!.user_id).slice(0, 15)], env);
  t.regex(text.stdout, new RegExp(`^user ${String(changed!.user_id)}\\nvalid_from\\s+valid_to`));
  // The 18-character Id is case-safe: typed in any case it is the same user; a suffix that does
  // not fit its first 15 characters is no Id (exit 2).
  const id = String(changed!.user_id);
  for (const typed of [id.toLowerCase(), id.toUpperCase()]) {
    const r = await sfpipe(['history', typed, '--json'], env);
    t.is(r.code, 0, `${typed}: ${r.stderr}`);
    t.deepEqual(JSON.parse(r.stdout), { userId: id, versions }, typed);
  }
  const typo = await sfpipe(['history', `${id.slice(0, 17)}9`], env);
  t.is(typo.code, 2, typo.stderr);
  t.regex(typo.stderr, /is not a Salesforce Id: its last 3 characters are not the case-safe suffix of the first 15/);
  const nobody = await sfpipe(['history', '005000000000000AAA'], env);
  t.is(nobody.code, 1);
  t.regex(nobody.stderr, /no versions of 005000000000000AAA in sf_curated\.dim_sf_user_scd: no such user, or not extracted yet/);
  // No secret reaches a log line.
  t.notRegex(first.stderr + second.stderr, /sfpipe-sim-secret/);
});

test('sfpipe history before the dimension exists says what to run, not a DuckDB error', async (t) => {
  const home = tempDir();
  const none = await sfpipe(['history', '005000000000000AAA'], { SFPIPE_HOME: home });
  t.is(none.code, 1);
  t.regex(none.stderr, /^sfpipe: the embedded warehouse .*warehouse\.duckdb does not exist yet; run sfpipe materialize first\n$/);
  const raw = await sfpipe(['materialize', '--select', 'sf_raw/sf_user'], { SFPIPE_HOME: home });
  t.is(raw.code, 0, raw.stderr);
  const noDim = await sfpipe(['history', '005000000000000AAA'], { SFPIPE_HOME: home });
  t.is(noDim.code, 1);
  t.regex(noDim.stderr, /^sfpipe: sf_curated\.dim_sf_user_scd does not exist yet in .*; run sfpipe materialize \(it builds the dimension\)\n$/);
});

test('sfpipe history escapes control characters in the table; --json keeps the values exact', async (t) => {
  const home = tempDir();
  const id = '005000000000001AAA';
  const name = 'Tab\there\nnew line \u001b[31mred\u001b[0m back\\slash';
  const file = path.join(home, 'warehouse.duckdb');
  await queryFile(file, 'CREATE SCHEMA sf_curated');
  await queryFile(
    file,
    `CREATE TABLE sf_curated.dim_sf_user_scd AS
     SELECT 'k1' AS user_key, '${id}' AS user_id, ${sqlLiteral(name)} AS name, ${sqlLiteral('North\tEast')} AS division,
            'Phase1' AS audit_phase__c, true AS is_active, false AS is_deleted,
            TIMESTAMP '2025-01-01 00:00:00' AS update_date, TIMESTAMP '2025-01-01 00:00:00' AS valid_from,
            CAST(NULL AS TIMESTAMP) AS valid_to, true AS is_current`,
  );

  const json = await sfpipe(['history', id, '--json'], { SFPIPE_HOME: home });
  t.is(json.code, 0, json.stderr);
  t.like(JSON.parse(json.stdout).versions[0], { name, division: 'North\tEast' });

  const text = await sfpipe(['history', id], { SFPIPE_HOME: home });
  t.is(text.code, 0, text.stderr);
  const lines = text.stdout.trimEnd().split('\n');
  t.is(lines.length, 3, 'user line, header, one version');
  t.notRegex(text.stdout, /[\t\u001b]/);
  t.true(lines[2]!.includes('Tab\\there\\nnew line \\x1b[31mred\\x1b[0m back\\\\slash'), lines[2]);
  t.true(lines[2]!.includes('North\\tEast'), lines[2]);
  // The columns still line up: every header column starts where its cells start.
  t.is(lines[1]!.indexOf('name'), lines[2]!.indexOf('Tab'));
});

test('a freshness entry whose key names no asset is a config error, not silently unmonitored', async (t) => {
  const dir = tempDir();
  const file = embeddedConfigEdited(t, dir, [['  sf_staging/stg_sf_user: {', '  sf_staging/stg_sf_usr: {']]);
  const r = await sfpipe(['check'], { SFPIPE_HOME: dir, SFPIPE_CONFIG: file });
  t.is(r.code, 1);
  t.regex(r.stderr, /pipeline\.yaml: freshness\.sf_staging\/stg_sf_usr \(line \d+\): names no asset\. Fix: did you mean sf_staging\/stg_sf_user\? The asset keys are salesforce\/User, sf_raw\/sf_user, /);
  t.is(r.stdout, '', 'nothing was evaluated');
});

test('credentials a login flow lacks are named where they are set; a pipeline that never worked alerts once, not never', async (t) => {
  const dir = tempDir();
  const file = embeddedConfigEdited(t, dir, [
    ['  mode: simulator            # simulator | salesforce', '  mode: salesforce\n  login_url: http://127.0.0.1:9'],
    ["      source: simulator      # the simulator's public demo credentials", '      source: env'],
  ]);
  const rx = await receiver(t);
  const env = { SFPIPE_HOME: dir, SFPIPE_CONFIG: file, SF_CLIENT_ID: 'cid', SF_CLIENT_SECRET: '', SFPIPE_ALERT_WEBHOOK_URL: `${rx.base}/hook` };
  const r = await sfpipe(['materialize', '--select', 'sf_raw/sf_user'], env);
  t.is(r.code, 1);
  t.regex(r.stderr, /the client_credentials login flow \(salesforce\.auth\.method\) needs client_secret, which the credentials lack\. Fix: set the environment variable SF_CLIENT_SECRET/);
  // The first run failed and nothing ever succeeded: one alert for the run, naming the asset and why.
  t.is(rx.requests.length, 1);
  const alert = JSON.parse(rx.requests[0]!.body);
  t.like(alert, { kind: 'run', assetKey: 'sf_raw/sf_user', state: 'FAILED', previousState: null, recovered: false });
  t.regex(alert.reason, /^sf_raw\/sf_user failed: .*needs client_secret/);
  t.regex(alert.command, /^sfpipe events [0-9a-f]{8}$/);
  // Still failing the next day: no second message.
  t.is((await sfpipe(['materialize', '--select', 'sf_raw/sf_user'], env)).code, 1);
  t.is(rx.requests.length, 1);
});

test('alerts expected from a Secret that gave no URL are a warning on every command, not silence', async (t) => {
  const home = tempDir();
  const warned = await sfpipe(['check'], { SFPIPE_HOME: home, SFPIPE_ALERTS_SECRET: 'sfpipe-alerts', SFPIPE_SLACK_WEBHOOK_URL: '', SFPIPE_ALERT_WEBHOOK_URL: '' });
  t.is(warned.code, 0, warned.stderr);
  t.regex(warned.stderr, /alerts are off: the Secret sfpipe-alerts \(alerts\.existingSecret\) gave neither a Slack nor a webhook URL/);
  const rx = await receiver(t);
  const fine = await sfpipe(['check'], { SFPIPE_HOME: home, SFPIPE_ALERTS_SECRET: 'sfpipe-alerts', SFPIPE_ALERT_WEBHOOK_URL: `${rx.base}/hook` });
  t.notRegex(fine.stderr, /alerts are off/);
});

test('sfpipe sim serve refuses --ephemeral with --state-file (exit 2) instead of ignoring the file', async (t) => {
  const r = await sfpipe(['sim', 'serve', '--ephemeral', '--state-file', `${tempDir()}/org.json`], { SFPIPE_HOME: tempDir() });
  t.is(r.code, 2);
  t.regex(r.stderr, /option '--ephemeral' cannot be used with option '--state-file <path>'/);
});

test('a bad pipeline config fails the run with exit 1 and names the file and the fix', async (t) => {
  const dir = tempDir();
  const file = `${dir}/pipeline.yaml`;
  fs.writeFileSync(file, 'salesforce:\n  mode: simulator\nsource:\n  lookback: soon\n  columns:\n    - { name: Id, type: string }\n    - { name: SystemModstamp, type: timestamp }\n');
  const r = await sfpipe(['materialize'], { SFPIPE_HOME: dir, SFPIPE_CONFIG: file });
  t.is(r.code, 1);
  t.regex(r.stderr, /pipeline\.yaml: source\.lookback \(line 4\): "soon" is not a duration\. Fix:/);
});

test('sfpipe sim serve: a server any Salesforce client can log in to; SIGTERM stops it', async (t) => {
  const child = spawn(process.execPath, [SFPIPE, 'sim', 'serve', '--port', '0', '--users', '300', '--ephemeral'], {
    env: { ...process.env, SFPIPE_PIPELINE: '', SFPIPE_HOME: tempDir() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(`exited early: ${out}`)));
  });
  const jsforce = (await import('jsforce')).default;
  const conn = new jsforce.Connection({ oauth2: { loginUrl: url, clientId: 'sfpipe-sim-client', clientSecret: 'sfpipe-sim-secret' }, version: '62.0' });
  await conn.authorize({ grant_type: 'client_credentials' });
  const count = await conn.query('SELECT COUNT() FROM User');
  t.is(count.totalSize, 300);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.is(await exited, 0);
});

/** The embedded config with lines replaced, written to dir/pipeline.yaml (each replaced text must be there). */
function embeddedConfigEdited(t: ExecutionContext, dir: string, edits: [string, string][]): string {
  let text = fs.readFileSync(embeddedConfigPath(), 'utf8');
  for (const [from, to] of edits) {
    t.true(text.includes(from), `the embedded config has ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  const file = path.join(dir, 'pipeline.yaml');
  fs.writeFileSync(file, text);
  return file;
}
