/**
 * The real pipeline where dbt cannot load its assets (issue 19): `materialize` fails (exit 1) with
 * a FAILURE run that alerts and still records the raw asset's result; `lineage` and `check` show
 * the dbt assets as unavailable with the reason, and exit 1.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { embeddedConfigPath } from '../../assets/config/load-config.js';
import { locateDbtProject } from '../../assets/dbt/dbt-project.js';
import { runPipelineCli } from '../helpers/cli.js';
import { receiver } from '../helpers/http-receiver.js';
import { tempDir } from '../helpers/temp.js';

const sfpipe = runPipelineCli;
const DBT_KEYS = ['sf_staging/stg_sf_user', 'sf_curated/dim_sf_user_scd'];
const ALL_KEYS = ['sf_raw/sf_user', ...DBT_KEYS].sort();

interface Step {
  key: string;
  status: string;
  error: string | null;
  metadata: Record<string, unknown>;
}
interface Alert {
  kind: string;
  state: string;
  previousState: string | null;
  runId: string;
  reason: string;
}

/** A copy of the repo's dbt project (without its outputs) to break. */
function copyDbtProject(): string {
  const src = locateDbtProject(tempDir(), {}).projectDir;
  const dst = path.join(tempDir('sfpipe-dbt-project-'), 'dbt');
  fs.cpSync(src, dst, { recursive: true, filter: (p) => !/^(target|logs|dbt_packages)$/.test(path.relative(src, p).split(path.sep)[0] ?? '') });
  return dst;
}

/** The log lines' messages (JSON lines: stderr is not a TTY). */
const messages = (stderr: string) => stderr.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { message: string }).message);

/**
 * `materialize` (no selection) with dbt broken as `env` says: exit 1, a FAILURE run in the event
 * log with raw's materialization, one run alert, and the cause with its fix on every dbt step and in
 * the log; then `lineage` and `check` show the dbt assets unavailable, exit 1.
 */
async function failsOnBrokenDbt(t: ExecutionContext, env: Record<string, string>, cause: RegExp, before?: { runs: number }) {
  const rx = await receiver(t);
  const full = { SFPIPE_ALERT_WEBHOOK_URL: `${rx.base}/hook`, ...env };
  const run = await sfpipe(['materialize', '--json'], full);
  t.is(run.code, 1, run.stderr);
  const result = JSON.parse(run.stdout) as { runId: string; status: string; steps: Step[] };
  t.is(result.status, 'FAILURE');
  t.deepEqual(result.steps.map((s) => s.key).sort(), ALL_KEYS, 'no selection: every asset, the dbt ones too');
  const step = (key: string) => result.steps.find((s) => s.key === key)!;
  t.is(step('sf_raw/sf_user').status, 'SUCCESS', 'raw still runs');
  t.true(Number(step('sf_raw/sf_user').metadata.versions_inserted) > 0);
  for (const key of DBT_KEYS) {
    t.is(step(key).status, 'FAILED', key);
    t.regex(step(key).error ?? '', /^could not be loaded here: /);
    t.regex(step(key).error ?? '', cause);
  }
  t.true(messages(run.stderr).some((m) => m.includes(' could not be loaded here: ') && cause.test(m)), run.stderr);

  // The event log: a FAILURE run of everything, with raw's own result.
  const runs = JSON.parse((await sfpipe(['runs', '--json'], full)).stdout).runs as { runId: string; status: string; selection: string; assets: string[] }[];
  t.is(runs.length, (before?.runs ?? 0) + 1);
  t.like(runs[0], { runId: result.runId, status: 'FAILURE', selection: '*' });
  t.deepEqual([...runs[0]!.assets].sort(), ALL_KEYS);
  const events = JSON.parse((await sfpipe(['events', result.runId, '--json'], full)).stdout).events as { type: string; assetKey: string | null }[];
  t.true(events.some((e) => e.type === 'ASSET_MATERIALIZATION' && e.assetKey === 'sf_raw/sf_user'), 'raw materialization recorded');
  t.deepEqual(events.filter((e) => e.type === 'STEP_FAILURE').map((e) => e.assetKey).sort(), [...DBT_KEYS].sort());

  // Alerted as a failed run.
  const alerts = rx.requests.map((r) => JSON.parse(r.body) as Alert).filter((a) => a.kind === 'run');
  t.is(alerts.length, 1, JSON.stringify(alerts));
  t.like(alerts[0], { state: 'FAILED', runId: result.runId });
  t.regex(alerts[0]!.reason, cause);

  // lineage and check: the dbt assets are there, unavailable with the reason; both exit 1.
  const lineage = await sfpipe(['lineage', '--json'], full);
  t.is(lineage.code, 1, lineage.stderr);
  const assets = JSON.parse(lineage.stdout).assets as { key: string; deps: string[]; checks: { name: string; lastResult: string | null }[]; lastMaterialization: { runId: string } | null; unavailable?: { reason: string; expected: boolean } }[];
  t.is(assets.find((a) => a.key === 'sf_raw/sf_user')!.lastMaterialization?.runId, result.runId);
  for (const key of DBT_KEYS) {
    const a = assets.find((x) => x.key === key);
    t.is(a?.unavailable?.expected, true, key);
    t.regex(a?.unavailable?.reason ?? '', cause);
  }
  const check = await sfpipe(['check', '--json'], full);
  t.is(check.code, 1, check.stderr);
  const evaluations = JSON.parse(check.stdout).evaluations as { key: string; unavailable?: { reason: string } }[];
  t.deepEqual(evaluations.filter((e) => e.unavailable && cause.test(e.unavailable.reason)).map((e) => e.key).sort(), [...DBT_KEYS].sort());
  return { result, alerts, assets };
}

test.serial('dbt missing where SFPIPE_DBT says it is: materialize fails, alerts and records raw; lineage and check show why', async (t) => {
  const home = tempDir();
  const missing = path.join(home, 'no-such-dbt');
  await failsOnBrokenDbt(t, { SFPIPE_HOME: home, SFPIPE_DBT: missing }, new RegExp(`dbt is not installed at "${missing}" \\(named by SFPIPE_DBT\\)\\. Fix: point SFPIPE_DBT at a dbt executable`));
  // A selection that leaves the dbt assets out is the caller's choice: it runs as before.
  const raw = await sfpipe(['materialize', '--select', 'sf_raw/sf_user'], { SFPIPE_HOME: home, SFPIPE_DBT: missing });
  t.is(raw.code, 0, raw.stderr);
});

test.serial('a bad profile (an adapter that is not installed): materialize fails, alerts and records raw; lineage and check show why', async (t) => {
  const project = copyDbtProject();
  const profiles = path.join(project, 'profiles.yml');
  fs.writeFileSync(profiles, fs.readFileSync(profiles, 'utf8').replace('type: duckdb', 'type: nosuchadapter'));
  await failsOnBrokenDbt(
    t,
    { SFPIPE_HOME: tempDir(), SFPIPE_DBT_PROJECT_DIR: project },
    /`dbt parse` of \S+ failed \(exit \d+\): .*Could not find adapter type nosuchadapter!.* Fix: correct what dbt names/,
  );
});

test.serial('dbt that crashes before it logs (no /dev/shm in the container): its traceback is the reason', async (t) => {
  const home = tempDir();
  const dbt = path.join(home, 'crashing-dbt');
  fs.writeFileSync(
    dbt,
    [
      '#!/bin/sh',
      "echo 'Traceback (most recent call last):' >&2",
      "echo '  File \"/opt/venv/lib/python3.11/site-packages/dbt/cli/main.py\", line 1, in <module>' >&2",
      "echo 'FileNotFoundError: [Errno 2] No such file or directory' >&2",
      'exit 1',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  await failsOnBrokenDbt(t, { SFPIPE_HOME: home, SFPIPE_DBT: dbt }, /`dbt parse` of \S+ failed \(exit 1\): .*FileNotFoundError: \[Errno 2\] No such file or directory\. Fix: /);
});

test.serial('a model that stops parsing after the pipeline worked: the run fails and alerts the change; lineage keeps the models as last parsed', async (t) => {
  const project = copyDbtProject();
  const home = tempDir();
  // A quicker first run: dbt's unit tests are dbt's own concern (test/dbt).
  const config = path.join(home, 'pipeline.yaml');
  fs.writeFileSync(config, fs.readFileSync(embeddedConfigPath(), 'utf8').replace(/unit_tests: true/, 'unit_tests: false'));
  const env = { SFPIPE_HOME: home, SFPIPE_CONFIG: config, SFPIPE_DBT_PROJECT_DIR: project };
  const ok = await sfpipe(['materialize'], env);
  t.is(ok.code, 0, ok.stderr);
  fs.writeFileSync(path.join(project, 'models', 'staging', 'broken.sql'), "select * from {{ ref('no_such_model') }}\n");
  const { alerts, assets } = await failsOnBrokenDbt(t, env, /Compilation Error .*broken\.sql.* depends on a node named 'no_such_model' which was not found\. Fix: /, { runs: 1 });
  t.is(alerts[0]!.previousState, 'SUCCESS', 'a failure after a success');
  // The models as dbt last parsed them: their deps and checks, with the checks' last results.
  const dim = assets.find((a) => a.key === 'sf_curated/dim_sf_user_scd')!;
  t.deepEqual(dim.deps, ['sf_raw/sf_user', 'sf_staging/stg_sf_user']);
  t.like(dim.checks.find((c) => c.name === 'assert_dim_sf_user_scd_integrity'), { lastResult: 'PASSED' });
});
