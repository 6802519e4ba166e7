/**
 * The chart's CronJob with the controllers that act on it: a real kube-apiserver + etcd and a
 * kube-controller-manager running the CronJob and Job controllers (no scheduler, no kubelet:
 * Pods are created and stay Pending). One cluster and one installed chart serve every test;
 * the materialize CronJob runs on a `* * * * *` test schedule.
 *
 * Every wait watches the API until a condition holds (generous deadlines); the only clock
 * waits are for minute boundaries a CronJob needs. Two tests run at once: the schedule timeline
 * (three minute boundaries) and the manual Jobs, which need none.
 *
 * Needs .tools/bin/{etcd,kube-apiserver,kube-controller-manager,kubectl,helm}; without them
 * the tests are skipped unless SFPIPE_REQUIRE_K8S is set (CI), where they fail.
 */
import test, { type ExecutionContext } from 'ava';
import type { CoreV1Event, V1CronJob, V1Job, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { manualRunArgs } from '../../k8s/job-from-cronjob.js';
import type { ApiServer } from '../services/k8s/apiserver.js';
import { clusterFixture, clusterTest, installChart, kubectl, kubectlJson, sfpipe, type ClusterOptions } from './fixtures/cluster.js';

const OPTS: ClusterOptions = { helm: true, controllers: ['cronjob-controller', 'job-controller'] };
const cluster = clusterFixture(OPTS);
const k8sTest = clusterTest(OPTS);
test.before(async () => cluster.start());
test.after.always(async () => cluster.stop());

const NS = 'controllers';
const STARTING_DEADLINE_S = 10; // the values schema's minimum
const SUCCESSFUL_LIMIT = 1; // both differ from the API's defaults (3 and 1), so a chart that
const FAILED_LIMIT = 2; //     dropped the fields would show
const VALUES = [
  '--set', 'cronjobs.materialize.schedule=* * * * *',
  // Installed suspended: the first minute boundary passes unscheduled (startingDeadlineSeconds).
  '--set', 'cronjobs.materialize.suspend=true',
  '--set', `cronjobs.materialize.startingDeadlineSeconds=${STARTING_DEADLINE_S}`,
  '--set', `cronjobs.materialize.successfulJobsHistoryLimit=${SUCCESSFUL_LIMIT}`,
  '--set', `cronjobs.materialize.failedJobsHistoryLimit=${FAILED_LIMIT}`,
  // One failed Pod fails the Job (no retry Pod to fail as well).
  '--set', 'cronjobs.materialize.backoffLimit=0',
  '--set', 'cronjobs.fullRefresh.enabled=false',
  '--set', 'cronjobs.check.enabled=false',
  '--set', 'launch.enabled=true',
];

const MINUTE = 60_000;
const SCHEDULED = 'batch.kubernetes.io/cronjob-scheduled-timestamp';

interface Setup {
  api: ApiServer;
  cron: string;
  created: number;
}
let setupOnce: Promise<Setup> | undefined;
/** Installs the chart once for all tests (the first test to ask does it). */
function setup(api: ApiServer): Promise<Setup> {
  return (setupOnce ??= (async () => {
    const fullname = await installChart(api, 'ctl', NS, VALUES);
    const cron = `${fullname}-materialize`;
    const cj = await kubectlJson<V1CronJob>(api, ['-n', NS, 'get', 'cronjob', cron]);
    return { api, cron, created: new Date(cj.metadata!.creationTimestamp!).getTime() };
  })());
}

async function ready(t: ExecutionContext): Promise<Setup | undefined> {
  const api = cluster.get(t);
  return api ? setup(api) : undefined;
}

/** Polls fn until it returns a value that is not undefined; fails with `what` after the deadline. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, api?: ApiServer): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${api?.controllerManagerLog ? ` (controller manager log: ${api.controllerManagerLog})` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const nextMinute = (ms: number) => Math.floor(ms / MINUTE) * MINUTE + MINUTE;
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

async function jobs(api: ApiServer): Promise<V1Job[]> {
  return (await kubectlJson<{ items: V1Job[] }>(api, ['-n', NS, 'get', 'jobs'])).items;
}
/** Jobs the CronJob controller created (not `sfpipe launch` / `kubectl create job --from`). */
async function scheduledJobs(api: ApiServer): Promise<V1Job[]> {
  return (await jobs(api)).filter((j) => j.metadata!.annotations?.['cronjob.kubernetes.io/instantiate'] !== 'manual');
}
async function podOf(api: ApiServer, job: string): Promise<V1Pod | undefined> {
  const pods = await kubectlJson<{ items: V1Pod[] }>(api, ['-n', NS, 'get', 'pods', '-l', `batch.kubernetes.io/job-name=${job}`]);
  return pods.items[0];
}
async function events(api: ApiServer, object: string, reason: string): Promise<CoreV1Event[]> {
  return (await kubectlJson<{ items: CoreV1Event[] }>(api, ['-n', NS, 'get', 'events', '--field-selector', `involvedObject.name=${object},reason=${reason}`])).items;
}
function finished(job: V1Job | undefined): 'Complete' | 'Failed' | undefined {
  const c = job?.status?.conditions?.find((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
  return c?.type as 'Complete' | 'Failed' | undefined;
}

async function sleepUntil(ms: number): Promise<void> {
  const d = ms - Date.now();
  if (d > 0) await new Promise((r) => setTimeout(r, d));
}

k8sTest('on a * * * * * schedule: a start missed past startingDeadlineSeconds is dropped, the next one creates a Job whose Pod the Job controller creates, and Forbid keeps a second Job from starting while it runs', async (t) => {
  t.timeout(8 * MINUTE);
  const s = await ready(t);
  if (!s) return;
  const { api, cron } = s;

  // 1. startingDeadlineSeconds: the first boundary after creation passes while suspended; the
  //    CronJob is resumed more than startingDeadlineSeconds later. Without the deadline the
  //    controller would start that missed run at once.
  const missed = nextMinute(s.created);
  await sleepUntil(missed + (STARTING_DEADLINE_S + 3) * 1000);
  t.deepEqual(await scheduledJobs(api), [], 'no Job while suspended');
  await kubectl(api, ['-n', NS, 'patch', 'cronjob', cron, '--type=merge', '-p', '{"spec":{"suspend":false}}']);
  const due = nextMinute(Date.now());

  // 2. On schedule: the first Job the controller creates is the one due at the next boundary.
  const first = await until('a Job created by the CronJob', async () => (await scheduledJobs(api))[0], due - Date.now() + 2 * MINUTE, api);
  const firstName = first.metadata!.name!;
  t.is(first.metadata!.annotations?.[SCHEDULED], iso(due), `the Job is the run due at ${iso(due)}, not the missed ${iso(missed)}`);
  t.deepEqual(first.metadata!.ownerReferences?.map((o) => [o.kind, o.name, o.controller]), [['CronJob', cron, true]]);
  const createdAt = new Date(first.metadata!.creationTimestamp!).getTime();
  t.true(createdAt >= due && createdAt < due + STARTING_DEADLINE_S * 1000, `created ${first.metadata!.creationTimestamp}, within the starting deadline of ${iso(due)}`);
  const cj = await kubectlJson<V1CronJob>(api, ['-n', NS, 'get', 'cronjob', cron]);
  t.is(cj.status?.lastScheduleTime ? iso(new Date(cj.status.lastScheduleTime).getTime()) : undefined, iso(due));

  //    …and the Job controller creates its Pod from the template (Pending: no node here).
  const pod = await until(`the Pod of Job ${firstName}`, () => podOf(api, firstName), 2 * MINUTE, api);
  t.deepEqual(pod.metadata!.ownerReferences?.map((o) => [o.kind, o.name, o.controller]), [['Job', firstName, true]]);
  t.deepEqual(pod.spec!.containers.map((c) => [c.image, c.args]), first.spec!.template.spec!.containers.map((c) => [c.image, c.args]));
  t.is(pod.spec!.securityContext?.runAsUser, 10001);

  // 3. Forbid: at the next boundary the first Job is still active (its Pod never runs): the
  //    controller records JobAlreadyActive and starts nothing. Waits for that event or a second Job.
  const next = new Date(first.metadata!.annotations?.[SCHEDULED] ?? iso(due)).getTime() + MINUTE;
  const outcome = await until(
    `JobAlreadyActive or a second Job after ${iso(next)}`,
    async () => {
      const ev = (await events(api, cron, 'JobAlreadyActive')).filter((e) => new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime() >= next - 1000);
      const js = await scheduledJobs(api);
      return ev.length > 0 || js.length > 1 ? { ev, js } : undefined;
    },
    next - Date.now() + 2 * MINUTE,
    api,
  );
  t.deepEqual(outcome.js.map((j) => j.metadata!.name), [firstName], 'no second Job while the first is active');
  t.true(outcome.ev.length > 0, 'the controller said why it started nothing (JobAlreadyActive)');
  const cjAfter = await kubectlJson<V1CronJob>(api, ['-n', NS, 'get', 'cronjob', cron]);
  t.deepEqual(cjAfter.status?.active?.map((a) => a.name), [firstName]);
});

/** The pod spec with what differs by design: the container args (`--trigger manual`) normalised. */
function podSpecOf(pod: V1Pod, args: string[]): V1PodSpec {
  const spec = structuredClone(pod.spec!);
  spec.containers[0]!.args = args;
  return spec;
}

async function createManualJob(api: ApiServer, cron: string, name: string): Promise<V1Pod> {
  await kubectl(api, ['-n', NS, 'create', 'job', name, `--from=cronjob/${cron}`]);
  return until(`the Pod of Job ${name}`, () => podOf(api, name), 2 * MINUTE, api);
}

async function endPod(api: ApiServer, pod: V1Pod, phase: 'Succeeded' | 'Failed'): Promise<void> {
  // No kubelet: the test plays its part and reports the Pod's end.
  await kubectl(api, ['-n', NS, 'patch', 'pod', pod.metadata!.name!, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase } })]);
}

/** Waits until every named Job has ended as `want` or was deleted and at most `limit` remain; returns those. */
async function prunedTo(api: ApiServer, names: string[], want: 'Complete' | 'Failed', limit: number): Promise<string[]> {
  return until(
    `Jobs ${names.join(', ')} ${want} and pruned to ${limit}`,
    async () => {
      const byName = new Map((await jobs(api)).map((j) => [j.metadata!.name!, j]));
      const left = names.filter((n) => byName.has(n));
      return left.every((n) => finished(byName.get(n)) === want) && left.length <= limit ? left : undefined;
    },
    2 * MINUTE,
    api,
  );
}

k8sTest('Jobs from sfpipe launch and kubectl create job --from get their Pods from the Job controller with identical pod specs; finished Jobs are pruned to the history limits', async (t) => {
  t.timeout(8 * MINUTE);
  const s = await ready(t);
  if (!s) return;
  const { api, cron } = s;

  const launched = await sfpipe(['launch', '--cronjob', cron, '--job-name', 'via-sfpipe', '-n', NS, '--kubeconfig', api.kubeconfigPath]);
  t.is(launched.code, 0, launched.stderr);
  const viaSfpipe = await until('the Pod of Job via-sfpipe', () => podOf(api, 'via-sfpipe'), 2 * MINUTE, api);
  const viaKubectl = await createManualJob(api, cron, 'via-kubectl');
  for (const [pod, job] of [[viaSfpipe, 'via-sfpipe'], [viaKubectl, 'via-kubectl']] as const) {
    t.deepEqual(pod.metadata!.ownerReferences?.map((o) => [o.kind, o.name, o.controller]), [['Job', job, true]], `${job}'s Pod is the Job controller's`);
  }
  const scheduledArgs = viaKubectl.spec!.containers[0]!.args!;
  t.deepEqual(viaSfpipe.spec!.containers[0]!.args, manualRunArgs(scheduledArgs), 'sfpipe launch records the run as manual');
  t.deepEqual(podSpecOf(viaSfpipe, scheduledArgs), podSpecOf(viaKubectl, scheduledArgs), 'identical pod specs but for --trigger');

  // failedJobsHistoryLimit: three failed Jobs, the oldest is deleted.
  const third = await createManualJob(api, cron, 'via-kubectl-2');
  for (const p of [viaSfpipe, viaKubectl, third]) await endPod(api, p, 'Failed');
  const failedLeft = await prunedTo(api, ['via-sfpipe', 'via-kubectl', 'via-kubectl-2'], 'Failed', FAILED_LIMIT);
  t.is(failedLeft.length, FAILED_LIMIT, `failed Jobs kept: ${failedLeft.join(', ')}`);

  // successfulJobsHistoryLimit: two succeeded Jobs, the older is deleted.
  const ok = [await createManualJob(api, cron, 'ok-1'), await createManualJob(api, cron, 'ok-2')];
  for (const p of ok) await endPod(api, p, 'Succeeded');
  const okLeft = await prunedTo(api, ['ok-1', 'ok-2'], 'Complete', SUCCESSFUL_LIMIT);
  t.is(okLeft.length, SUCCESSFUL_LIMIT, `successful Jobs kept: ${okLeft.join(', ')}`);
  t.true((await events(api, cron, 'SuccessfulDelete')).length >= 2, 'the CronJob controller deleted them');
});
