/**
 * `sfpipe launch` before and around the Job it creates: a selection materialize would refuse
 * is refused here (exit 2, no Job); a CronJob that is not found names the namespace, the
 * chart's naming and — when listing is allowed — the chart's CronJobs; no Kubernetes config
 * at all, or a --kubeconfig that does not exist, says so.
 *
 * The cluster tests need .tools/bin/{etcd,kube-apiserver,kubectl,helm} and dist/bin/sfpipe.js;
 * without the tools they are skipped unless SFPIPE_REQUIRE_K8S is set.
 */
import test from 'ava';
import type { V1Job } from '@kubernetes/client-node';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadKubeContext } from '../../k8s/kube-config.js';
import { CronJobNotFoundError, launchFromCronJob } from '../../k8s/launch.js';
import { silentLogger } from '../../runtime/logging.js';
import { SFPIPE, clusterFixture, clusterTest, createNamespace, installChart, kubectl, kubectlJson, run, sfpipe, tokenKubeconfig } from './fixtures/cluster.js';

const cluster = clusterFixture({ helm: true });
const k8sTest = clusterTest({ helm: true });
test.before(async () => cluster.start());
test.after.always(async () => cluster.stop());

/** A HOME with no .kube/config (KUBECONFIG and KUBERNETES_SERVICE_HOST are unset by sfpipe()). */
const emptyHome = () => mkdtempSync(path.join(os.tmpdir(), 'sfpipe-launch-home-'));

/** stderr without the lines that are not the error (a dbt warning, log lines). */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('sfpipe: warning:') && !l.startsWith('{'));

test('no in-cluster config and no kubeconfig: says so and how to fix it (exit 1), not the client\'s http://localhost error', async (t) => {
  const home = emptyHome();
  const r = await sfpipe(['launch'], { HOME: home });
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /no Kubernetes config found: no in-cluster config \(not running in a pod\), \$KUBECONFIG is not set and .*\.kube\/config does not exist; pass --kubeconfig FILE or set KUBECONFIG/);
  t.true(r.stderr.includes(path.join(home, '.kube', 'config')), r.stderr);
  t.notRegex(r.stderr, /HTTP protocol|skipTLSVerify|localhost/);

  // sfpipe() unsets KUBECONFIG; here it names files that do not exist.
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, SFPIPE_HOME: path.join(home, 'state'), KUBECONFIG: `${path.join(home, 'a')}${path.delimiter}${path.join(home, 'b')}` };
  delete env['KUBERNETES_SERVICE_HOST'];
  const missingEnv = await run(process.execPath, [SFPIPE, 'launch'], { env, cwd: home });
  t.is(missingEnv.code, 1, missingEnv.stderr);
  t.regex(missingEnv.stderr, /\$KUBECONFIG names no file that exists \(.*\/a:.*\/b\); pass --kubeconfig FILE or set KUBECONFIG/);
});

test('a --kubeconfig that does not exist is a usage error that says so (exit 2)', async (t) => {
  const home = emptyHome();
  const file = path.join(home, 'no-such.kubeconfig');
  const r = await sfpipe(['launch', '--kubeconfig', file], { HOME: home });
  t.is(r.code, 2, r.stderr);
  t.deepEqual(errorLines(r.stderr), [`sfpipe: the kubeconfig ${file} (--kubeconfig) does not exist`]);
});

test('--wait-timeout takes whole seconds and needs --wait: otherwise a usage error (exit 2) before any cluster is asked', async (t) => {
  const home = emptyHome();
  const bad = await sfpipe(['launch', '--wait', '--wait-timeout', '10m'], { HOME: home });
  t.is(bad.code, 2, bad.stderr);
  t.deepEqual(errorLines(bad.stderr), ['sfpipe: --wait-timeout "10m" is not a positive whole number of seconds up to 2147483 (e.g. --wait-timeout 3600)']);
  // Node's timers stop at 2^31 - 1 ms: a longer wait would end at once.
  const long = await sfpipe(['launch', '--wait', '--wait-timeout', '2147484'], { HOME: home });
  t.is(long.code, 2, long.stderr);
  t.regex(long.stderr, /--wait-timeout "2147484" is not a positive whole number of seconds up to 2147483/);
  const alone = await sfpipe(['launch', '--wait-timeout', '60'], { HOME: home });
  t.is(alone.code, 2, alone.stderr);
  t.deepEqual(errorLines(alone.stderr), ['sfpipe: --wait-timeout limits --wait: add --wait, or drop --wait-timeout']);
});

test('launch --help documents the default CronJob names, the env variables and helm\'s naming', async (t) => {
  const r = await sfpipe(['launch', '--help'], { HOME: emptyHome() });
  t.is(r.code, 0, r.stderr);
  const help = r.stdout.replace(/\s+/g, ' ');
  for (const s of ['$SFPIPE_MATERIALIZE_CRONJOB or sf-user-pipeline-materialize', '$SFPIPE_FULL_REFRESH_CRONJOB or sf-user-pipeline-full-refresh', 'RELEASE-sf-user-pipeline-materialize', "the chart's pods set both"]) {
    t.true(help.includes(s), `help mentions ${s}`);
  }
});

k8sTest('a selection materialize would refuse is refused before any API call: exit 2, materialize\'s message, no Job', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'launch-select';
  const fullname = await installChart(api, 'sfp', ns, ['--set', 'launch.enabled=true']);
  const cron = `${fullname}-materialize`;
  // a syntax error, no match, only the external source, blank
  for (const sel of ['key:((', 'group:nope', 'salesforce/User', '']) {
    const launched = await sfpipe(['launch', '--cronjob', cron, '--select', sel, '-n', ns, '--kubeconfig', api.kubeconfigPath]);
    const materialized = await sfpipe(['materialize', '--select', sel]);
    t.is(materialized.code, 2, `materialize --select '${sel}': ${materialized.stderr}`);
    t.is(launched.code, 2, `launch --select '${sel}': ${launched.stderr}`);
    t.deepEqual(errorLines(launched.stderr), errorLines(materialized.stderr), `the same message as materialize for '${sel}'`);
    t.is(launched.stdout, '');
  }
  t.deepEqual((await kubectlJson<{ items: V1Job[] }>(api, ['-n', ns, 'get', 'jobs'])).items, [], 'no Job was created');
  // A selection that matches: the Job is created with it.
  const ok = await sfpipe(['launch', '--cronjob', cron, '--select', 'group:sf_raw', '--job-name', 'select-ok', '-n', ns, '--kubeconfig', api.kubeconfigPath]);
  t.is(ok.code, 0, ok.stderr);
  const job = await kubectlJson<V1Job>(api, ['-n', ns, 'get', 'job', 'select-ok']);
  t.deepEqual(job.spec!.template.spec!.containers[0]!.args!.slice(-2), ['--select', 'group:sf_raw']);

  // A laptop without dbt cannot know the dbt models: a selection of them is left to the pod (with a
  // warning) instead of being refused as "no asset matches"; a malformed one is still refused.
  const noDbt = { SFPIPE_HOME: mkdtempSync(path.join(os.tmpdir(), 'sfpipe-launch-nodbt-')), SFPIPE_DBT: '/nonexistent/dbt' };
  const dbtSel = await sfpipe(['launch', '--cronjob', cron, '--select', '+sf_curated/dim_sf_user_scd', '--job-name', 'select-nodbt', '-n', ns, '--kubeconfig', api.kubeconfigPath], noDbt);
  t.is(dbtSel.code, 0, dbtSel.stderr);
  t.regex(dbtSel.stderr, /the selection is checked for its syntax only, not against the assets: the dbt assets are unavailable here: .*the Job's pod checks it against every asset/);
  t.deepEqual((await kubectlJson<V1Job>(api, ['-n', ns, 'get', 'job', 'select-nodbt'])).spec!.template.spec!.containers[0]!.args!.slice(-2), ['--select', '+sf_curated/dim_sf_user_scd']);
  const malformed = await sfpipe(['launch', '--cronjob', cron, '--select', 'key:((', '-n', ns, '--kubeconfig', api.kubeconfigPath], noDbt);
  t.is(malformed.code, 2, malformed.stderr);

  // Without a selection launch reads no state: it makes no .sfpipe/ where it runs (a read-only directory works).
  const cwd = emptyHome();
  const bare: NodeJS.ProcessEnv = { ...process.env, HOME: cwd, SFPIPE_LOG_LEVEL: 'warn' };
  for (const name of ['SFPIPE_HOME', 'KUBECONFIG', 'KUBERNETES_SERVICE_HOST']) delete bare[name];
  const stateless = await run(process.execPath, [SFPIPE, 'launch', '--cronjob', cron, '--job-name', 'no-state', '-n', ns, '--kubeconfig', api.kubeconfigPath], { env: bare, cwd });
  t.is(stateless.code, 0, stateless.stderr);
  t.false(existsSync(path.join(cwd, '.sfpipe')), 'no state directory was made');
});

k8sTest('a CronJob that is not found: the namespace, helm\'s naming and the chart\'s CronJobs to pass with --cronjob', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'launch-missing';
  const fullname = await installChart(api, 'sfp', ns, ['--set', 'launch.enabled=true']);
  t.is(fullname, 'sfp-sf-user-pipeline');
  // Not the chart's: never suggested.
  await kubectl(api, ['-n', ns, 'create', 'cronjob', 'other-materialize', '--image=registry.example.invalid/x:1', '--schedule=0 0 * * *']);
  const admin = ['-n', ns, '--kubeconfig', api.kubeconfigPath];

  // The default name after `helm install sfp …`.
  const dflt = await sfpipe(['launch', ...admin]);
  t.is(dflt.code, 1, dflt.stderr);
  t.deepEqual(errorLines(dflt.stderr), [
    `sfpipe: CronJob "sf-user-pipeline-materialize" not found in namespace "${ns}". helm install names the chart's CronJobs after the release: ` +
      '<release>-sf-user-pipeline-materialize (<release>-materialize when the release name contains "sf-user-pipeline"); ' +
      `did you mean --cronjob ${fullname}-materialize? (SFPIPE_MATERIALIZE_CRONJOB makes it the default)`,
  ]);

  const full = await sfpipe(['launch', '--full-refresh', ...admin]);
  t.is(full.code, 1, full.stderr);
  t.regex(full.stderr, new RegExp(`CronJob "sf-user-pipeline-full-refresh" not found in namespace "${ns}"\\..*did you mean --cronjob ${fullname}-full-refresh\\? \\(SFPIPE_FULL_REFRESH_CRONJOB makes it the default\\)`));

  // A name given with --cronjob: any of the chart's CronJobs.
  const typo = await sfpipe(['launch', '--cronjob', 'sfp-materialize', ...admin]);
  t.is(typo.code, 1, typo.stderr);
  t.true(typo.stderr.includes(`did you mean --cronjob ${fullname}-check or --cronjob ${fullname}-full-refresh or --cronjob ${fullname}-materialize?`), typo.stderr);
  t.notRegex(dflt.stderr + full.stderr + typo.stderr, /other-materialize/);

  // The chart's ServiceAccount may get CronJobs but not list them: the generic hint.
  const token = (await kubectl(api, ['-n', ns, 'create', 'token', fullname, '--duration=10m'])).trim();
  const saKubeconfig = await tokenKubeconfig(api, path.join(api.dir, 'launch-missing-sa.kubeconfig'), fullname, token, ns);
  const sa = await sfpipe(['launch', '--kubeconfig', saKubeconfig]);
  t.is(sa.code, 1, sa.stderr);
  t.deepEqual(errorLines(sa.stderr), [
    `sfpipe: CronJob "sf-user-pipeline-materialize" not found in namespace "${ns}". helm install names the chart's CronJobs after the release: ` +
      '<release>-sf-user-pipeline-materialize (<release>-materialize when the release name contains "sf-user-pipeline"); ' +
      `find yours with kubectl get cronjobs -n ${ns} and pass --cronjob <name> (or set SFPIPE_MATERIALIZE_CRONJOB)`,
  ]);

  // A namespace without the chart.
  await createNamespace(api, 'launch-empty');
  const empty = await sfpipe(['launch', '-n', 'launch-empty', '--kubeconfig', api.kubeconfigPath]);
  t.is(empty.code, 1, empty.stderr);
  t.regex(empty.stderr, /CronJob "sf-user-pipeline-materialize" not found in namespace "launch-empty", nor any CronJob of the sf-user-pipeline chart \(another namespace\? pass -n <namespace>\)\. helm install names/);

  t.deepEqual((await kubectlJson<{ items: V1Job[] }>(api, ['-n', ns, 'get', 'jobs'])).items, [], 'no Job was created');

  // The public function: the error carries what was found.
  const ctx = await loadKubeContext({ kubeconfig: api.kubeconfigPath, namespace: ns });
  const err = await t.throwsAsync(launchFromCronJob(ctx, { cronJob: 'sf-user-pipeline-materialize', suggest: 'materialize', wait: false, out: process.stdout, log: silentLogger() }), {
    instanceOf: CronJobNotFoundError,
  });
  t.deepEqual(err?.candidates, [`${fullname}-materialize`]);
  t.is(err?.namespace, ns);

  // And the suggestion works.
  const fixed = await sfpipe(['launch', '--cronjob', `${fullname}-materialize`, '--job-name', 'suggested', ...admin]);
  t.is(fixed.code, 0, fixed.stderr);
});
