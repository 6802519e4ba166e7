/**
 * deploy/deploy.sh, the steps .github/workflows/deploy.yml runs, run here where they can run:
 * - image: tags the image `make image` built (nothing is built a second time);
 * - dbt: `dbt build` of the dbt models with the config the chart renders for the environment,
 *   on the embedded DuckDB warehouse of the simulator values (test/deploy/values-test.yaml);
 * - helm: `helm upgrade --install` into a real kube-apiserver, twice (install, then upgrade);
 * - smoke: `sfpipe launch` from the release's materialize CronJob; there is no kubelet, so the
 *   Job never runs: with --wait the test writes the Job's end into its status, as the Job
 *   controller would, and the step exits with it.
 * push (a registry) and dbt on a cloud warehouse cannot run here; --skip / DEPLOY_SKIP skips them.
 *
 * The image test needs buildah and the built image (make image); the cluster test
 * .tools/bin/{etcd,kube-apiserver,kubectl,helm}. Without them they are skipped unless
 * SFPIPE_REQUIRE_K8S is set (CI), where they fail.
 */
import test from 'ava';
import type { V1CronJob, V1Job } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { builtImage, hasBuildah } from '../services/image/container.js';
import { manualRunArgs } from '../../k8s/job-from-cronjob.js';
import { HELM, REPO, SFPIPE, clusterFixture, clusterTest, kubectl, kubectlJson, run, runOk, type RunResult } from '../k8s/fixtures/cluster.js';

const DEPLOY = path.join(REPO, 'deploy', 'deploy.sh');
const TEST_VALUES = path.join(REPO, 'test', 'deploy', 'values-test.yaml');
const REQUIRED = !!process.env['SFPIPE_REQUIRE_K8S'];
const scratch = mkdtempSync(path.join(os.tmpdir(), 'sfpipe-deploy-test-'));
// Before any test is declared (ava wants them declared synchronously).
const image = hasBuildah() ? await builtImage() : { error: 'buildah is not installed (test/services/image/install.sh)' };
const imageMissing = image.error;
if (imageMissing && !REQUIRED) process.stderr.write(`deploy image test skipped: ${imageMissing}\n`);
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

/** helm's own dirs in the scratch dir (no writes to the user's helm config). */
const helmEnv = {
  HELM: HELM,
  HELM_CACHE_HOME: path.join(scratch, 'helm', 'cache'),
  HELM_CONFIG_HOME: path.join(scratch, 'helm', 'config'),
  HELM_DATA_HOME: path.join(scratch, 'helm', 'data'),
};

/** deploy/deploy.sh ARGS with only the DEPLOY_* variables given (none inherited). */
function deployEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...helmEnv, SFPIPE_LOG_LEVEL: 'warn', ...extra };
  for (const k of Object.keys(env)) if (k.startsWith('DEPLOY_') && !(k in extra)) delete env[k];
  delete env['KUBERNETES_SERVICE_HOST'];
  if (!('KUBECONFIG' in extra)) delete env['KUBECONFIG'];
  return env;
}
function deploy(args: string[], extra: Record<string, string> = {}, timeoutMs = 5 * 60_000): Promise<RunResult> {
  return run('bash', [DEPLOY, ...args], { env: deployEnv(extra), cwd: REPO, timeoutMs });
}
const testEnv = ['--env', 'test', '--values', TEST_VALUES];

test('usage: the steps and settings in --help; a missing environment, values file or step is a usage error (exit 2)', async (t) => {
  const help = await deploy(['--help']);
  t.is(help.code, 0, help.stderr);
  for (const s of ['image', 'push', 'dbt', 'helm', 'smoke', 'DEPLOY_IMAGE_REPOSITORY', 'DEPLOY_SKIP', 'KUBECONFIG']) t.true(help.stdout.includes(s), `--help mentions ${s}`);

  const cases: [string[], Record<string, string>, RegExp][] = [
    [['image'], {}, /^deploy: no environment: pass --env dev\|staging\|prod or set DEPLOY_ENV/],
    [['--env', 'nosuch', 'helm'], {}, /^deploy: environment nosuch has no values file helm\/sf-user-pipeline\/values-nosuch\.yaml: add it, or pass --values FILE/],
    [['helm'], { DEPLOY_ENV: 'Prod' }, /^deploy: --env "Prod" is not an environment name/],
    [[...testEnv, 'deploy'], {}, /^deploy: unknown step "deploy": the steps are image push dbt helm smoke \(or all\)/],
    [[...testEnv], {}, /^deploy: no step given/],
    [[...testEnv, '--values', path.join(scratch, 'none.yaml'), 'helm'], {}, /^deploy: the values file .*none\.yaml does not exist/],
    [[...testEnv, 'helm'], {}, /^deploy: step helm needs the image's repository: set DEPLOY_IMAGE_REPOSITORY/],
    [[...testEnv, '--skip', 'pushh', 'push'], {}, /^deploy: --skip\/DEPLOY_SKIP: unknown step "pushh"/],
    [[...testEnv, 'smoke'], { DEPLOY_SMOKE_TIMEOUT: '10m' }, /^deploy: DEPLOY_SMOKE_TIMEOUT "10m" is not a whole number of seconds/],
    [[...testEnv, 'smoke'], { DEPLOY_SMOKE_TIMEOUT: '2147484' }, /^deploy: DEPLOY_SMOKE_TIMEOUT "2147484" is not a whole number of seconds from 1 to 2147483/],
  ];
  for (const [args, env, message] of cases) {
    const r = await deploy(args, env);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message);
  }
});

test('--skip and DEPLOY_SKIP skip steps (push and dbt where no registry or warehouse can be reached)', async (t) => {
  // No DEPLOY_IMAGE_REPOSITORY: a step that ran would fail.
  const r = await deploy([...testEnv, '--skip', 'push', 'push', 'dbt'], { DEPLOY_SKIP: 'dbt' });
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stderr.trim().split('\n'), ['deploy: push: skipped', 'deploy: dbt: skipped']);
});

// ---- image ----------------------------------------------------------------------------------


async function imageId(ref: string): Promise<string> {
  return (await runOk('buildah', ['inspect', '--type', 'image', '--format', '{{.FromImageID}}', ref])).trim();
}

(imageMissing && !REQUIRED ? test.skip : test)('image: tags the image make image built as REPOSITORY:TAG, building nothing', async (t) => {
  t.timeout(5 * 60_000);
  if (imageMissing) return t.fail(`${imageMissing} (SFPIPE_REQUIRE_K8S is set: build it with make image)`);
  const ref = `localhost/sfpipe-deploy-test:t${process.pid}`;
  try {
    const r = await deploy([...testEnv, 'image'], { DEPLOY_IMAGE_REPOSITORY: 'localhost/sfpipe-deploy-test', DEPLOY_IMAGE_TAG: `t${process.pid}`, SFPIPE_IMAGE_ENGINE: 'buildah' });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, /\[image\] up to date: /, 'make image found its image');
    t.notRegex(r.stderr, /\[image\] building /);
    t.regex(r.stderr, new RegExp(`deploy: image: ${ref} \\(the image ${image.ref!.replace(/[.]/g, '\\.')}, tagged with buildah\\)`));
    t.is(await imageId(ref), await imageId(image.ref!), 'the same image');
  } finally {
    await run('buildah', ['rmi', ref]); // removes this tag only: the image keeps its others
  }
});

// ---- dbt ----------------------------------------------------------------------------------

test('dbt: dbt build of the dbt models with the config the chart renders; fails while raw is missing, succeeds after', async (t) => {
  t.timeout(5 * 60_000);
  const state = path.join(scratch, 'dbt-state');
  const env = { DEPLOY_IMAGE_REPOSITORY: 'localhost/sfpipe-deploy-test', DEPLOY_IMAGE_TAG: 'dbt', DEPLOY_STATE_DIR: state };
  // The environment's warehouse has no raw table yet: dbt fails, and so does the step.
  const first = await deploy([...testEnv, 'dbt'], env);
  t.is(first.code, 1, first.stderr);
  t.regex(first.stdout, /FAILURE/);

  // The config is the chart's ConfigMap, as the pods get it.
  const rendered = await runOk(HELM, ['template', 'sf-user-pipeline', path.join(REPO, 'helm', 'sf-user-pipeline'), '-n', 'sf-user-pipeline', '-f', TEST_VALUES,
    '--set-string', 'image.repository=localhost/sfpipe-deploy-test', '--set-string', 'image.tag=dbt'], { env: { ...process.env, ...helmEnv } });
  const configMap = parseAllDocuments(rendered).map((d) => d.toJS() as { kind?: string; data?: Record<string, string> }).find((d) => d?.kind === 'ConfigMap');
  const config = path.join(state, 'pipeline.yaml');
  t.is(readFileSync(config, 'utf8'), configMap?.data?.['pipeline.yaml'] ?? '(no ConfigMap rendered)');

  // Raw loaded (as the pipeline's runs do in the environment), the step builds the models.
  const sfpipe = (args: string[]) => run(process.execPath, [SFPIPE, ...args], { env: { ...process.env, SFPIPE_CONFIG: config, SFPIPE_HOME: state, SFPIPE_LOG_LEVEL: 'warn' }, cwd: scratch, timeoutMs: 120_000 });
  const raw = await sfpipe(['materialize', '--select', 'sf_raw/sf_user']);
  t.is(raw.code, 0, raw.stderr);
  const second = await deploy([...testEnv, 'dbt'], env);
  t.is(second.code, 0, second.stderr);
  const runs = JSON.parse((await sfpipe(['runs', '--json'])).stdout) as { runs: { selection: string; assets: string[]; status: string }[] };
  t.deepEqual(
    runs.runs.map((r) => [r.selection, r.status, r.assets]),
    [
      ['kind:dbt', 'SUCCESS', ['sf_staging/stg_sf_user', 'sf_curated/dim_sf_user_scd']],
      ['sf_raw/sf_user', 'SUCCESS', ['sf_raw/sf_user']],
      ['kind:dbt', 'FAILURE', ['sf_staging/stg_sf_user', 'sf_curated/dim_sf_user_scd']],
    ],
  );
});

// ---- helm and smoke -------------------------------------------------------------------------

const cluster = clusterFixture({ helm: true });
const k8sTest = clusterTest({ helm: true });
test.before(async () => cluster.start());
test.after.always(async () => cluster.stop());

/** The Job's end, as the Job controller writes it (the API server checks these fields together). */
async function endJob(api: Parameters<typeof kubectl>[0], ns: string, job: string, outcome: 'Complete' | 'Failed'): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const cond = (type: string) => ({ type, status: 'True', lastProbeTime: now, lastTransitionTime: now, reason: outcome === 'Complete' ? 'CompletionsReached' : 'BackoffLimitExceeded', message: outcome });
  const status =
    outcome === 'Complete'
      ? { startTime: now, completionTime: now, succeeded: 1, conditions: [cond('SuccessCriteriaMet'), cond('Complete')] }
      : { startTime: now, failed: 1, conditions: [cond('FailureTarget'), cond('Failed')] };
  await kubectl(api, ['-n', ns, 'patch', 'job', job, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
}

/** Runs the smoke step with --wait; resolves with the new Job's name once it exists, and the step's end. */
function smokeWaiting(env: NodeJS.ProcessEnv, api: Parameters<typeof kubectl>[0], ns: string, before: Set<string>) {
  const child = spawn('bash', [DEPLOY, ...testEnv, 'smoke'], { env, cwd: REPO });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ended = new Promise<RunResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  let done = false;
  void ended.then(() => (done = true));
  const created = (async () => {
    // Until the step has created its Job (it is the only client creating Jobs here).
    for (;;) {
      if (done) throw new Error(`the smoke step ended before creating a Job: ${stderr}`);
      const jobs = await kubectlJson<{ items: V1Job[] }>(api, ['-n', ns, 'get', 'jobs']);
      const fresh = jobs.items.map((j) => j.metadata!.name!).filter((n) => !before.has(n));
      if (fresh.length > 0) return fresh;
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return { created, ended, kill: () => child.kill('SIGKILL') };
}

k8sTest('helm: upgrade --install with the values and image; smoke: launch from the materialize CronJob, --wait exits with the Job', async (t) => {
  t.timeout(5 * 60_000);
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'deploy-test';
  const env = (tag: string, extra: Record<string, string> = {}) =>
    deployEnv({ DEPLOY_IMAGE_REPOSITORY: 'registry.example.invalid/sfpipe', DEPLOY_IMAGE_TAG: tag, DEPLOY_RELEASE: 'sfp', DEPLOY_NAMESPACE: ns, KUBECONFIG: api.kubeconfigPath, ...extra });
  const step = (args: string[], tag: string, extra: Record<string, string> = {}) => run('bash', [DEPLOY, ...testEnv, ...args], { env: env(tag, extra), cwd: REPO, timeoutMs: 120_000 });
  const cron = 'sfp-sf-user-pipeline-materialize';
  const image = async () => (await kubectlJson<V1CronJob>(api, ['-n', ns, 'get', 'cronjob', cron])).spec!.jobTemplate.spec!.template.spec!.containers[0]!.image;
  const jobNames = async () => new Set((await kubectlJson<{ items: V1Job[] }>(api, ['-n', ns, 'get', 'jobs'])).items.map((j) => j.metadata!.name!));

  // Install (the namespace is created), then upgrade to another image.
  const installed = await step(['helm'], 'aaa111');
  t.is(installed.code, 0, installed.stderr);
  t.is(await image(), 'registry.example.invalid/sfpipe:aaa111');
  const upgraded = await step(['helm'], 'bbb222');
  t.is(upgraded.code, 0, upgraded.stderr);
  t.is(await image(), 'registry.example.invalid/sfpipe:bbb222');
  const releases = await kubectlJson<{ items: { metadata: { labels: Record<string, string> } }[] }>(api, ['-n', ns, 'get', 'secret', '-l', 'owner=helm,name=sfp']);
  t.deepEqual(releases.items.map((s) => s.metadata.labels['version']).sort(), ['1', '2'], 'two revisions of the release');

  // smoke without waiting: the Job is made from the CronJob as `sfpipe launch` makes it.
  const noWait = await step(['smoke'], 'bbb222', { DEPLOY_SMOKE_WAIT: '0' });
  t.is(noWait.code, 0, noWait.stderr);
  const m = /^job\.batch\/(\S+) created in deploy-test$/m.exec(noWait.stdout);
  t.truthy(m, noWait.stdout);
  const job = await kubectlJson<V1Job>(api, ['-n', ns, 'get', 'job', m![1]!]);
  const cronJob = await kubectlJson<V1CronJob>(api, ['-n', ns, 'get', 'cronjob', cron]);
  t.deepEqual(job.metadata!.ownerReferences?.map((o) => [o.kind, o.name]), [['CronJob', cron]]);
  t.deepEqual(job.spec!.template.spec!.containers[0]!.args, manualRunArgs(cronJob.spec!.jobTemplate.spec!.template.spec!.containers[0]!.args!));
  t.is(job.spec!.template.spec!.containers[0]!.image, 'registry.example.invalid/sfpipe:bbb222');

  // smoke with --wait: it follows the Job until the Job ends, and exits with its outcome.
  for (const [outcome, code, said] of [['Complete', 0, 'and succeeded'], ['Failed', 1, 'and failed']] as const) {
    const waiting = smokeWaiting(env('bbb222'), api, ns, await jobNames());
    try {
      const fresh = await waiting.created;
      t.is(fresh.length, 1, `one Job: ${fresh.join(', ')}`);
      await endJob(api, ns, fresh[0]!, outcome);
      const r = await waiting.ended;
      t.is(r.code, code, `${outcome}: ${r.stderr}`);
      t.regex(r.stdout, new RegExp(`^job\\.batch/${fresh[0]} created in deploy-test ${said}$`, 'm'));
    } finally {
      waiting.kill();
    }
  }

  // A Job that does not end within DEPLOY_SMOKE_TIMEOUT (none ends here unless told) fails the step.
  // The limit counts from the Job's creation, so a slow start of the step takes none of it.
  const late = smokeWaiting(env('bbb222', { DEPLOY_SMOKE_TIMEOUT: '2' }), api, ns, await jobNames());
  // The step may be over before this test's poll sees the Job: its name comes from the message.
  late.created.catch(() => undefined);
  try {
    const r = await late.ended;
    t.is(r.code, 124, r.stderr);
    const said = /job (\S+) did not end within 2s of its creation \(it keeps running; delete it with kubectl delete job \1 -n deploy-test\)/.exec(r.stderr);
    t.truthy(said, r.stderr);
    t.regex(r.stderr, /deploy: smoke: the Job from sfp-sf-user-pipeline-materialize did not end within 2s of its creation \(DEPLOY_SMOKE_TIMEOUT\)/);
    const job = await kubectlJson<V1Job>(api, ['-n', ns, 'get', 'job', said![1]!]);
    t.falsy(job.metadata!.deletionTimestamp, 'the Job keeps running');
  } finally {
    late.kill();
  }
});
