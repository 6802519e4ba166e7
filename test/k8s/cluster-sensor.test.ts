/**
 * The chart's sensor CronJob in the test cluster: a tick in a pod creates a Job equal to the one
 * `sfpipe launch` creates from the materialize CronJob (but for its name and its args' trigger
 * and run id), the run it asks for is recorded with the trigger sensor:<name>, and a quiet tick
 * creates no Job. The sensor's ServiceAccount may do what the chart grants, nothing more.
 *
 * The test cluster has no kubelet, so a pod never runs: the test runs `sfpipe` as the pod would,
 * from the installed objects: the CronJob container's args and env, its volumes as directories
 * (the ConfigMap's files, empty dirs for the emptyDirs, their paths in the env mapped to them),
 * and the chart's ServiceAccount's own token (TokenRequest) in place of the mounted one, so the
 * API calls are authorized by the chart's real RBAC. Each pod gets fresh emptyDirs, so each starts
 * the chart's simulator (salesforce.mode simulator) anew: the same org every time (its seed and
 * clock are fixed). The pods' event log is the chart's S3 one (eventLog.s3Location, on moto),
 * shared by the sensor's pods and the runs' as in production: a change is pending while raw's
 * committed watermark is older than the org's newest SystemModstamp, and gone once a run loaded it.
 *
 * Needs .tools/bin/{etcd,kube-apiserver,kubectl,helm}, dist/ and moto (test/services/moto).
 */
import test, { type ExecutionContext } from 'ava';
import type { V1ConfigMap, V1Container, V1CronJob, V1Job, V1PodSpec } from '@kubernetes/client-node';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S3EventLog } from '../../assets/stores/s3-event-log.js';
import { SF_USER_SENSOR, SF_USER_SENSOR_TARGET } from '../../assets/sensors/sf-user-changes.js';
import { manualRunArgs } from '../../k8s/job-from-cronjob.js';
import { sensorJobName } from '../../k8s/sensor-launch.js';
import { sensorRunId } from '../../runtime/sensors.js';
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto, type MotoServer } from '../services/moto/start.js';
import type { ApiServer } from '../services/k8s/apiserver.js';
import { KUBECTL, SFPIPE, canI, clusterFixture, type CanIExpectation, rbacMismatches, clusterTest, comparableJob, installChart, kubectl, kubectlJson, run, sfpipe, tokenKubeconfig, type RunResult } from './fixtures/cluster.js';

const cluster = clusterFixture({ helm: true });
const k8sTest = clusterTest({ helm: true });
const BUCKET = 'sfpipe-sensor-events';
let moto: MotoServer | undefined;

test.before(async () => {
  await cluster.start();
  if (!cluster.peek()) return; // the tests fail (or are skipped) saying why
  moto = await startMoto();
  const s3 = new S3Client({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  s3.destroy();
});
test.after.always(async () => {
  await Promise.all([cluster.stop(), moto?.stop()]);
});

/** A directory standing in for a pod's filesystem: its mounts, and the env that names them. */
interface Pod {
  args: string[];
  env: NodeJS.ProcessEnv;
  root: string;
}

/**
 * The first container of `spec` as its pod would run it: its args; its env with the paths under a
 * mount moved under `root`; each volume a directory there (a ConfigMap's keys as files, emptyDirs
 * empty); the API server's address in KUBERNETES_SERVICE_HOST/PORT as the kubelet sets them; and
 * the ServiceAccount's token in KUBECONFIG, which loadKubeContext reads when the mounted token
 * directory is absent. Nothing else from the test's environment but PATH.
 */
function asPod(api: ApiServer, spec: V1PodSpec, configMaps: Record<string, V1ConfigMap>, saKubeconfig: string): Pod {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sfpipe-pod-'));
  const container: V1Container = spec.containers[0]!;
  const mounts = (container.volumeMounts ?? []).map((m) => m.mountPath).sort((a, b) => b.length - a.length);
  for (const m of container.volumeMounts ?? []) {
    const dir = path.join(root, m.mountPath);
    mkdirSync(dir, { recursive: true });
    const volume = (spec.volumes ?? []).find((v) => v.name === m.name);
    if (volume?.configMap) {
      const cm = configMaps[volume.configMap.name!];
      if (!cm) throw new Error(`the pod mounts ConfigMap ${volume.configMap.name}, which the test did not read`);
      for (const [key, value] of Object.entries(cm.data ?? {})) writeFileSync(path.join(dir, key), value);
    } else if (!volume?.emptyDir) {
      throw new Error(`volume ${m.name}: only ConfigMaps and emptyDirs are stood in for (${JSON.stringify(volume)})`);
    }
  }
  const local = (v: string) => {
    const m = mounts.find((p) => v === p || v.startsWith(`${p}/`));
    return m ? path.join(root, v) : v;
  };
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] };
  for (const e of container.env ?? []) {
    if (e.valueFrom) throw new Error(`env ${e.name} comes from ${JSON.stringify(e.valueFrom)}: not stood in for`);
    env[e.name] = local(e.value ?? '');
  }
  const server = new URL(api.server);
  Object.assign(env, { KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port, KUBECONFIG: saKubeconfig });
  return { args: container.args ?? [], env, root };
}

/** Runs `sfpipe` as the pod's container (its args, or others) in the pod's environment. */
function runPod(pod: Pod, args: string[] = pod.args): Promise<RunResult> {
  return run(process.execPath, [SFPIPE, ...args], { env: pod.env, cwd: pod.root, timeoutMs: 180_000 });
}

const jobsIn = async (api: ApiServer, ns: string) => (await kubectlJson<{ items: V1Job[] }>(api, ['-n', ns, 'get', 'jobs'])).items;
const argsOf = (job: V1Job) => job.spec!.template.spec!.containers[0]!.args!;

function check(t: ExecutionContext, r: RunResult, what: string): void {
  t.is(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}\n${r.stdout}`);
}

k8sTest('a sensor tick in a pod creates one Job equal to sfpipe launch\'s, recorded with the trigger sensor:<name>; a quiet tick creates none', async (t) => {
  const api = cluster.get(t);
  if (!api || !moto) return;
  const ns = 'sensor-pod';
  const location = `s3://${BUCKET}/${ns}/event-log/`;
  const values = path.join(api.dir, `${ns}-values.yaml`);
  writeFileSync(
    values,
    JSON.stringify({
      salesforce: { mode: 'simulator', simulator: { users: 50 } },
      sensor: { enabled: true },
      eventLog: { s3Location: location },
      athena: { region: MOTO_REGION },
      extraEnv: [
        { name: 'SFPIPE_AWS_ENDPOINT', value: moto.endpoint },
        { name: 'AWS_ACCESS_KEY_ID', value: MOTO_CREDENTIALS.accessKeyId },
        { name: 'AWS_SECRET_ACCESS_KEY', value: MOTO_CREDENTIALS.secretAccessKey },
      ],
    }),
  );
  const fullname = await installChart(api, 'sfp', ns, ['-f', values]);
  const materializeCron = `${fullname}-materialize`;
  const [sensorCron, materialize, configMap] = await Promise.all([
    kubectlJson<V1CronJob>(api, ['-n', ns, 'get', 'cronjob', `${fullname}-sensor`]),
    kubectlJson<V1CronJob>(api, ['-n', ns, 'get', 'cronjob', materializeCron]),
    kubectlJson<V1ConfigMap>(api, ['-n', ns, 'get', 'configmap', `${fullname}-config`]),
  ]);
  const sensorPodSpec = sensorCron.spec!.jobTemplate.spec!.template.spec!;
  t.is(sensorPodSpec.serviceAccountName, fullname);
  const token = (await kubectl(api, ['-n', ns, 'create', 'token', fullname, '--duration=10m'])).trim();
  const saKubeconfig = await tokenKubeconfig(api, path.join(api.dir, `${ns}-sa.kubeconfig`), fullname, token, ns);
  const configMaps = { [configMap.metadata!.name!]: configMap };
  /** A tick as a new pod of the sensor CronJob runs it (fresh emptyDirs), with `extra` args. */
  const sensorTick = (extra: string[] = []) => {
    const pod = asPod(api, sensorPodSpec, configMaps, saKubeconfig);
    return runPod(pod, [...pod.args, ...extra]);
  };
  t.deepEqual(asPod(api, sensorPodSpec, configMaps, saKubeconfig).args, ['sensor', 'tick', SF_USER_SENSOR]);

  const eventLog = new S3EventLog({ location, region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS });
  t.teardown(() => eventLog.close());
  // An earlier run loaded raw up to a watermark the org has moved past: a change is pending.
  const loadedUpTo = '2025-01-01T00:00:00.000Z';
  await eventLog.recordMaterialization({ runId: 'earlier-run', assetKey: 'sf_raw/sf_user', timestamp: loadedUpTo, metadata: { watermark_after: loadedUpTo } });

  // --- The tick, exactly as the CronJob's pod runs it. ---
  const tick = await sensorTick();
  check(t, tick, 'the sensor pod');
  const jobs = await jobsIn(api, ns);
  t.is(jobs.length, 1, `exactly one Job: ${jobs.map((j) => j.metadata!.name).join(', ')}\n${tick.stderr}`);
  const recorded = await eventLog.lastSensorTick(SF_USER_SENSOR);
  t.like(recorded, { status: 'REQUESTED', runRequests: [{ selection: SF_USER_SENSOR_TARGET, new: true, launch: 'LAUNCHED' }] });
  t.deepEqual(recorded!.metadata['api_calls'], { auth: 1, sensor: 1 }, 'a login and one API call');
  const request = recorded!.runRequests[0]!;
  const runId = sensorRunId(SF_USER_SENSOR, request.runKey);
  t.is(request.runId, runId);
  const job = jobs[0]!;
  t.is(job.metadata!.name, sensorJobName(materializeCron, runId));
  t.is(request.detail, `job.batch/${job.metadata!.name} created in ${ns} from cronjob/${materializeCron}`);
  t.regex(tick.stdout, new RegExp(`run ${runId} \\(run key .*\\): LAUNCHED`));

  // --- The Job `sfpipe launch` creates from the same CronJob with the same selection. ---
  const launched = await sfpipe(['launch', '--cronjob', materializeCron, '--select', SF_USER_SENSOR_TARGET, '--json', '--kubeconfig', saKubeconfig]);
  check(t, launched, 'sfpipe launch');
  const viaLaunch = await kubectlJson<V1Job>(api, ['-n', ns, 'get', 'job', (JSON.parse(launched.stdout) as { job: string }).job]);
  t.not(viaLaunch.metadata!.name, job.metadata!.name);
  const scheduled = materialize.spec!.jobTemplate.spec!.template.spec!.containers[0]!.args!;
  t.deepEqual(argsOf(viaLaunch), manualRunArgs(scheduled, { select: SF_USER_SENSOR_TARGET }));
  // The sensor's args: launch's, but with the trigger sensor:<name> and the run key's run id.
  const expected = manualRunArgs(scheduled, { select: SF_USER_SENSOR_TARGET, trigger: `sensor:${SF_USER_SENSOR}`, runId });
  t.deepEqual(argsOf(job), expected);
  t.deepEqual(
    expected.filter((a, i) => a !== '--run-id' && expected[i - 1] !== '--run-id').map((a) => (a === `sensor:${SF_USER_SENSOR}` ? 'manual' : a)),
    argsOf(viaLaunch),
    'the only differences: the trigger and --run-id',
  );
  // Everything else is the same: spec (env, image, volumes, …), labels, annotations, ownerReference to the materialize CronJob.
  const a = comparableJob(job);
  const b = comparableJob(viaLaunch);
  a.spec.template.spec!.containers[0]!.args = b.spec.template.spec!.containers[0]!.args!;
  t.deepEqual(a, b);
  t.deepEqual(job.metadata!.ownerReferences, [{ apiVersion: 'batch/v1', kind: 'CronJob', name: materializeCron, uid: materialize.metadata!.uid!, controller: true }]);
  await kubectl(api, ['-n', ns, 'delete', 'job', viaLaunch.metadata!.name!]);

  // --- A tick before the Job ran, forced past the minimum interval: the same run key is not launched twice. ---
  // (The interval itself is judged by a clock the runtime's sensor tests control: here real time
  // passes, and a busy machine may take longer than the interval between two pods.)
  const forced = await sensorTick(['--force']);
  check(t, forced, 'a forced tick before the run');
  t.like(await eventLog.lastSensorTick(SF_USER_SENSOR), { status: 'REQUESTED', runRequests: [{ runId, new: false, launch: 'ALREADY_LAUNCHED' }] });
  t.deepEqual((await jobsIn(api, ns)).map((j) => j.metadata!.name), [job.metadata!.name], 'still the one Job');

  // --- The Job's pod: its container as the pod would run it (no kubelet here). ---
  const jobPod = asPod(api, job.spec!.template.spec!, configMaps, saKubeconfig);
  t.deepEqual(jobPod.args, expected);
  const ran = await runPod(jobPod);
  check(t, ran, "the Job's pod");
  t.like(await eventLog.getRun(runId), { runId, trigger: `sensor:${SF_USER_SENSOR}`, selection: SF_USER_SENSOR_TARGET, status: 'SUCCESS' });
  const raw = await eventLog.lastMaterialization('sf_raw/sf_user');
  t.is(raw?.runId, runId);
  t.true(String(raw?.metadata['watermark_after']) > loadedUpTo, JSON.stringify(raw?.metadata));
  const runs = await runPod(jobPod, ['runs', '--json']);
  check(t, runs, 'sfpipe runs');
  const listed = (JSON.parse(runs.stdout) as { runs: { runId: string; trigger: string; status: string }[] }).runs.find((r) => r.runId === runId);
  t.like(listed, { trigger: `sensor:${SF_USER_SENSOR}`, status: 'SUCCESS' }, 'sfpipe runs shows the trigger');

  // --- A quiet tick (forced past the minimum interval): one API call, no Job. ---
  const quiet = await sensorTick(['--force']);
  check(t, quiet, 'the quiet tick');
  const last = await eventLog.lastSensorTick(SF_USER_SENSOR);
  t.like(last, { status: 'SKIPPED', runRequests: [] });
  t.regex(last!.skipReason!, /^no change: the newest SystemModstamp .* is not after raw's committed watermark/);
  t.deepEqual(last!.metadata['api_calls'], { auth: 1, sensor: 1 }, 'a login and one API call');
  t.deepEqual((await jobsIn(api, ns)).map((j) => j.metadata!.name), [job.metadata!.name], 'no new Job');

  // --- The run key requested again once its Job is gone (deleted after its ttlSecondsAfterFinished),
  // as after a run that did not move raw's watermark (here: set back by a later record): the event log
  // has the run, so no Job is made again. ---
  await kubectl(api, ['-n', ns, 'delete', 'job', job.metadata!.name!]);
  await eventLog.recordMaterialization({ runId: 'set-back', assetKey: 'sf_raw/sf_user', timestamp: '2100-01-01T00:00:00.000Z', metadata: { watermark_after: loadedUpTo } });
  const again = await sensorTick(['--force']);
  check(t, again, 'a tick requesting the run key again');
  const requestedAgain = await eventLog.lastSensorTick(SF_USER_SENSOR);
  t.like(requestedAgain, { status: 'REQUESTED', runRequests: [{ runId, new: false, launch: 'ALREADY_LAUNCHED' }] });
  t.regex(requestedAgain!.runRequests[0]!.detail, new RegExp(`^run ${runId} started .* and is SUCCESS$`));
  t.deepEqual(await jobsIn(api, ns), [], 'no Job made again');
});

k8sTest("the sensor's ServiceAccount may create Jobs from the materialize CronJob and hold its Leases, nothing more", async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'sensor-rbac';
  const fullname = await installChart(api, 'sfp', ns, ['--set', 'sensor.enabled=true']);
  const sa = `system:serviceaccount:${ns}:${fullname}`;
  const expectations: CanIExpectation[] = [
    // what a tick needs: its evaluation Lease, the run lock's holder, the materialize CronJob, create the Job
    ['get', `leases.coordination.k8s.io/${fullname}-sensor-sf-user-changes`, [], true],
    ['update', `leases.coordination.k8s.io/${fullname}-sensor-sf-user-changes`, [], true],
    ['delete', `leases.coordination.k8s.io/${fullname}-sensor-sf-user-changes`, [], true],
    ['get', `leases.coordination.k8s.io/${fullname}-run-lock`, [], true],
    ['create', 'leases.coordination.k8s.io', [], true],
    ['get', `cronjobs.batch/${fullname}-materialize`, [], true],
    ['create', 'jobs.batch', [], true],
    // nothing more
    ['get', `leases.coordination.k8s.io/${fullname}-sensor-other`, [], false],
    ['list', 'leases.coordination.k8s.io', [], false],
    ['get', `cronjobs.batch/${fullname}-check`, [], false],
    ['get', `cronjobs.batch/${fullname}-full-refresh`, [], false],
    ['list', 'cronjobs.batch', [], false],
    ['update', `cronjobs.batch/${fullname}-materialize`, [], false],
    ['patch', `cronjobs.batch/${fullname}-materialize`, [], false],
    ['create', 'cronjobs.batch', [], false],
    ['get', 'jobs.batch', [], false],
    ['list', 'jobs.batch', [], false],
    ['delete', 'jobs.batch', [], false],
    ['patch', 'jobs.batch', [], false],
    ['update', 'jobs.batch', ['--subresource=status'], false],
    ['get', 'secrets', [], false],
    ['list', 'secrets', [], false],
    ['get', 'configmaps', [], false],
    ['create', 'pods', [], false],
    ['list', 'pods', [], false],
    ['get', 'pods', ['--subresource=log'], false],
    ['create', 'pods', ['--subresource=exec'], false],
    ['create', 'serviceaccounts', ['--subresource=token'], false],
    ['create', 'roles.rbac.authorization.k8s.io', [], false],
    ['create', 'rolebindings.rbac.authorization.k8s.io', [], false],
  ];
  t.deepEqual(await rbacMismatches(api, sa, ns, expectations), []);
  // Another namespace: nothing.
  await kubectl(api, ['create', 'namespace', `${ns}-other`]);
  t.false(await canI(api, sa, `${ns}-other`, 'create', 'jobs.batch'));
  t.false(await canI(api, sa, `${ns}-other`, 'get', `cronjobs.batch/${fullname}-materialize`));

  // The same with the ServiceAccount's own token: deleting a Job or reading a Secret is refused by the API server.
  const token = (await kubectl(api, ['-n', ns, 'create', 'token', fullname, '--duration=10m'])).trim();
  const saKubeconfig = await tokenKubeconfig(api, path.join(api.dir, `${ns}-sa.kubeconfig`), fullname, token, ns);
  await kubectl(api, ['-n', ns, 'create', 'job', 'some-job', `--from=cronjob/${fullname}-materialize`]);
  await kubectl(api, ['-n', ns, 'create', 'secret', 'generic', 'some-secret', '--from-literal=k=v']);
  for (const args of [['delete', 'job', 'some-job'], ['get', 'secret', 'some-secret']]) {
    const r = await run(KUBECTL, ['--kubeconfig', saKubeconfig, '-n', ns, ...args]);
    t.not(r.code, 0, args.join(' '));
    t.regex(r.stderr, /forbidden/i, args.join(' '));
  }
});
