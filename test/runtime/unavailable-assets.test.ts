import test from 'ava';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCliProcess } from '../helpers/cli.js';
import { receiver } from '../helpers/http-receiver.js';
import { tempDir } from '../helpers/temp.js';
import { REASON } from './fixtures/unavailable-pipeline.js';

// The fixture pipeline whose two dbt-kind assets could not be loaded (test/runtime/fixtures/unavailable-pipeline.ts).
const PIPELINE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/unavailable-pipeline.js');
const UNAVAILABLE = ['sf_staging/stg_sf_user', 'sf_curated/dim_sf_user_scd'];
const sfpipe = (args: string[], env: Record<string, string> = {}) => runCliProcess(args, { SFPIPE_PIPELINE: PIPELINE, ...env });

interface Step {
  key: string;
  status: string;
  attempts: number;
  error: string | null;
  reason: string | null;
}

test('materialize without a selection means every asset: the unavailable ones fail the run (exit 1, FAILURE, alerted); the others run and are recorded', async (t) => {
  const rx = await receiver(t);
  const env = { SFPIPE_HOME: tempDir(), FIXTURE_ALERT_WEBHOOK: `${rx.base}/hook` };
  const run = await sfpipe(['materialize', '--json'], env);
  t.is(run.code, 1, run.stderr);
  const result = JSON.parse(run.stdout) as { runId: string; status: string; steps: Step[] };
  t.is(result.status, 'FAILURE');
  const byKey = new Map(result.steps.map((s) => [s.key, s]));
  t.deepEqual([...byKey.keys()].sort(), ['reports/side_branch', 'sf_curated/dim_sf_user_scd', 'sf_raw/sf_user', 'sf_staging/stg_sf_user']);
  t.like(byKey.get('sf_raw/sf_user'), { status: 'SUCCESS' });
  t.like(byKey.get('reports/side_branch'), { status: 'SUCCESS' });
  for (const key of UNAVAILABLE) t.like(byKey.get(key), { status: 'FAILED', attempts: 0, error: `could not be loaded here: ${REASON}` });
  // The cause and the fix are said where they happen, with the keys.
  const lines = run.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; message: string });
  t.truthy(lines.find((l) => l.level === 'error' && l.message === `${UNAVAILABLE.join(', ')} could not be loaded here: ${REASON}`), run.stderr);

  // The event log: a FAILURE run whose other assets' results are recorded.
  const runs = JSON.parse((await sfpipe(['runs', '--json'], env)).stdout).runs as { runId: string; status: string; assets: string[]; error: string }[];
  t.like(runs[0], { runId: result.runId, status: 'FAILURE' });
  t.deepEqual([...runs[0]!.assets].sort(), [...byKey.keys()].sort());
  t.true(runs[0]!.error.includes(REASON));
  const events = JSON.parse((await sfpipe(['events', result.runId, '--json'], env)).stdout).events as { type: string; assetKey: string | null }[];
  t.true(events.some((e) => e.type === 'ASSET_MATERIALIZATION' && e.assetKey === 'sf_raw/sf_user'));
  t.deepEqual(events.filter((e) => e.type === 'STEP_FAILURE').map((e) => e.assetKey).sort(), [...UNAVAILABLE].sort());

  // It alerts as a failed run does.
  const alerts = rx.requests.map((r) => JSON.parse(r.body) as { kind: string; state: string; runId: string; reason: string; assetKey: string });
  t.is(alerts.length, 1);
  t.like(alerts[0], { kind: 'run', state: 'FAILED', previousState: null, runId: result.runId } as never);
  t.true(alerts[0]!.reason.includes(REASON), alerts[0]!.reason);
});

test('an unavailable asset fails at once with its reason, not "upstream failed"; it is selected like any asset, and a selection without it runs as before', async (t) => {
  const env = { SFPIPE_HOME: tempDir(), FIXTURE_FAIL: 'sf_raw/sf_user' };
  const run = await sfpipe(['materialize', '--select', '+sf_staging/stg_sf_user', '--json'], env);
  t.is(run.code, 1, run.stderr);
  const steps = (JSON.parse(run.stdout) as { steps: Step[] }).steps;
  t.like(steps.find((s) => s.key === 'sf_raw/sf_user'), { status: 'FAILED', error: 'sf_raw/sf_user was told to fail' });
  t.like(steps.find((s) => s.key === 'sf_staging/stg_sf_user'), { status: 'FAILED', error: `could not be loaded here: ${REASON}` });
  // Selected by attribute like any asset; a selection without them runs as before.
  const dbtOnly = await sfpipe(['materialize', '--select', 'kind:dbt', '--json'], { SFPIPE_HOME: tempDir() });
  t.is(dbtOnly.code, 1);
  t.deepEqual((JSON.parse(dbtOnly.stdout) as { steps: Step[] }).steps.map((s) => `${s.key}:${s.status}`).sort(), UNAVAILABLE.map((k) => `${k}:FAILED`).sort());
  const rawOnly = await sfpipe(['materialize', '--select', 'sf_raw/sf_user'], { SFPIPE_HOME: tempDir() });
  t.is(rawOnly.code, 0, rawOnly.stderr);
});

for (const [mode, expected] of [['expected', true], ['optional', false]] as const) {
  test(`lineage and check show unavailable assets with the reason; ${expected ? 'where they should load, both exit 1' : 'on a machine only not set up for them, both exit 0 with a warning'}`, async (t) => {
    const env = { SFPIPE_HOME: tempDir(), FIXTURE_UNAVAILABLE: mode };
    const lineage = await sfpipe(['lineage', '--json'], env);
    t.is(lineage.code, expected ? 1 : 0, lineage.stderr);
    const assets = JSON.parse(lineage.stdout).assets as { key: string; deps: string[]; kinds: string[]; unavailable?: { reason: string; expected: boolean } }[];
    t.deepEqual(assets.map((a) => a.key).sort(), ['reports/side_branch', 'salesforce/User', 'sf_curated/dim_sf_user_scd', 'sf_raw/sf_user', 'sf_staging/stg_sf_user']);
    for (const a of assets) t.deepEqual(a.unavailable, UNAVAILABLE.includes(a.key) ? { reason: REASON, expected } : undefined, a.key);
    t.deepEqual(assets.find((a) => a.key === 'sf_curated/dim_sf_user_scd')!.deps, ['sf_staging/stg_sf_user']);
    const level = JSON.parse(lineage.stderr.split('\n')[0]!) as { level: string; message: string };
    t.like(level, { level: expected ? 'error' : 'warn', message: `${UNAVAILABLE.join(', ')} could not be loaded here: ${REASON}` });

    const text = await sfpipe(['lineage', '--select', 'sf_staging/stg_sf_user'], env);
    t.is(text.code, expected ? 1 : 0);
    t.regex(text.stdout, new RegExp(`^${expected ? '✗' : '!'} sf_staging/stg_sf_user  \\(dbt; group staging\\)\\n    UNAVAILABLE here: ${REASON}\\n`));

    const check = await sfpipe(['check', '--json'], env);
    t.is(check.code, expected ? 1 : 0, check.stderr);
    const evaluations = JSON.parse(check.stdout).evaluations as { key: string; state: string; unavailable?: { reason: string; expected: boolean } }[];
    t.deepEqual(evaluations.filter((e) => e.unavailable).map((e) => [e.key, e.unavailable]), UNAVAILABLE.map((k) => [k, { reason: REASON, expected }]));
    const checkText = await sfpipe(['check', '--select', 'sf_staging/stg_sf_user'], env);
    t.regex(checkText.stdout.split('\n')[1]!, new RegExp(`^sf_staging/stg_sf_user\\s+${expected ? '✗' : '!'} UNAVAILABLE\\s.* ${REASON} \\(freshness NOT_APPLICABLE: no freshness policy\\)$`));
  });
}
