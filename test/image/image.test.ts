/**
 * The image tier: the image `make image` built from the Dockerfile runs what the chart's
 * materialize CronJob runs. The container is taken from `helm template` (simulator mode):
 * its args, env, uid/gid and volumes (the ConfigMap's pipeline.yaml read-only at its
 * mountPath, each emptyDir a fresh host directory owned by the uid), with the root
 * filesystem read-only (test/services/image/container.ts says how).
 *
 * Needs buildah and the built image (make image); without them the tests are skipped unless
 * SFPIPE_REQUIRE_K8S is set (CI), where they fail.
 */
import test, { type ExecutionContext } from 'ava';
import type { V1Container, V1CronJob, V1PodSpec } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { k8sToolsBin, repoRoot } from '../services/k8s/apiserver.js';
import { ImageContainer, builtImage, hasBuildah, type Mount, type RunSpec } from '../services/image/container.js';

const execFileP = promisify(execFile);
const REPO = repoRoot();
const HELM = path.join(k8sToolsBin(), 'helm');
const REQUIRED = !!process.env['SFPIPE_REQUIRE_K8S'];
const RELEASE = 'img';

const image = hasBuildah() ? await builtImage() : { error: 'buildah is not installed (test/services/image/install.sh)' };
const missing = [image.error, existsSync(HELM) ? undefined : `${HELM} is missing (make tools)`].filter(Boolean).join('; ');
if (missing && !REQUIRED) process.stderr.write(`image tests skipped: ${missing}\n`);
const imageTest = missing && !REQUIRED ? test.serial.skip : test.serial;

interface Rendered {
  cronJob: V1CronJob;
  configMapData: Record<string, string>;
}

async function renderChart(): Promise<Rendered> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'sfpipe-image-helm-'));
  try {
    const { stdout } = await execFileP(HELM, ['template', RELEASE, path.join(REPO, 'helm', 'sf-user-pipeline'), '--set', 'salesforce.mode=simulator'], {
      env: { ...process.env, HELM_CACHE_HOME: home, HELM_CONFIG_HOME: home, HELM_DATA_HOME: home, KUBECONFIG: path.join(home, 'none') },
      maxBuffer: 16 * 1024 * 1024,
    });
    const docs = parseAllDocuments(stdout).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> }).filter(Boolean);
    const cronJob = docs.find((d) => d.kind === 'CronJob' && d.metadata?.name?.endsWith('-materialize')) as V1CronJob | undefined;
    const configMap = docs.find((d) => d.kind === 'ConfigMap');
    if (!cronJob || !configMap?.data) throw new Error('helm template rendered no materialize CronJob or no ConfigMap');
    return { cronJob, configMapData: configMap.data };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

interface PodRun {
  container: V1Container;
  pod: V1PodSpec;
  spec(args?: string[]): RunSpec;
  /** Host directory of a volume, by its name in the pod spec. */
  volumeDir(name: string): string;
  mounts: Mount[];
}

/** The pod's volumes as host directories and the container's settings as a RunSpec. */
function podRun(r: Rendered, root: string): PodRun {
  const pod = r.cronJob.spec!.jobTemplate.spec!.template.spec!;
  const container = pod.containers[0]!;
  const uid = container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
  const gid = container.securityContext?.runAsGroup ?? pod.securityContext?.runAsGroup;
  if (uid === undefined || gid === undefined) throw new Error('the chart sets no runAsUser/runAsGroup');
  const dirs = new Map<string, string>();
  for (const v of pod.volumes ?? []) {
    const dir = path.join(root, v.name);
    mkdirSync(dir, { recursive: true });
    if (v.emptyDir) {
      chownSync(dir, uid, pod.securityContext?.fsGroup ?? gid);
    } else if (v.configMap) {
      for (const [k, data] of Object.entries(r.configMapData)) writeFileSync(path.join(dir, k), data, { mode: 0o644 });
    } else {
      throw new Error(`volume ${v.name}: only emptyDir and configMap volumes are expected in simulator mode`);
    }
    dirs.set(v.name, dir);
  }
  const mounts = (container.volumeMounts ?? []).map((m) => ({ hostPath: dirs.get(m.name)!, containerPath: m.mountPath, readOnly: !!m.readOnly }));
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value === undefined) throw new Error(`env ${e.name} is not a plain value`);
    env[e.name] = e.value;
  }
  return {
    container,
    pod,
    mounts,
    volumeDir: (name) => dirs.get(name)!,
    spec: (args = container.args ?? []) => ({ args, env, uid, gid, mounts }),
  };
}

let rendered: Rendered | undefined;
let ctr: ImageContainer | undefined;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'sfpipe-image-'));

test.before(async () => {
  if (missing) return;
  rendered = await renderChart();
  ctr = await ImageContainer.create(image.ref!);
});
test.after.always(async () => {
  await ctr?.remove();
  rmSync(scratch, { recursive: true, force: true });
});

function ready(t: ExecutionContext): ImageContainer | undefined {
  if (missing) {
    t.fail(`${missing} (SFPIPE_REQUIRE_K8S is set: build it with make image)`);
    return undefined;
  }
  return ctr;
}

function runsIn(out: string): Array<{ status: string; trigger?: string }> {
  return (JSON.parse(out) as { runs: Array<{ status: string; trigger?: string }> }).runs;
}

imageTest('the chart\'s materialize container runs twice, then check, in the image: as uid 10001, read-only root, data in the state emptyDir', async (t) => {
  t.timeout(15 * 60_000);
  const c = ready(t);
  if (!c) return;
  const p = podRun(rendered!, path.join(scratch, 'runs'));
  const state = p.container.volumeMounts!.find((m) => m.mountPath === p.spec().env['SFPIPE_HOME'])!;
  t.truthy(state, 'SFPIPE_HOME is a mounted volume');
  t.is(p.spec().uid, 10001);
  t.true(p.container.securityContext?.readOnlyRootFilesystem, 'the chart asks for a read-only root, as this run has');
  t.deepEqual(p.spec().args.slice(0, 3), ['materialize', '--trigger', 'schedule']);

  for (const n of [1, 2]) {
    const r = await c.run(p.spec());
    t.is(r.code, 0, `materialize #${n} exit code; stderr:\n${r.stderr.slice(-4000)}`);
  }
  const stateDir = p.volumeDir(state.name);
  for (const f of ['events.sqlite', 'warehouse.duckdb']) {
    const file = path.join(stateDir, f);
    t.true(existsSync(file), `${f} is in the state emptyDir`);
    if (existsSync(file)) t.is(statSync(file).uid, 10001, `${f} is owned by the pod's uid`);
  }
  t.true(existsSync(path.join(stateDir, 'dbt')), "dbt's target/ and logs/ go under the state dir");

  const check = await c.run(p.spec(['check']));
  t.is(check.code, 0, `check exit code; stderr:\n${check.stderr.slice(-4000)}`);

  const runs = await c.run(p.spec(['runs', '--json']));
  t.is(runs.code, 0, runs.stderr);
  t.deepEqual(runsIn(runs.stdout).map((r) => r.status), ['SUCCESS', 'SUCCESS']);

  t.deepEqual(c.writtenOutsideMounts(p.mounts), [], 'nothing was written outside the mounts');
});

imageTest('SIGTERM to the pod\'s PID 1 (tini) during a run: the run ends CANCELED and the container exits 143', async (t) => {
  t.timeout(10 * 60_000);
  const c = ready(t);
  if (!c) return;
  const p = podRun(rendered!, path.join(scratch, 'sigterm'));
  const run = c.start(p.spec());
  const tini = await run.entrypointPid();
  t.is(path.basename(readFileSync(`/proc/${tini}/cmdline`, 'utf8').split('\0')[0]!), 'tini');
  // Wait until the first asset is materialized, i.e. the run is under way (dbt comes next).
  const deadline = Date.now() + 5 * 60_000;
  let stderr = '';
  run.child.stderr!.on('data', (s: string) => (stderr += s));
  while (!/"assetKey":"sf_raw\/sf_user"/.test(stderr) && run.child.exitCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  t.is(run.child.exitCode, null, 'the run was still going when SIGTERM was sent');
  process.kill(tini, 'SIGTERM');
  const r = await run.done;
  t.is(r.code, 143, `exit code; stderr:\n${r.stderr.slice(-4000)}`);

  const runs = await c.run(p.spec(['runs', '--json']));
  t.is(runs.code, 0, runs.stderr);
  t.deepEqual(runsIn(runs.stdout).map((x) => x.status), ['CANCELED']);
  t.deepEqual(c.writtenOutsideMounts(p.mounts), []);
});
