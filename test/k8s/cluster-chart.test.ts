/**
 * The Helm chart installed into a real kube-apiserver + etcd (no controllers), and what
 * runs against it: `sfpipe launch` creates the same Job as `kubectl create job --from=cronjob`,
 * and the chart's ServiceAccount is allowed what the CLI and the Lease run lock need — and
 * nothing more.
 *
 * Needs .tools/bin/{etcd,kube-apiserver,kubectl,helm} and dist/bin/sfpipe.js; without the
 * tools the tests pass with a log line unless SFPIPE_REQUIRE_K8S is set.
 */
import test from 'ava';
import type { V1CronJob, V1Job } from '@kubernetes/client-node';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadKubeContext } from '../../k8s/kube-config.js';
import { LeaseRunLock } from '../../k8s/lease-lock.js';
import { LockHeldError } from '../../runtime/storage/run-lock.js';
import type { ApiServer } from '../services/k8s/apiserver.js';
import { manualRunArgs } from '../../k8s/job-from-cronjob.js';
import { CHART, SIMULATOR_VALUES, canI, clusterFixture, type CanIExpectation, rbacMismatches, clusterTest, comparableJob as comparable, helm, installChart, kubectl, kubectlJson, sfpipe, tokenKubeconfig } from './fixtures/cluster.js';

const cluster = clusterFixture({ helm: true });
const k8sTest = clusterTest({ helm: true });
test.before(async () => cluster.start());
test.after.always(async () => cluster.stop());

const RELEASE = 'sfp';

interface Named {
  metadata: { name: string };
}

k8sTest('helm install: three CronJobs, ServiceAccount, Role and RoleBinding', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'chart-install';
  const fullname = await installChart(api, RELEASE, ns, ['--set', 'launch.enabled=true']);
  t.is(fullname, 'sfp-sf-user-pipeline');

  const cronJobs = await kubectlJson<{ items: V1CronJob[] }>(api, ['-n', ns, 'get', 'cronjobs']);
  t.deepEqual(cronJobs.items.map((c) => c.metadata!.name).sort(), [`${fullname}-check`, `${fullname}-full-refresh`, `${fullname}-materialize`]);
  for (const c of cronJobs.items) {
    const pod = c.spec!.jobTemplate.spec!.template.spec!;
    t.is(pod.serviceAccountName, fullname, `${c.metadata!.name} runs as the chart's ServiceAccount`);
    const env = Object.fromEntries((pod.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
    t.is(env['SFPIPE_LEASE_NAME'], `${fullname}-run-lock`);
    t.is(env['SFPIPE_MATERIALIZE_CRONJOB'], `${fullname}-materialize`);
    t.is(c.metadata!.labels?.['sf-user-pipeline.io/pipeline'], fullname);
  }
  const names = async (kind: string) => (await kubectlJson<{ items: Named[] }>(api, ['-n', ns, 'get', kind])).items.map((i) => i.metadata.name);
  t.true((await names('serviceaccounts')).includes(fullname));
  t.deepEqual(await names('roles.rbac.authorization.k8s.io'), [fullname]);
  t.deepEqual(await names('rolebindings.rbac.authorization.k8s.io'), [fullname]);
  t.deepEqual(await names('configmaps').then((n) => n.filter((x) => x.startsWith(fullname))), [`${fullname}-config`]);

  const binding = await kubectlJson<{ roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] }>(api, [
    '-n', ns, 'get', 'rolebinding', fullname,
  ]);
  t.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: fullname } as typeof binding.roleRef);
  t.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: fullname, namespace: ns }]);

  const status = JSON.parse(await kubectl(api, ['-n', ns, 'get', 'secret', '-l', 'owner=helm', '-o', 'json'])) as { items: Named[] };
  t.is(status.items.length, 1, 'helm stored one release revision');
});

k8sTest('sfpipe launch creates the same Job as kubectl create job --from=cronjob; --select/--full-refresh only change the args', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'chart-launch';
  const fullname = await installChart(api, RELEASE, ns, ['--set', 'launch.enabled=true']);
  const cron = `${fullname}-materialize`;
  const cronJob = await kubectlJson<V1CronJob>(api, ['-n', ns, 'get', 'cronjob', cron]);

  const viaCli = await sfpipe(['launch', '--cronjob', cron, '--job-name', 'via-sfpipe', '-n', ns, '--kubeconfig', api.kubeconfigPath]);
  t.is(viaCli.code, 0, viaCli.stderr);
  t.regex(viaCli.stdout, new RegExp(`job\\.batch/via-sfpipe created in ${ns}`));
  await kubectl(api, ['-n', ns, 'create', 'job', 'via-kubectl', `--from=cronjob/${cron}`]);

  const a = await kubectlJson<V1Job>(api, ['-n', ns, 'get', 'job', 'via-sfpipe']);
  const b = await kubectlJson<V1Job>(api, ['-n', ns, 'get', 'job', 'via-kubectl']);
  // Equal but for the trigger our Job records: manual, where kubectl's copy says schedule.
  const scheduledArgs = b.spec!.template.spec!.containers[0]!.args!;
  t.deepEqual(a.spec!.template.spec!.containers[0]!.args, manualRunArgs(scheduledArgs));
  const ca = comparable(a);
  ca.spec.template.spec!.containers[0]!.args = scheduledArgs;
  t.deepEqual(ca, comparable(b));
  // And what that is, explicitly:
  t.deepEqual(a.metadata!.ownerReferences, [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cron, uid: cronJob.metadata!.uid!, controller: true }]);
  t.is(a.metadata!.annotations?.['cronjob.kubernetes.io/instantiate'], 'manual');
  t.is(a.metadata!.labels?.['app.kubernetes.io/component'], 'materialize');
  t.true(scheduledArgs.includes('--trigger') && scheduledArgs[scheduledArgs.indexOf('--trigger') + 1] === 'schedule');

  // With a selection and --full-refresh.
  const sel = await sfpipe(['launch', '--cronjob', cron, '--job-name', 'via-sfpipe-select', '--select', 'sf_raw/sf_user', '--full-refresh', '-n', ns, '--kubeconfig', api.kubeconfigPath]);
  t.is(sel.code, 0, sel.stderr);
  const c = await kubectlJson<V1Job>(api, ['-n', ns, 'get', 'job', 'via-sfpipe-select']);
  t.deepEqual(c.spec!.template.spec!.containers[0]!.args, manualRunArgs(scheduledArgs, { select: 'sf_raw/sf_user', fullRefresh: true }));
  const cc = comparable(c);
  cc.spec.template.spec!.containers[0]!.args = b.spec!.template.spec!.containers[0]!.args!;
  t.deepEqual(cc, comparable(b), 'otherwise equal to the kubectl Job');

  // The CronJob itself is untouched.
  const cronAfter = await kubectlJson<V1CronJob>(api, ['-n', ns, 'get', 'cronjob', cron]);
  t.is(cronAfter.metadata!.resourceVersion, cronJob.metadata!.resourceVersion);

  // Without --job-name: <cronjob>-manual-<id>, a valid name.
  const auto = await sfpipe(['launch', '--cronjob', cron, '-n', ns, '--kubeconfig', api.kubeconfigPath]);
  t.is(auto.code, 0, auto.stderr);
  const m = /job\.batch\/(\S+) created/.exec(auto.stdout);
  t.truthy(m, auto.stdout);
  t.regex(m![1]!, new RegExp(`^${cron}-manual-[0-9a-z]+$`));

  // --json: what scripts read (the Job's name to follow), nothing else on stdout.
  const asJson = await sfpipe(['launch', '--cronjob', cron, '--select', 'tag:layer=raw', '-n', ns, '--kubeconfig', api.kubeconfigPath, '--json']);
  t.is(asJson.code, 0, asJson.stderr);
  const launched = JSON.parse(asJson.stdout) as { job: string; namespace: string; cronjob: string; args: string[]; succeeded: boolean | null };
  t.like(launched, { namespace: ns, cronjob: cron, succeeded: null });
  t.deepEqual(launched.args, manualRunArgs(scheduledArgs, { select: 'tag:layer=raw' }));

  // --full-refresh without --cronjob copies the full-refresh CronJob (the chart names it in the pod's env).
  const fullCron = `${fullname}-full-refresh`;
  const rebuild = await sfpipe(['launch', '--full-refresh', '-n', ns, '--kubeconfig', api.kubeconfigPath, '--json'], { SFPIPE_FULL_REFRESH_CRONJOB: fullCron });
  t.is(rebuild.code, 0, rebuild.stderr);
  const rebuilt = JSON.parse(rebuild.stdout) as { job: string; cronjob: string; args: string[] };
  t.is(rebuilt.cronjob, fullCron);
  const fullTemplate = (await kubectlJson<V1CronJob>(api, ['-n', ns, 'get', 'cronjob', fullCron])).spec!.jobTemplate.spec!;
  const rebuiltJob = await kubectlJson<V1Job>(api, ['-n', ns, 'get', 'job', rebuilt.job]);
  t.is(rebuiltJob.spec!.activeDeadlineSeconds, fullTemplate.activeDeadlineSeconds, 'the rebuild gets the full-refresh deadline');
  t.is(rebuilt.args.at(-1), '--full-refresh');
  t.is((await kubectlJson<V1Job>(api, ['-n', ns, 'get', 'job', launched.job])).metadata!.name, launched.job);

  // A missing CronJob fails with a non-zero exit code and creates nothing.
  const jobsBefore = (await kubectlJson<{ items: V1Job[] }>(api, ['-n', ns, 'get', 'jobs'])).items.length;
  const missing = await sfpipe(['launch', '--cronjob', 'no-such-cronjob', '-n', ns, '--kubeconfig', api.kubeconfigPath]);
  t.not(missing.code, 0);
  t.regex(missing.stderr + missing.stdout, /no-such-cronjob|not found|404/i);
  t.is((await kubectlJson<{ items: V1Job[] }>(api, ['-n', ns, 'get', 'jobs'])).items.length, jobsBefore);
});

k8sTest("RBAC: the chart's ServiceAccount may do what launch and the run lock need, nothing more", async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'chart-rbac';
  const nsOff = 'chart-rbac-off';
  const fullname = await installChart(api, RELEASE, ns, ['--set', 'launch.enabled=true']);
  const fullnameOff = await installChart(api, RELEASE, nsOff, ['--set', 'launch.enabled=false']);
  const sa = `system:serviceaccount:${ns}:${fullname}`;
  const saOff = `system:serviceaccount:${nsOff}:${fullnameOff}`;
  const lease = `${fullname}-run-lock`;

  const expectations: CanIExpectation[] = [
    // the run lock: pinned to its name, except create
    ['get', `leases.coordination.k8s.io/${lease}`, [], true],
    ['update', `leases.coordination.k8s.io/${lease}`, [], true],
    ['delete', `leases.coordination.k8s.io/${lease}`, [], true],
    ['create', 'leases.coordination.k8s.io', [], true],
    ['get', 'leases.coordination.k8s.io/some-other-lease', [], false],
    ['update', 'leases.coordination.k8s.io/some-other-lease', [], false],
    ['delete', 'leases.coordination.k8s.io/some-other-lease', [], false],
    ['list', 'leases.coordination.k8s.io', [], false],
    ['patch', `leases.coordination.k8s.io/${lease}`, [], false],
    // launch
    ['create', 'jobs.batch', [], true],
    ['get', 'jobs.batch', [], true],
    ['list', 'jobs.batch', [], false],
    ['watch', 'jobs.batch', [], false],
    ['get', `cronjobs.batch/${fullname}-materialize`, [], true],
    ['list', 'pods', [], true],
    ['get', 'pods', ['--subresource=log'], true],
    // nothing more
    ['get', 'secrets', [], false],
    ['list', 'secrets', [], false],
    ['update', 'configmaps', [], false],
    ['delete', 'jobs.batch', [], false],
    ['patch', 'jobs.batch', [], false],
    ['create', 'cronjobs.batch', [], false],
    ['update', 'cronjobs.batch', [], false],
    ['list', 'cronjobs.batch', [], false],
    ['create', 'pods', ['--subresource=exec'], false],
    ['create', 'pods', [], false],
    ['delete', 'pods', [], false],
  ];
  t.deepEqual(await rbacMismatches(api, sa, ns, expectations), []);

  // Another namespace: nothing (not even the lease of the same name).
  for (const [verb, res] of [['get', `leases.coordination.k8s.io/${lease}`], ['create', 'leases.coordination.k8s.io'], ['create', 'jobs.batch'], ['get', 'cronjobs.batch']] as const) {
    t.false(await canI(api, sa, nsOff, verb, res), `${verb} ${res} in ${nsOff}`);
  }

  // launch.enabled=false: only the lease.
  t.false(await canI(api, saOff, nsOff, 'create', 'jobs.batch'));
  t.false(await canI(api, saOff, nsOff, 'get', 'cronjobs.batch'));
  t.false(await canI(api, saOff, nsOff, 'list', 'pods'));
  t.false(await canI(api, saOff, nsOff, 'get', 'pods', ['--subresource=log']));
  t.true(await canI(api, saOff, nsOff, 'get', `leases.coordination.k8s.io/${fullnameOff}-run-lock`));
  t.true(await canI(api, saOff, nsOff, 'create', 'leases.coordination.k8s.io'));

  // --- The real thing with the ServiceAccount's own token (TokenRequest). ---
  const token = (await kubectl(api, ['-n', ns, 'create', 'token', fullname, '--duration=10m'])).trim();
  t.regex(token, /^ey[\w-]+\.[\w-]+\.[\w-]+$/);
  const saKubeconfig = await tokenKubeconfig(api, path.join(api.dir, 'sa-on.kubeconfig'), fullname, token, ns);
  const who = JSON.parse(await kubectl(api, ['auth', 'whoami', '-o', 'json'], saKubeconfig)) as { status: { userInfo: { username: string } } };
  t.is(who.status.userInfo.username, sa);

  // The run lock on the chart's lease name: acquire, contend, release.
  const ctx = await loadKubeContext({ kubeconfig: saKubeconfig });
  t.is(ctx.namespace, ns);
  const lockA = await LeaseRunLock.create(ctx, { name: lease });
  const lockB = await LeaseRunLock.create(ctx, { name: lease });
  const held = await lockA.acquire('run-sa-1', { timeoutMs: 0 });
  await t.throwsAsync(lockB.acquire('run-sa-2', { timeoutMs: 0 }), { instanceOf: LockHeldError, message: /^run run-sa-1 holds the lock/ });
  t.is((await lockB.holder())?.runId, 'run-sa-1');
  await held.release();
  t.is(await lockB.holder(), null, 'released (deleted) with the SA token');
  const held2 = await lockB.acquire('run-sa-2', { timeoutMs: 0 });
  t.is((await kubectlJson<{ spec: { holderIdentity: string } }>(api, ['-n', ns, 'get', 'lease', lease])).spec.holderIdentity, 'run-sa-2');
  await held2.release();

  // Take-over of an expired lease is an update on the pinned name: allowed too.
  const stale = await LeaseRunLock.create(ctx, { name: lease, leaseDurationSeconds: 1 });
  const staleHeld = await stale.acquire('run-stale', { timeoutMs: 0 });
  const taker = await LeaseRunLock.create(ctx, { name: lease, now: () => new Date(Date.now() + 30_000) });
  const took = await taker.acquire('run-taker', { timeoutMs: 0 });
  t.is(took.holder.runId, 'run-taker');
  await staleHeld.release();
  await took.release();

  // Another lease name: the SA may create it (RBAC cannot pin create), but not read it back.
  const other = await LeaseRunLock.create(ctx, { name: 'not-the-chart-lease' });
  const otherHeld = await other.acquire('run-x', { timeoutMs: 0 });
  const err = await t.throwsAsync(other.acquire('run-y', { timeoutMs: 0 }));
  t.regex(String((err as { code?: number }).code ?? err?.message), /403|forbidden/i, 'reading another lease is forbidden');
  await otherHeld.release(); // cannot read it → logs, does not throw
  await kubectl(api, ['-n', ns, 'delete', 'lease', 'not-the-chart-lease']);

  // `sfpipe launch` with the SA token: allowed with launch.enabled…
  const launched = await sfpipe(['launch', '--cronjob', `${fullname}-materialize`, '--job-name', 'sa-launch', '--kubeconfig', saKubeconfig]);
  t.is(launched.code, 0, launched.stderr);
  t.regex(launched.stdout, new RegExp(`job\\.batch/sa-launch created in ${ns}`));
  const job = await kubectlJson<V1Job>(api, ['-n', ns, 'get', 'job', 'sa-launch']);
  t.is(job.metadata!.ownerReferences?.[0]?.name, `${fullname}-materialize`);

  // …forbidden without it.
  const tokenOff = (await kubectl(api, ['-n', nsOff, 'create', 'token', fullnameOff, '--duration=10m'])).trim();
  const offKubeconfig = await tokenKubeconfig(api, path.join(api.dir, 'sa-off.kubeconfig'), fullnameOff, tokenOff, nsOff);
  const refused = await sfpipe(['launch', '--cronjob', `${fullnameOff}-materialize`, '--job-name', 'sa-launch', '--kubeconfig', offKubeconfig]);
  t.not(refused.code, 0);
  t.regex(refused.stderr + refused.stdout, /forbidden|\b403\b/i);
  t.deepEqual((await kubectlJson<{ items: V1Job[] }>(api, ['-n', nsOff, 'get', 'jobs'])).items, []);
  // The run lock still works there.
  const offLock = await LeaseRunLock.create(await loadKubeContext({ kubeconfig: offKubeconfig }), { name: `${fullnameOff}-run-lock` });
  await (await offLock.acquire('run-off', { timeoutMs: 0 })).release();
});

k8sTest('helm upgrade --set launch.enabled=false takes the launch permissions away', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'chart-upgrade';
  const fullname = await installChart(api, RELEASE, ns, ['--set', 'launch.enabled=true']);
  const sa = `system:serviceaccount:${ns}:${fullname}`;
  t.true(await canI(api, sa, ns, 'create', 'jobs.batch'));
  t.true(await canI(api, sa, ns, 'get', 'cronjobs.batch'));
  await helm(api, ['upgrade', RELEASE, CHART, '-n', ns, ...SIMULATOR_VALUES, '--set', 'launch.enabled=false']);
  t.false(await canI(api, sa, ns, 'create', 'jobs.batch'));
  t.false(await canI(api, sa, ns, 'get', 'cronjobs.batch'));
  t.true(await canI(api, sa, ns, 'update', `leases.coordination.k8s.io/${fullname}-run-lock`));
});

/** Admin-side stand-in for the job controller: a finished pod for the Job, then the Job's terminal status. */
async function finishJob(api: ApiServer, ns: string, job: string, succeeded: boolean): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${job}-pod`, namespace: ns, labels: { 'job-name': job, 'batch.kubernetes.io/job-name': job } },
    spec: { restartPolicy: 'Never', containers: [{ name: 'sfpipe', image: 'registry.example.invalid/sfpipe:test' }] },
  };
  const file = path.join(api.dir, `${ns}-${job}-pod.json`);
  await writeFile(file, JSON.stringify(pod));
  await kubectl(api, ['create', '-f', file]);
  await kubectl(api, ['-n', ns, 'patch', 'pod', `${job}-pod`, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: succeeded ? 'Succeeded' : 'Failed' } })]);
  const cond = (type: string, reason: string) => ({ type, status: 'True', lastProbeTime: now, lastTransitionTime: now, reason, message: 'set by the test' });
  const status = succeeded
    ? { startTime: now, completionTime: now, succeeded: 1, conditions: [cond('SuccessCriteriaMet', 'CompletionsReached'), cond('Complete', 'CompletionsReached')] }
    : { startTime: now, failed: 1, conditions: [cond('FailureTarget', 'BackoffLimitExceeded'), cond('Failed', 'BackoffLimitExceeded')] };
  await kubectl(api, ['-n', ns, 'patch', 'job', job, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
}

async function waitForJob(api: ApiServer, ns: string, job: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await kubectlJson<{ items: V1Job[] }>(api, ['-n', ns, 'get', 'jobs']);
    if (jobs.items.some((j) => j.metadata?.name === job)) return;
    if (Date.now() > deadline) throw new Error(`job ${ns}/${job} did not appear`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

k8sTest('sfpipe launch --wait with the ServiceAccount token follows the Job to its end (exit 0 / 1)', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'chart-wait';
  const fullname = await installChart(api, RELEASE, ns, ['--set', 'launch.enabled=true']);
  const token = (await kubectl(api, ['-n', ns, 'create', 'token', fullname, '--duration=10m'])).trim();
  const kubeconfig = await tokenKubeconfig(api, path.join(api.dir, 'sa-wait.kubeconfig'), fullname, token, ns);
  const launch = (job: string) => sfpipe(['launch', '--cronjob', `${fullname}-materialize`, '--job-name', job, '--wait', '--kubeconfig', kubeconfig]);

  const ok = launch('wait-ok');
  const bad = launch('wait-bad');
  await Promise.all([waitForJob(api, ns, 'wait-ok'), waitForJob(api, ns, 'wait-bad')]);
  await Promise.all([finishJob(api, ns, 'wait-ok', true), finishJob(api, ns, 'wait-bad', false)]);
  const [r1, r2] = await Promise.all([ok, bad]);
  t.is(r1.code, 0, r1.stderr);
  t.regex(r1.stdout, new RegExp(`job\\.batch/wait-ok created in ${ns} and succeeded`));
  t.is(r2.code, 1, r2.stderr);
  t.regex(r2.stdout, new RegExp(`job\\.batch/wait-bad created in ${ns} and failed`));
  // pods list and pods/log get are granted: the log of a pod without a node cannot be
  // streamed, but not for lack of permissions.
  // (The lines carry random audit ids and dates: 403 must stand alone, not inside "…4035…".)
  t.notRegex(r1.stderr + r2.stderr, /forbidden|\b403\b/i);
  t.log(r1.stderr.split('\n')[0]);
});

for (const stage of ['dev', 'staging', 'prod'] as const) {
  k8sTest(`helm install -f values-${stage}.yaml: the API server accepts every object; the pods run as the ${stage} environment`, async (t) => {
    const api = cluster.get(t);
    if (!api) return;
    const ns = `env-${stage}`;
    const release = `sfp-${stage}`;
    await helm(api, ['install', release, CHART, '-n', ns, '--create-namespace', '-f', path.join(CHART, `values-${stage}.yaml`)]);
    const fullname = `${release}-sf-user-pipeline`;
    const cronJobs = await kubectlJson<{ items: V1CronJob[] }>(api, ['-n', ns, 'get', 'cronjobs']);
    const components = cronJobs.items.map((c) => c.metadata!.labels!['app.kubernetes.io/component']).sort();
    t.deepEqual(components, { dev: ['check', 'materialize'], staging: ['check', 'full-refresh', 'materialize'], prod: ['check', 'docs', 'full-refresh', 'materialize', 'sensor'] }[stage]);
    for (const c of cronJobs.items) {
      const env = Object.fromEntries((c.spec!.jobTemplate.spec!.template.spec!.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
      t.is(env['SFPIPE_ENV'], stage, c.metadata!.name);
      t.is(env['SFPIPE_DEVELOPER'], stage === 'dev' ? release : undefined, `${c.metadata!.name}: dev's schema suffix is the release's name`);
    }
    const cm = await kubectlJson<{ data: Record<string, string> }>(api, ['-n', ns, 'get', 'configmap', `${fullname}-config`]);
    t.regex(cm.data['pipeline.yaml']!, stage === 'prod' ? /^(?![\s\S]*protected_locations)/ : /protected_locations: \["s3:\/\/acme-sfpipe-prod-lake\/"/);
    const notes = await helm(api, ['get', 'notes', release, '-n', ns]);
    t.regex(notes, new RegExp(`environment ${stage}\\.`));
  });
}
