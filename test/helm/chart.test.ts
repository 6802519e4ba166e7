/**
 * The Helm chart (helm/sf-user-pipeline) with the real tools: `helm lint`, `helm template`
 * over several value sets, every rendered object validated by kubeconform against
 * Kubernetes JSON schemas generated offline from the OpenAPI spec, and the settings the
 * chart promises (three CronJobs, restricted pod security, least-privilege RBAC, no
 * secrets, a values schema that rejects typos, NOTES with the kubectl line).
 *
 * Needs .tools/bin/{helm,kubeconform} and .tools/k8s-schemas, built by
 *   test/services/helm/build.sh
 * A missing tool fails the tests (CI builds them first; SFPIPE_REQUIRE_K8S=1 says so).
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { parsePipelineConfig, writtenLocations } from '../../assets/config/load-config.js';
import { formatLocation, overlaps, parseLocation } from '../../assets/config/environment.js';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
/** The repo root, from test/helm (sources) or dist/test/helm (compiled). */
const REPO = [path.resolve(here, '../..'), path.resolve(here, '../../..')].find((d) => existsSync(path.join(d, 'helm', 'sf-user-pipeline', 'Chart.yaml')))!;
const CHART = path.join(REPO, 'helm', 'sf-user-pipeline');
const TOOLS = process.env.SFPIPE_TOOLS_DIR ?? path.join(REPO, '.tools');
const HELM = path.join(TOOLS, 'bin', 'helm');
const KUBECONFORM = path.join(TOOLS, 'bin', 'kubeconform');
const SCHEMAS = path.join(TOOLS, 'k8s-schemas');
const BUILD_CMD = 'test/services/helm/build.sh';
const REQUIRED = process.env.SFPIPE_REQUIRE_K8S === '1';

/** The Kubernetes version helm and the schemas were built for (build.sh writes it). */
function k8sVersion(): string {
  const env = path.join(TOOLS, 'helm-tools.env');
  const m = existsSync(env) ? /^K8S_VERSION=v?(\S+)$/m.exec(readFileSync(env, 'utf8')) : null;
  return m?.[1] ?? '1.37.2';
}

const VALUE_SETS = ['default', 'hourly', 'existing-secret', 'irsa', 'launch', 'trino', 'ui', 'sensor', 'sensor-watch'] as const;
type ValueSet = (typeof VALUE_SETS)[number];
const valuesFile = (set: ValueSet) => path.join(CHART, 'ci', `${set}-values.yaml`);

// HELM_*_HOME in a temp dir: no writes to the user's helm config, no repositories.
const helmHome = mkdtempSync(path.join(os.tmpdir(), 'sfpipe-helm-'));
const helmEnv = {
  ...process.env,
  HELM_CACHE_HOME: path.join(helmHome, 'cache'),
  HELM_CONFIG_HOME: path.join(helmHome, 'config'),
  HELM_DATA_HOME: path.join(helmHome, 'data'),
  KUBECONFIG: path.join(helmHome, 'no-kubeconfig'),
};

function toolsPresent(t: ExecutionContext): boolean {
  const missing = [HELM, KUBECONFORM, path.join(SCHEMAS, `v${k8sVersion()}-standalone-strict`)].filter((p) => !existsSync(p));
  if (missing.length === 0) return true;
  t.fail(
    `missing ${missing.join(', ')}${REQUIRED ? ' (SFPIPE_REQUIRE_K8S=1)' : ''}. ` +
      `Build them with: ${BUILD_CMD}  (go install of helm and kubeconform + offline schemas into .tools/)`,
  );
  return false;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], input?: string): Promise<Run> {
  const child = execFileP(cmd, args, { env: helmEnv, maxBuffer: 64 * 1024 * 1024, cwd: REPO });
  if (input !== undefined) {
    child.child.stdin!.end(input);
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

const helm = (...args: string[]) => run(HELM, args);

/** `helm template rel CHART -n sfpipe` with the value set's file and extra args. */
async function template(set: ValueSet | null, ...extra: string[]): Promise<Run> {
  return helm('template', 'sfpipe', CHART, '--namespace', 'sfpipe', ...(set ? ['-f', valuesFile(set)] : []), ...extra);
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

function docs(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((d): d is K8sObject => d !== null);
}

async function rendered(t: ExecutionContext, set: ValueSet | null, ...extra: string[]): Promise<K8sObject[]> {
  const r = await template(set, ...extra);
  t.is(r.code, 0, `helm template ${set ?? ''} failed: ${r.stderr}`);
  return docs(r.stdout);
}

const ofKind = <T = any>(objs: K8sObject[], kind: string): T[] => objs.filter((o) => o.kind === kind) as T[];

/** The s3Location the salesforce-mode value sets use (the chart requires one in that mode). */
const S3_EVENT_LOG = 's3://sf-user-pipeline-state/event-log/';

/** Validates a `helm template` output with kubeconform -strict: every object valid, no null fields. */
async function assertKubeconform(t: ExecutionContext, yamlText: string, label: string): Promise<void> {
  const objs = docs(yamlText);
  t.true(objs.length >= 5, label);
  const kc = await run(
    KUBECONFORM,
    ['-strict', '-summary', '-output', 'json', '-kubernetes-version', k8sVersion(), '-schema-location', SCHEMAS, '-'],
    yamlText,
  );
  const out = JSON.parse(kc.stdout) as { resources?: { kind: string; name: string; status: string; msg: string }[]; summary: { valid: number; invalid: number; errors: number; skipped: number } };
  const bad = (out.resources ?? []).filter((x) => x.status !== 'statusValid');
  t.deepEqual(bad, [], `${label} kubeconform: ${kc.stdout}\n${kc.stderr}`);
  t.is(kc.code, 0, kc.stderr);
  t.deepEqual(out.summary, { valid: objs.length, invalid: 0, errors: 0, skipped: 0 }, label);
  // The schemas reject `null` for optional fields: the chart must never render one.
  t.notRegex(yamlText.replace(/pipeline\.yaml: \|[\s\S]*?(?=\n {0,2}\S)/g, ''), /:\s+null\s*$/m, label);
}

const byComponentOf = (objs: K8sObject[]): Record<string, any> =>
  Object.fromEntries(ofKind(objs, 'CronJob').map((c) => [c.metadata.labels['app.kubernetes.io/component'], c]));
const argsOf = (c: any): string[] => c.spec.jobTemplate.spec.template.spec.containers[0].args;
/** The materialize CronJob container's plain env values. */
const podEnv = (objs: K8sObject[]): Record<string, string> =>
  Object.fromEntries((byComponentOf(objs).materialize.spec.jobTemplate.spec.template.spec.containers[0].env as { name: string; value?: string }[]).map((e) => [e.name, e.value ?? '']));

// ---------------------------------------------------------------------------------------

test('helm lint passes (strict) with every value set', async (t) => {
  if (!toolsPresent(t)) return;
  for (const set of VALUE_SETS) {
    const r = await helm('lint', CHART, '--strict', '-f', valuesFile(set));
    t.is(r.code, 0, `helm lint -f ci/${set}-values.yaml:\n${r.stdout}\n${r.stderr}`);
    t.regex(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

test('helm knows the Kubernetes version it was built for (not the go-install default 1.20)', async (t) => {
  if (!toolsPresent(t)) return;
  // The chart requires >= 1.27 (CronJob timeZone): with helm's built-in default v1.20 this fails.
  const r = await helm('template', 'sfpipe', CHART, '--show-only', 'templates/configmap.yaml', '--set-string', 'nameOverride=x', '-f', valuesFile('default'));
  t.is(r.code, 0, r.stderr);
  const old = await helm('template', 'sfpipe', CHART, '--kube-version', '1.20.0');
  t.not(old.code, 0);
  t.regex(old.stderr, /incompatible with Kubernetes v1\.20\.0/);
  const v = await helm('version', '--template', '{{.Version}}');
  t.regex(v.stdout.trim(), /^v3\.\d+\.\d+$/);
});

for (const set of VALUE_SETS) {
  test(`helm template (${set}) validates against the Kubernetes ${k8sVersion()} schemas (kubeconform -strict)`, async (t) => {
    if (!toolsPresent(t)) return;
    const r = await template(set);
    t.is(r.code, 0, r.stderr);
    await assertKubeconform(t, r.stdout, set);
  });
}

test('a release named 1234 renders string label values and validates (kubeconform -strict)', async (t) => {
  if (!toolsPresent(t)) return;
  for (const set of ['default', 'launch'] as const) {
    const r = await helm('template', '1234', CHART, '--namespace', 'sfpipe', '-f', valuesFile(set));
    t.is(r.code, 0, r.stderr);
    await assertKubeconform(t, r.stdout, `1234 ${set}`);
    const objs = docs(r.stdout);
    for (const o of objs) {
      t.is(o.metadata.labels?.['app.kubernetes.io/instance'], '1234', `${o.kind} ${o.metadata.name}`);
      t.is(o.metadata.labels?.['app.kubernetes.io/name'], 'sf-user-pipeline', `${o.kind} ${o.metadata.name}`);
    }
    for (const c of ofKind(objs, 'CronJob')) {
      t.is(c.spec.jobTemplate.metadata.labels['app.kubernetes.io/instance'], '1234');
      t.is(c.spec.jobTemplate.spec.template.metadata.labels['app.kubernetes.io/instance'], '1234');
    }
  }
  // Every name is a string too (fullnameOverride of digits only).
  const r = await helm('template', '1234', CHART, '--namespace', 'sfpipe', '-f', valuesFile('launch'), '--set-string', 'fullnameOverride=5678');
  t.is(r.code, 0, r.stderr);
  await assertKubeconform(t, r.stdout, 'fullnameOverride=5678');
  const objs = docs(r.stdout);
  t.is(ofKind(objs, 'Role')[0].metadata.name, '5678');
  t.is(ofKind(objs, 'ServiceAccount')[0].metadata.name, '5678');
  t.is(ofKind(objs, 'RoleBinding')[0].subjects[0].name, '5678');
  t.is(ofKind(objs, 'CronJob')[0].spec.jobTemplate.spec.template.spec.serviceAccountName, '5678');
});

test('kubeconform with the generated schemas rejects a misspelt or mistyped field', async (t) => {
  if (!toolsPresent(t)) return;
  const bad = [
    'apiVersion: batch/v1',
    'kind: CronJob',
    'metadata: { name: x }',
    'spec:',
    '  schedule: "0 2 * * *"',
    '  concurrencyPolicyy: Forbid',
    '  jobTemplate:',
    '    spec:',
    '      backoffLimit: "one"',
    '      template:',
    '        spec:',
    '          restartPolicy: Never',
    '          containers: [{ name: c, image: i }]',
  ].join('\n');
  const kc = await run(KUBECONFORM, ['-strict', '-output', 'json', '-kubernetes-version', k8sVersion(), '-schema-location', SCHEMAS, '-'], bad);
  t.not(kc.code, 0);
  t.regex(kc.stdout, /concurrencyPolicyy/);
  t.regex(kc.stdout, /backoffLimit/);
});

test('the default values alone (salesforce mode, no eventLog.s3Location) fail with the value to set', async (t) => {
  if (!toolsPresent(t)) return;
  const r = await template(null);
  t.not(r.code, 0);
  t.regex(r.stderr, /salesforce\.mode salesforce needs eventLog\.s3Location/);
  // …and so does any value set in salesforce mode without it
  const irsa = await template('irsa', '--set', 'eventLog.s3Location=');
  t.not(irsa.code, 0);
  t.regex(irsa.stderr, /needs eventLog\.s3Location/);
  // the simulator keeps its event log in the pod (smoke tests): no s3Location needed
  const sim = await template(null, '--set', 'salesforce.mode=simulator');
  t.is(sim.code, 0, sim.stderr);
  // with one, the event log is in S3
  const objs = await rendered(t, 'default');
  t.deepEqual(parseYaml(ofKind(objs, 'ConfigMap')[0].data['pipeline.yaml']).event_log, { store: 's3', s3_location: S3_EVENT_LOG, region: 'eu-west-1' });
});

test('defaults: exactly three CronJobs with the scheduling hygiene settings', async (t) => {
  if (!toolsPresent(t)) return;
  // ci/default-values.yaml: the chart's values.yaml plus what salesforce mode requires
  const objs = await rendered(t, 'default');
  const cronJobs = ofKind(objs, 'CronJob');
  t.deepEqual(cronJobs.map((c) => c.metadata.name).sort(), ['sfpipe-sf-user-pipeline-check', 'sfpipe-sf-user-pipeline-full-refresh', 'sfpipe-sf-user-pipeline-materialize']);
  const byComponent = byComponentOf(objs);
  t.is(byComponent.materialize.spec.schedule, '0 2 * * *');
  t.is(byComponent['full-refresh'].spec.schedule, '0 4 * * 0');
  t.is(byComponent.check.spec.schedule, '*/30 * * * *');
  // Scheduled runs wait for the run lock: materialize longer than the Lease duration
  // (60 s), full-refresh up to materialize's activeDeadlineSeconds. check takes no lock.
  t.deepEqual(argsOf(byComponent.materialize), ['materialize', '--trigger', 'schedule', '--lock-timeout', '300']);
  t.deepEqual(argsOf(byComponent['full-refresh']), ['materialize', '--full-refresh', '--trigger', 'schedule', '--lock-timeout', '7200']);
  t.deepEqual(argsOf(byComponent.check), ['check']);
  const lockTimeout = (c: any) => Number(argsOf(c)[argsOf(c).indexOf('--lock-timeout') + 1]);
  const deadline = (c: any): number => c.spec.jobTemplate.spec.activeDeadlineSeconds;
  t.true(lockTimeout(byComponent.materialize) > 60, 'longer than the Lease duration');
  t.true(lockTimeout(byComponent.materialize) < deadline(byComponent.materialize));
  t.is(lockTimeout(byComponent['full-refresh']), deadline(byComponent.materialize));
  t.true(lockTimeout(byComponent['full-refresh']) < deadline(byComponent['full-refresh']));
  for (const c of cronJobs) {
    const name = c.metadata.name;
    const s = c.spec;
    t.is(s.concurrencyPolicy, 'Forbid', name);
    t.is(s.timeZone, 'Etc/UTC', name);
    t.is(s.suspend, false, name);
    for (const k of ['startingDeadlineSeconds', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit']) t.is(typeof s[k], 'number', `${name} ${k}`);
    const job = s.jobTemplate.spec;
    for (const k of ['backoffLimit', 'activeDeadlineSeconds', 'ttlSecondsAfterFinished']) t.is(typeof job[k], 'number', `${name} ${k}`);
    t.is(job.template.spec.restartPolicy, 'Never', name);
    const component = c.metadata.labels['app.kubernetes.io/component'];
    for (const labels of [s.jobTemplate.metadata.labels, job.template.metadata.labels]) {
      t.is(labels['app.kubernetes.io/component'], component, name);
      t.is(labels['app.kubernetes.io/instance'], 'sfpipe', name);
      t.is(labels['sf-user-pipeline.io/pipeline'], 'sfpipe-sf-user-pipeline', name);
    }
    for (const k of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'helm.sh/chart']) {
      t.truthy(c.metadata.labels[k], `${name} label ${k}`);
    }
    const container = job.template.spec.containers[0];
    t.is(container.image, 'registry.example.com/data/sfpipe:0.1.0');
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    t.is(env.SFPIPE_CONFIG, '/etc/sfpipe/pipeline.yaml');
    t.is(env.SFPIPE_HOME, '/var/lib/sfpipe');
    t.is(env.SFPIPE_LEASE_NAME, 'sfpipe-sf-user-pipeline-run-lock');
    t.is(env.SFPIPE_MATERIALIZE_CRONJOB, 'sfpipe-sf-user-pipeline-materialize');
    t.is(env.SFPIPE_FULL_REFRESH_CRONJOB, 'sfpipe-sf-user-pipeline-full-refresh');
    t.truthy(container.resources.requests.memory);
  }
  // Components are distinct and the rest of the release is what we expect.
  t.deepEqual(objs.map((o) => o.kind).sort(), ['ConfigMap', 'CronJob', 'CronJob', 'CronJob', 'Role', 'RoleBinding', 'ServiceAccount']);
});

test('every container runs at the "restricted" pod security level with writable emptyDirs only', async (t) => {
  if (!toolsPresent(t)) return;
  for (const set of VALUE_SETS) {
    const objs = await rendered(t, set);
    // The CronJobs' pods and the web view's (ui.enabled).
    const pods = [
      ...ofKind(objs, 'CronJob').map((c) => ({ name: `${set}: ${c.metadata.name}`, pod: c.spec.jobTemplate.spec.template.spec })),
      ...ofKind(objs, 'Deployment').map((d) => ({ name: `${set}: ${d.metadata.name}`, pod: d.spec.template.spec })),
    ];
    for (const { name, pod } of pods) {
      t.is(pod.securityContext.runAsNonRoot, true, name);
      t.is(pod.securityContext.seccompProfile.type, 'RuntimeDefault', name);
      t.falsy(pod.hostNetwork || pod.hostPID || pod.hostIPC, name);
      for (const ct of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const sc = ct.securityContext;
        t.is(sc.runAsNonRoot, true, name);
        t.is(sc.runAsUser, 10001, name);
        t.is(sc.allowPrivilegeEscalation, false, name);
        t.not(sc.privileged, true, name);
        t.deepEqual(sc.capabilities, { drop: ['ALL'] }, name);
        t.is(sc.seccompProfile.type, 'RuntimeDefault', name);
        t.is(sc.readOnlyRootFilesystem, true, name);
        const mounts = Object.fromEntries(ct.volumeMounts.map((m: any) => [m.mountPath, m]));
        const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
        // writable: /tmp and the state dir (SFPIPE_HOME, which holds dbt's target/ and logs/)
        for (const dir of ['/tmp', '/var/lib/sfpipe']) {
          t.truthy(mounts[dir], `${name} mounts ${dir}`);
          t.truthy(volumes[mounts[dir].name].emptyDir, `${name} ${dir} is an emptyDir`);
          t.not(mounts[dir].readOnly, true);
        }
        t.is(mounts['/etc/sfpipe'].readOnly, true);
        // every volume is of a kind the restricted profile allows
        for (const v of pod.volumes) t.truthy(v.emptyDir || v.configMap || v.secret || v.projected, `${name} volume ${v.name}`);
      }
    }
  }
  // dbt's target and log dirs are under SFPIPE_HOME (assets/dbt/dbt-project.ts), covered by the state emptyDir.
  const { locateDbtProject } = await import('../../assets/dbt/dbt-project.js');
  const dbt = locateDbtProject('/var/lib/sfpipe', {});
  t.true(dbt.targetPath.startsWith('/var/lib/sfpipe/'));
  t.true(dbt.logPath.startsWith('/var/lib/sfpipe/'));
});

test('the rendered pipeline.yaml is a valid sfpipe config for every value set', async (t) => {
  if (!toolsPresent(t)) return;
  const expect: Record<ValueSet, { mode: string; credentials: string; engine: string; profile: string }> = {
    default: { mode: 'salesforce', credentials: 'k8s_secret', engine: 'athena', profile: 'sf_user_pipeline_athena' },
    hourly: { mode: 'salesforce', credentials: 'k8s_secret', engine: 'athena', profile: 'sf_user_pipeline_athena' },
    'existing-secret': { mode: 'salesforce', credentials: 'k8s_secret', engine: 'athena', profile: 'sf_user_pipeline_athena' },
    irsa: { mode: 'salesforce', credentials: 'aws_secrets_manager', engine: 'athena', profile: 'sf_user_pipeline_athena' },
    launch: { mode: 'simulator', credentials: 'simulator', engine: 'duckdb', profile: 'sf_user_pipeline' },
    trino: { mode: 'salesforce', credentials: 'k8s_secret', engine: 'trino', profile: 'sf_user_pipeline_trino' },
    ui: { mode: 'salesforce', credentials: 'k8s_secret', engine: 'athena', profile: 'sf_user_pipeline_athena' },
    sensor: { mode: 'salesforce', credentials: 'k8s_secret', engine: 'athena', profile: 'sf_user_pipeline_athena' },
    'sensor-watch': { mode: 'salesforce', credentials: 'k8s_secret', engine: 'athena', profile: 'sf_user_pipeline_athena' },
  };
  for (const set of VALUE_SETS) {
    const objs = await rendered(t, set);
    const [cm] = ofKind(objs, 'ConfigMap');
    const text = cm.data['pipeline.yaml'];
    // As the pods read it: in the environment their SFPIPE_ENV names (prod by default).
    const config = parsePipelineConfig(`${set}:pipeline.yaml`, text, { environment: 'prod' });
    t.is(podEnv(objs).SFPIPE_ENV, 'prod', set);
    t.deepEqual(
      { mode: config.salesforce.mode as string, credentials: config.salesforce.auth.credentials.source as string, engine: config.warehouse.engine as string, profile: config.dbt.profile },
      expect[set],
      set,
    );
    if (config.salesforce.auth.credentials.source === 'k8s_secret') t.is(config.salesforce.auth.credentials.dir, '/var/run/secrets/salesforce');
  }
});

test('a freshness policy switched to cron drops the window it inherits from the defaults; the config parses', async (t) => {
  if (!toolsPresent(t)) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sfpipe-helm-cron-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const values = path.join(dir, 'cron.yaml');
  writeFileSync(values, 'pipeline:\n  freshness:\n    sf_raw/sf_user: { cron: "0 9 * * *", timezone: Europe/Berlin }\n');
  const [cm] = ofKind(await rendered(t, 'default', '-f', values), 'ConfigMap');
  const config = parsePipelineConfig('cron:pipeline.yaml', cm.data['pipeline.yaml']);
  t.like(config.freshness['sf_raw/sf_user'], { cron: '0 9 * * *', timezone: 'Europe/Berlin', dataTime: true });
  t.is(config.freshness['sf_raw/sf_user']!.failAfterMs, undefined);
  t.like(config.freshness['sf_staging/stg_sf_user'], { warnAfterMs: 26 * 3_600_000, failAfterMs: 50 * 3_600_000 });
});

test('Salesforce credentials: an existing Secret mounted read-only, or AWS Secrets Manager through IRSA', async (t) => {
  if (!toolsPresent(t)) return;
  const podOf = (objs: K8sObject[]) => byComponentOf(objs).materialize.spec.jobTemplate.spec.template.spec;

  const existing = await rendered(t, 'existing-secret');
  const pod = podOf(existing);
  const vol = pod.volumes.find((v: any) => v.name === 'salesforce-credentials');
  t.is(vol.secret.secretName, 'sf-credentials');
  t.deepEqual(pod.containers[0].volumeMounts.find((m: any) => m.name === 'salesforce-credentials'), { name: 'salesforce-credentials', mountPath: '/var/run/secrets/salesforce', readOnly: true });
  // webhook URLs: env from the alerts Secret (secretKeyRef), never values
  const env = Object.fromEntries(pod.containers[0].env.map((e: any) => [e.name, e]));
  t.deepEqual(env.SFPIPE_SLACK_WEBHOOK_URL.valueFrom, { secretKeyRef: { name: 'sfpipe-alerts', key: 'slack_webhook_url', optional: true } });
  t.deepEqual(env.SFPIPE_ALERT_WEBHOOK_URL.valueFrom, { secretKeyRef: { name: 'sfpipe-alerts', key: 'webhook_url', optional: true } });
  t.is(env.SFPIPE_PUSHGATEWAY_URL.value, 'http://pushgateway.monitoring.svc:9091');
  t.is(env.NODE_OPTIONS.value, '--max-old-space-size=768');
  t.deepEqual(pod.imagePullSecrets, [{ name: 'regcred' }]);
  t.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });

  const irsa = await rendered(t, 'irsa');
  const [sa] = ofKind(irsa, 'ServiceAccount');
  t.is(sa.metadata.annotations['eks.amazonaws.com/role-arn'], 'arn:aws:iam::123456789012:role/sf-user-pipeline');
  const irsaPod = podOf(irsa);
  t.is(irsaPod.serviceAccountName, sa.metadata.name);
  t.falsy(irsaPod.volumes.find((v: any) => v.secret), 'no Secret volume with AWS Secrets Manager');
  const cm = parseYaml(ofKind(irsa, 'ConfigMap')[0].data['pipeline.yaml']);
  t.deepEqual(cm.salesforce.auth.credentials, { source: 'aws_secrets_manager', secret_name: 'prod/sf-user-pipeline/salesforce', region: 'eu-west-1' });
  const irsaEnv = Object.fromEntries(irsaPod.containers[0].env.map((e: any) => [e.name, e.value]));
  t.is(irsaEnv.SFPIPE_ATHENA_S3_STAGING_DIR, 's3://acme-athena-results/dbt/');
  t.is(irsaEnv.SFPIPE_ATHENA_WORK_GROUP, 'analytics');

  // both sources at once is a contradiction the template reports
  const both = await template('irsa', '--set', 'salesforce.existingSecret=sf-credentials');
  t.not(both.code, 0);
  t.regex(both.stderr, /exclusive/);
});

test('nothing secret in the default values, the ConfigMap or any Secret', async (t) => {
  if (!toolsPresent(t)) return;
  const secretKey = /(password|passwd|client_secret|private_key|secret_key|api_key|access_key|token)$/i;
  const secretValue = /(-----BEGIN [A-Z ]*PRIVATE KEY|hooks\.slack\.com\/services|xox[abpr]-|AKIA[0-9A-Z]{16}|https?:\/\/[^/\s:@]+:[^@\s]+@)/;
  const findings: string[] = [];
  const walk = (node: unknown, where: string) => {
    if (typeof node === 'string') {
      if (secretValue.test(node)) findings.push(`${where}: secret-looking value`);
    } else if (Array.isArray(node)) {
      node.forEach((n, i) => walk(n, `${where}[${i}]`));
    } else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (secretKey.test(k) && typeof v === 'string' && v !== '') findings.push(`${where}.${k}: secret-looking key with a value`);
        walk(v, `${where}.${k}`);
      }
    }
  };
  walk(parseYaml(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')), 'values.yaml');
  for (const set of VALUE_SETS) {
    const objs = await rendered(t, set);
    t.deepEqual(ofKind(objs, 'Secret'), [], `${set}: the chart renders no Secret`);
    for (const cm of ofKind(objs, 'ConfigMap')) {
      for (const [k, v] of Object.entries(cm.data as Record<string, string>)) {
        walk(k.endsWith('.yaml') ? parseYaml(v) : v, `${set}:${cm.metadata.name}/${k}`);
      }
    }
    // env values carry no secrets either (only secretKeyRef)
    for (const c of ofKind(objs, 'CronJob')) {
      for (const e of c.spec.jobTemplate.spec.template.spec.containers[0].env) {
        // SFPIPE_ALERTS_SECRET holds the alerts Secret's name, not a secret
        if (/WEBHOOK|SECRET|PASSWORD|TOKEN/i.test(e.name) && e.name !== 'SFPIPE_ALERTS_SECRET') t.truthy(e.valueFrom?.secretKeyRef, `${set}: ${e.name} comes from a Secret`);
        walk(e, `${set}:env`);
      }
    }
  }
  t.deepEqual(findings, []);
});

test('a typo in values fails helm template with the schema error', async (t) => {
  if (!toolsPresent(t)) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sfpipe-values-'));
  const cases: [string, string, RegExp][] = [
    ['schedual', 'cronjobs:\n  materialize:\n    schedual: "0 * * * *"\n', /schedual/],
    ['resorces', 'resorces:\n  limits: { memory: 1Gi }\n', /resorces/],
    ['irsaRolArn', 'serviceAccount:\n  irsaRolArn: arn:aws:iam::123456789012:role/x\n', /irsaRolArn/],
    ['existingSecert', 'salesforce:\n  existingSecert: sf\n', /existingSecert/],
    ['suspend as a string', 'cronjobs:\n  check:\n    suspend: "yes"\n', /suspend/],
    ['mode enum', 'salesforce:\n  mode: prod\n', /mode/],
  ];
  for (const [label, body, re] of cases) {
    const file = path.join(dir, `${label.replace(/\W/g, '_')}.yaml`);
    writeFileSync(file, body);
    const r = await helm('template', 'sfpipe', CHART, '-f', file);
    t.not(r.code, 0, `${label} must fail`);
    t.regex(r.stderr, /values don't meet the specifications of the schema/, label);
    t.regex(r.stderr, re, label);
  }
  // --set typos too
  const r = await helm('template', 'sfpipe', CHART, '--set', 'cronjobs.fullRefresh.schedual=@weekly');
  t.not(r.code, 0);
  t.regex(r.stderr, /schedual/);
});

type RoleRule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
const rulesOf = (objs: K8sObject[]): RoleRule[] => ofKind(objs, 'Role')[0].rules as RoleRule[];
/** The chart Role's grants, one `group/resource:verb[@names]` per line, sorted. */
const roleGrants = (objs: K8sObject[]): string[] =>
  rulesOf(objs).flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g || 'core'}/${res}:${v}${r.resourceNames ? `@${r.resourceNames.join(',')}` : ''}`)))).sort();

test('RBAC: the Lease lock only, plus jobs/cronjobs/pods only when launch.enabled', async (t) => {
  // launch (k8s/launch.ts) reads the CronJob, creates the Job, then polls it by name (get,
  // no list/watch), lists its pods by job-name and streams pods/log.
  if (!toolsPresent(t)) return;

  for (const set of ['default', 'hourly', 'existing-secret', 'irsa'] as const) {
    const objs = await rendered(t, set);
    t.deepEqual(roleGrants(objs), [
      'coordination.k8s.io/leases:create',
      'coordination.k8s.io/leases:delete@sfpipe-sf-user-pipeline-run-lock',
      'coordination.k8s.io/leases:get@sfpipe-sf-user-pipeline-run-lock',
      'coordination.k8s.io/leases:update@sfpipe-sf-user-pipeline-run-lock',
    ], set);
    t.is(ofKind(objs, 'ClusterRole').length + ofKind(objs, 'ClusterRoleBinding').length, 0);
  }
  const launch = await rendered(t, 'launch');
  t.deepEqual(roleGrants(launch), [
    'batch/cronjobs:get',
    'batch/jobs:create',
    'batch/jobs:get',
    'coordination.k8s.io/leases:create',
    'coordination.k8s.io/leases:delete@sfpipe-sf-user-pipeline-run-lock',
    'coordination.k8s.io/leases:get@sfpipe-sf-user-pipeline-run-lock',
    'coordination.k8s.io/leases:update@sfpipe-sf-user-pipeline-run-lock',
    'core/pods/log:get',
    'core/pods:list',
  ]);
  // no wildcards anywhere
  t.false(JSON.stringify(rulesOf(launch)).includes('"*"'));
  const [binding] = ofKind(launch, 'RoleBinding');
  const [sa] = ofKind(launch, 'ServiceAccount');
  t.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'sfpipe' }]);
  t.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: ofKind(launch, 'Role')[0].metadata.name });
});

test('hourly values change the schedule, time zone and resources of materialize only', async (t) => {
  if (!toolsPresent(t)) return;
  const objs = await rendered(t, 'hourly');
  const byComponent = Object.fromEntries(ofKind(objs, 'CronJob').map((c) => [c.metadata.labels['app.kubernetes.io/component'], c]));
  t.is(byComponent.materialize.spec.schedule, '0 * * * *');
  t.is(byComponent.materialize.spec.timeZone, 'Europe/Berlin');
  t.deepEqual(byComponent.materialize.spec.jobTemplate.spec.template.spec.containers[0].resources, { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } });
  t.is(byComponent.materialize.spec.jobTemplate.spec.activeDeadlineSeconds, 3000);
  t.is(byComponent.check.spec.schedule, '*/30 * * * *');
  t.deepEqual(byComponent.check.spec.jobTemplate.spec.template.spec.containers[0].resources, { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } });
  const launch = await rendered(t, 'launch');
  t.is(ofKind(launch, 'CronJob').find((c) => c.metadata.labels['app.kubernetes.io/component'] === 'check').spec.suspend, true);
});

/**
 * NOTES.txt as `helm install` would print it. `helm template` never prints NOTES and
 * `helm install --dry-run=client` still wants a reachable cluster (helm checks /version
 * unless client-only). So render NOTES.txt with helm's own engine from a copy of the chart:
 * a ConfigMap whose data is tpl(NOTES.txt) — same values, same helpers, same .Release/.Chart.
 */
async function renderNotes(t: ExecutionContext, set: ValueSet | null, ...extra: string[]): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sfpipe-notes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const copy = path.join(dir, 'sf-user-pipeline');
  cpSync(CHART, copy, { recursive: true });
  cpSync(path.join(copy, 'templates', 'NOTES.txt'), path.join(copy, 'notes.src'));
  writeFileSync(
    path.join(copy, 'templates', 'zz-notes-under-test.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-under-test\ndata:\n  notes: |\n{{ tpl (.Files.Get "notes.src") . | indent 4 }}\n',
  );
  const r = await helm('template', 'sfpipe', copy, '--namespace', 'data', ...(set ? ['-f', valuesFile(set)] : []), ...extra, '--show-only', 'templates/zz-notes-under-test.yaml');
  t.is(r.code, 0, r.stderr);
  return r.code === 0 ? (docs(r.stdout)[0] as any).data.notes : '';
}

test('NOTES.txt renders the kubectl create job --from=cronjob line and how to see lineage', async (t) => {
  if (!toolsPresent(t)) return;
  const notes = await renderNotes(t, 'default');
  t.true(notes.includes('JOB=sfpipe-sf-user-pipeline-manual-$(date +%s)\n  kubectl create job --from=cronjob/sfpipe-sf-user-pipeline-materialize $JOB -n data\n'), notes);
  // waits for the Job's pod to exist before waiting on it ("no matching resources" otherwise)
  t.true(notes.includes('  until kubectl get pods -n data -l job-name=$JOB -o name | grep -q .; do sleep 2; done\n  kubectl wait --for=condition=Ready pod -l job-name=$JOB'), notes);
  t.true(notes.includes('  kubectl logs -f job/$JOB -n data    # follows the log to the end, whether the run succeeds or fails\n'), notes);
  t.false(notes.includes('condition=complete'), 'no wait that hangs on a failed Job');
  t.regex(notes, /args = \["lineage"\]/);
  t.regex(notes, /sfpipe\.js lineage/);
  t.regex(notes, /pod-security\.kubernetes\.io\/enforce=restricted/);
  t.regex(notes, /kubectl create secret generic salesforce-credentials -n data/);
  t.regex(notes, /sfpipe-sf-user-pipeline-full-refresh {2}"0 4 \* \* 0"/);
});

test('podLabels/podAnnotations cannot duplicate the chart\'s keys: the chart\'s selector labels win', async (t) => {
  if (!toolsPresent(t)) return;
  const r = await template(
    'default',
    '--set-string',
    [
      'podLabels.app\\.kubernetes\\.io/component=hijacked',
      'podLabels.app\\.kubernetes\\.io/name=hijacked',
      'podLabels.app\\.kubernetes\\.io/instance=hijacked',
      'podLabels.sf-user-pipeline\\.io/pipeline=hijacked',
      'podLabels.team=data',
      'podAnnotations.checksum/config=hijacked',
      'podAnnotations.example\\.com/team=data',
    ].join(','),
  );
  t.is(r.code, 0, r.stderr);
  // no duplicate keys: the strict YAML parser reports them
  for (const d of parseAllDocuments(r.stdout)) t.deepEqual(d.errors.map((e) => e.message), []);
  await assertKubeconform(t, r.stdout, 'podLabels');
  for (const [component, c] of Object.entries(byComponentOf(docs(r.stdout)))) {
    const meta = c.spec.jobTemplate.spec.template.metadata;
    t.deepEqual(meta.labels, {
      'app.kubernetes.io/component': component,
      'app.kubernetes.io/name': 'sf-user-pipeline',
      'app.kubernetes.io/instance': 'sfpipe',
      'sf-user-pipeline.io/pipeline': 'sfpipe-sf-user-pipeline',
      team: 'data',
    });
    t.regex(meta.annotations['checksum/config'], /^[0-9a-f]{64}$/);
    t.is(meta.annotations['example.com/team'], 'data');
  }
});

test('serviceAccount: irsaRoleArn wins over an eks.amazonaws.com/role-arn annotation; it needs create=true', async (t) => {
  if (!toolsPresent(t)) return;
  const r = await template('irsa', '--set-string', 'serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::000000000000:role/other,serviceAccount.annotations.example\\.com/owner=data');
  t.is(r.code, 0, r.stderr);
  for (const d of parseAllDocuments(r.stdout)) t.deepEqual(d.errors.map((e) => e.message), []);
  await assertKubeconform(t, r.stdout, 'annotations');
  t.deepEqual(ofKind(docs(r.stdout), 'ServiceAccount')[0].metadata.annotations, {
    'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/sf-user-pipeline',
    'example.com/owner': 'data',
  });
  // without irsaRoleArn the annotation is the user's
  const own = await rendered(t, 'default', '--set-string', 'serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::000000000000:role/other');
  t.deepEqual(ofKind(own, 'ServiceAccount')[0].metadata.annotations, { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::000000000000:role/other' });
  // and no annotations at all by default
  t.is(ofKind(await rendered(t, 'default'), 'ServiceAccount')[0].metadata.annotations, undefined);

  // irsaRoleArn with someone else's ServiceAccount would be silently ignored: refused
  const noCreate = await template('irsa', '--set', 'serviceAccount.create=false', '--set', 'serviceAccount.name=sfpipe');
  t.not(noCreate.code, 0);
  t.regex(noCreate.stderr, /serviceAccount\.irsaRoleArn needs serviceAccount\.create=true/);
  const external = await rendered(t, 'default', '--set', 'serviceAccount.create=false', '--set', 'serviceAccount.name=sfpipe');
  t.deepEqual(ofKind(external, 'ServiceAccount'), []);
  t.is(byComponentOf(external).materialize.spec.jobTemplate.spec.template.spec.serviceAccountName, 'sfpipe');
});

test('cronjobs.<job>.lockTimeoutSeconds: --lock-timeout in the args, schema-checked, less than the deadline', async (t) => {
  if (!toolsPresent(t)) return;
  const custom = byComponentOf(await rendered(t, 'hourly', '--set', 'cronjobs.materialize.lockTimeoutSeconds=120', '--set', 'cronjobs.fullRefresh.lockTimeoutSeconds=0'));
  t.deepEqual(argsOf(custom.materialize), ['materialize', '--trigger', 'schedule', '--lock-timeout', '120']);
  t.deepEqual(argsOf(custom['full-refresh']), ['materialize', '--full-refresh', '--trigger', 'schedule', '--lock-timeout', '0']);
  // null: no flag (fail at once when the lock is held)
  const off = byComponentOf(await rendered(t, 'default', '--set', 'cronjobs.materialize.lockTimeoutSeconds=null'));
  t.deepEqual(argsOf(off.materialize), ['materialize', '--trigger', 'schedule']);
  // a --lock-timeout already in args is not repeated
  const given = byComponentOf(await rendered(t, 'default', '--set-string', 'cronjobs.materialize.args={materialize,--lock-timeout,42}'));
  t.deepEqual(argsOf(given.materialize), ['materialize', '--lock-timeout', '42']);

  const neg = await template('default', '--set', 'cronjobs.materialize.lockTimeoutSeconds=-1');
  t.not(neg.code, 0);
  t.regex(neg.stderr, /values don't meet the specifications of the schema[\s\S]*lockTimeoutSeconds/);
  const str = await template('default', '--set-string', 'cronjobs.fullRefresh.lockTimeoutSeconds=5m');
  t.not(str.code, 0);
  t.regex(str.stderr, /lockTimeoutSeconds/);
  const hourly = byComponentOf(await rendered(t, 'hourly'));
  t.deepEqual(argsOf(hourly.materialize), ['materialize', '--trigger', 'schedule', '--lock-timeout', '300']);
  const overDeadline = await template('hourly', '--set', 'cronjobs.materialize.lockTimeoutSeconds=3000');
  t.not(overDeadline.code, 0);
  t.regex(overDeadline.stderr, /cronjobs\.materialize\.lockTimeoutSeconds \(3000\) must be less than cronjobs\.materialize\.activeDeadlineSeconds \(3000\)/);
  const onCheck = await template('default', '--set', 'cronjobs.check.lockTimeoutSeconds=60');
  t.not(onCheck.code, 0);
  t.regex(onCheck.stderr, /cronjobs\.check\.lockTimeoutSeconds: check never takes the run lock/);
});

test('sensor.enabled: a sensor CronJob beside the schedule, restricted like the others, granted its Lease, the materialize CronJob and Job creation only', async (t) => {
  if (!toolsPresent(t)) return;
  const off = byComponentOf(await rendered(t, 'default'));
  t.false('sensor' in off, 'off by default');
  const objs = await rendered(t, 'sensor');
  const cron = byComponentOf(objs);
  t.deepEqual(Object.keys(cron).sort(), ['check', 'full-refresh', 'materialize', 'sensor']);
  const sensor = cron.sensor;
  t.is(sensor.metadata.name, 'sfpipe-sf-user-pipeline-sensor');
  t.is(sensor.spec.schedule, '*/5 * * * *');
  t.is(sensor.spec.concurrencyPolicy, 'Forbid');
  t.deepEqual(argsOf(sensor), ['sensor', 'tick', 'sf_user_changes']);
  // The args follow sensor.name, as the Lease and the grants do; they are not a value of their own.
  const renamed = byComponentOf(await rendered(t, 'sensor', '--set', 'sensor.name=other_sensor')).sensor;
  t.deepEqual(argsOf(renamed), ['sensor', 'tick', 'other_sensor']);
  t.regex((await template('sensor', '--set', 'sensor.args={x}')).stderr, /args/);
  const pod = sensor.spec.jobTemplate.spec.template.spec;
  const env = Object.fromEntries(pod.containers[0].env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
  t.is(env.SFPIPE_SENSOR_LEASE_PREFIX, 'sfpipe-sf-user-pipeline-sensor');
  t.is(env.SFPIPE_MATERIALIZE_CRONJOB, 'sfpipe-sf-user-pipeline-materialize');
  // The same pod and container security as the materialize CronJob's.
  const mat = cron.materialize.spec.jobTemplate.spec.template.spec;
  t.deepEqual(pod.securityContext, mat.securityContext);
  t.deepEqual(pod.containers[0].securityContext, mat.containers[0].securityContext);
  t.deepEqual(pod.volumes, mat.volumes, 'credentials mounted as in materialize');
  t.deepEqual(roleGrants(objs), [
    'batch/cronjobs:get@sfpipe-sf-user-pipeline-materialize',
    'batch/jobs:create',
    'coordination.k8s.io/leases:create',
    'coordination.k8s.io/leases:delete@sfpipe-sf-user-pipeline-run-lock,sfpipe-sf-user-pipeline-sensor-sf-user-changes',
    'coordination.k8s.io/leases:get@sfpipe-sf-user-pipeline-run-lock,sfpipe-sf-user-pipeline-sensor-sf-user-changes',
    'coordination.k8s.io/leases:update@sfpipe-sf-user-pipeline-run-lock,sfpipe-sf-user-pipeline-sensor-sf-user-changes',
  ]);
  // kubeconform, and the schema: a misspelt key, a bad name, no materialize CronJob.
  const r = await template('sensor');
  await assertKubeconform(t, r.stdout, 'sensor');
  const typo = await template('sensor', '--set', 'sensor.schedul=x');
  t.not(typo.code, 0);
  t.regex(typo.stderr, /schedul/);
  const badName = await template('sensor', '--set', 'sensor.name=Bad Name');
  t.not(badName.code, 0);
  const noMat = await template('sensor', '--set', 'cronjobs.materialize.enabled=false');
  t.not(noMat.code, 0);
  t.regex(noMat.stderr, /sensor\.enabled needs cronjobs\.materialize\.enabled/);
});

test('sensorWatch.enabled: a `sensor watch` Deployment, off by default, hardened like the CronJobs, its liveness the subscription, granted its Lease, the materialize CronJob and Job creation only', async (t) => {
  if (!toolsPresent(t)) return;
  const watchOf = (objs: K8sObject[]) => ofKind(objs, 'Deployment').filter((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'sensor-watch');
  for (const set of VALUE_SETS.filter((v) => v !== 'sensor-watch')) t.deepEqual(watchOf(await rendered(t, set)), [], `${set}: off by default`);
  const objs = await rendered(t, 'sensor-watch');
  const [deployment] = watchOf(objs);
  t.is(deployment.metadata.name, 'sfpipe-sf-user-pipeline-sensor-watch');
  t.is(deployment.spec.replicas, 1);
  t.deepEqual(deployment.spec.strategy, { type: 'Recreate' }, 'never two watchers: the old one goes before the new one starts');
  const pod = deployment.spec.template.spec;
  const [c] = pod.containers;
  t.deepEqual(c.args, ['sensor', 'watch', 'sf_user_cdc', '--quiet-seconds', '5', '--health-host', '0.0.0.0', '--health-port', '8643']);
  t.like(c.livenessProbe, { httpGet: { path: '/healthz', port: 'health' } });
  t.deepEqual(c.ports, [{ name: 'health', containerPort: 8643, protocol: 'TCP' }]);
  const env = Object.fromEntries(c.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
  t.is(env.SFPIPE_SENSOR_LEASE_PREFIX, 'sfpipe-sf-user-pipeline-sensor');
  t.is(env.SFPIPE_MATERIALIZE_CRONJOB, 'sfpipe-sf-user-pipeline-materialize');
  t.is(env.SFPIPE_LEASE_NAME, 'sfpipe-sf-user-pipeline-run-lock');
  t.is(env.SFPIPE_ENV, 'prod', "the release's environment, as every pod has it");
  // The same pod and container security, service account, config and credentials as materialize.
  const mat = byComponentOf(objs).materialize.spec.jobTemplate.spec.template.spec;
  t.deepEqual(pod.securityContext, mat.securityContext);
  t.deepEqual(c.securityContext, mat.containers[0].securityContext);
  t.is(pod.serviceAccountName, mat.serviceAccountName);
  t.deepEqual(pod.volumes, mat.volumes);
  t.deepEqual(c.resources, mat.containers[0].resources, "the chart's resources by default");
  t.deepEqual(roleGrants(objs), [
    'batch/cronjobs:get@sfpipe-sf-user-pipeline-materialize',
    'batch/jobs:create',
    'coordination.k8s.io/leases:create',
    'coordination.k8s.io/leases:delete@sfpipe-sf-user-pipeline-run-lock,sfpipe-sf-user-pipeline-sensor-sf-user-cdc',
    'coordination.k8s.io/leases:get@sfpipe-sf-user-pipeline-run-lock,sfpipe-sf-user-pipeline-sensor-sf-user-cdc',
    'coordination.k8s.io/leases:update@sfpipe-sf-user-pipeline-run-lock,sfpipe-sf-user-pipeline-sensor-sf-user-cdc',
  ]);
  const r = await template('sensor-watch');
  await assertKubeconform(t, r.stdout, 'sensor-watch');
  // The schema and the chart's rules: a misspelt key, a bad port, no materialize CronJob, simulator mode.
  for (const [label, args, error] of [
    ['typo', ['--set', 'sensorWatch.quietSecond=3'], /quietSecond/],
    ['port', ['--set', 'sensorWatch.healthPort=0'], /healthPort/],
    ['no materialize', ['--set', 'cronjobs.materialize.enabled=false'], /sensorWatch\.enabled needs cronjobs\.materialize\.enabled/],
    ['simulator', ['--set', 'salesforce.mode=simulator', '--set', 'salesforce.existingSecret='], /sensorWatch\.enabled needs salesforce\.mode salesforce/],
  ] as const) {
    const bad = await template('sensor-watch', ...args);
    t.not(bad.code, 0, label);
    t.regex(bad.stderr, error, label);
  }
});

test('the ci value sets are the ones the tests use', (t) => {
  const files = readdirSync(path.join(CHART, 'ci')).filter((f) => f.endsWith('-values.yaml')).sort();
  t.deepEqual(files, VALUE_SETS.map((s) => `${s}-values.yaml`).sort());
});

// --- Production values: nothing the operator must own has a placeholder default -------------

/** The `--set k=v` pairs of the README's `helm install … helm/sf-user-pipeline` example. */
function readmeInstallSets(): string[] {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const block = /```sh\n([\s\S]*?)```/g;
  for (let m = block.exec(readme); m; m = block.exec(readme)) {
    const cmd = /helm install \S+ helm\/sf-user-pipeline(?:[^\n]*\\\n)*[^\n]*/.exec(m[1]!);
    if (cmd) return [...cmd[0].replace(/\\\n/g, ' ').matchAll(/--set\s+(\S+)/g)].map((x) => x[1]!);
  }
  throw new Error('README.md has no ```sh block with `helm install … helm/sf-user-pipeline`');
}

const PLACEHOLDERS = /sf-user-pipeline-athena-results|sf-user-pipeline-warehouse|ghcr\.io\/sf-user-pipeline\/sfpipe/;

test("the README's helm install renders the operator's image and S3 locations, no placeholder", async (t) => {
  if (!toolsPresent(t)) return;
  const sets = readmeInstallSets();
  const given = Object.fromEntries(sets.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  for (const k of ['image.repository', 'image.tag', 'salesforce.existingSecret', 'eventLog.s3Location', 'athena.s3StagingDir', 'athena.s3DataDir', 'serviceAccount.irsaRoleArn']) {
    t.truthy(given[k], `the README's install sets ${k}`);
  }
  const r = await helm('template', 'sfp', CHART, '--namespace', 'data', ...sets.flatMap((kv) => ['--set', kv]));
  t.is(r.code, 0, r.stderr);
  await assertKubeconform(t, r.stdout, 'README install');
  t.notRegex(r.stdout, PLACEHOLDERS);
  const objs = docs(r.stdout);
  for (const c of ofKind(objs, 'CronJob')) t.is(c.spec.jobTemplate.spec.template.spec.containers[0].image, `${given['image.repository']}:${given['image.tag']}`);
  const text = ofKind(objs, 'ConfigMap')[0].data['pipeline.yaml'];
  const athena = parseYaml(text).warehouse.athena;
  t.is(athena.output_location, given['athena.s3StagingDir']);
  t.is(athena.table_location, `${given['athena.s3DataDir']!.replace(/\/$/, '')}/sf_raw/`);
  const config = parsePipelineConfig('readme:pipeline.yaml', text);
  t.like(config.warehouse.athena, { outputLocation: given['athena.s3StagingDir'], database: 'sf_raw' });
  t.like(config.checks.rawRecordCount, { min: Number(given['pipeline.checks.raw_record_count.min']), max: Number(given['pipeline.checks.raw_record_count.max']) });
  // values.yaml itself has no placeholder locations
  const values = parseYaml(readFileSync(path.join(CHART, 'values.yaml'), 'utf8'));
  t.is(values.athena.s3StagingDir, '');
  t.is(values.athena.s3DataDir, '');
});

test('salesforce mode fails at render time without the S3 locations or with the unpublished image, naming the value and the fix', async (t) => {
  if (!toolsPresent(t)) return;
  // the README's previous install (no image, no Athena locations)
  const old = await helm('template', 'sfp', CHART, '-n', 'data', '--set', 'salesforce.existingSecret=salesforce-credentials', '--set', `eventLog.s3Location=${S3_EVENT_LOG}`, '--set', 'serviceAccount.irsaRoleArn=arn:aws:iam::123456789012:role/sf-user-pipeline');
  t.not(old.code, 0);
  t.regex(old.stderr, /3 problems with the values/);
  t.regex(old.stderr, /needs athena\.s3StagingDir, an s3:\/\/ prefix you own for Athena query results \(e\.g\. --set athena\.s3StagingDir=s3:\/\//);
  t.regex(old.stderr, /needs athena\.s3DataDir, the s3:\/\/ prefix you own .*\(e\.g\. --set athena\.s3DataDir=s3:\/\//);
  t.regex(old.stderr, /needs image\.repository \(and image\.tag\) set to your image: ghcr\.io\/sf-user-pipeline\/sfpipe is a placeholder nobody publishes\. Build the image from the repository's Dockerfile, push it/);
  for (const [value, re] of [
    ['athena.s3StagingDir', /^Error: .*salesforce\.mode salesforce needs athena\.s3StagingDir/m],
    ['athena.s3DataDir', /^Error: .*salesforce\.mode salesforce needs athena\.s3DataDir/m],
  ] as const) {
    const r = await template('default', '--set', `${value}=`);
    t.not(r.code, 0, value);
    t.regex(r.stderr, re, value);
  }
  const image = await template('irsa', '--set', 'image.repository=ghcr.io/sf-user-pipeline/sfpipe');
  t.not(image.code, 0);
  t.regex(image.stderr, /needs image\.repository/);
  // simulator mode (smoke tests) renders with no other value: no Athena, the placeholder image
  const sim = await rendered(t, null, '--set', 'salesforce.mode=simulator');
  const simConfig = parsePipelineConfig('sim:pipeline.yaml', ofKind(sim, 'ConfigMap')[0].data['pipeline.yaml']);
  t.is(simConfig.warehouse.engine, 'duckdb');
  t.regex(byComponentOf(sim).materialize.spec.jobTemplate.spec.template.spec.containers[0].image, /^ghcr\.io\/sf-user-pipeline\/sfpipe:/);
  t.false(JSON.stringify(sim).includes('SFPIPE_ATHENA_'), 'no Athena env in simulator mode');
  // the schema checks the locations as the loader does (plain s3:// keys)
  const bad = await template('default', '--set', 'athena.s3DataDir=s3://My_Bucket/x');
  t.not(bad.code, 0);
  t.regex(bad.stderr, /values don't meet the specifications of the schema[\s\S]*s3DataDir/);
});

test('athena.rawDatabase names the raw Glue database (warehouse.athena.database and its table prefix); athena.schema is gone', async (t) => {
  if (!toolsPresent(t)) return;
  const def = parsePipelineConfig('default:pipeline.yaml', ofKind(await rendered(t, 'default'), 'ConfigMap')[0].data['pipeline.yaml']);
  t.like(def.warehouse.athena, { database: 'sf_raw', tableLocation: 's3://acme-lake/sf-user-pipeline/sf_raw/', catalog: 'awsdatacatalog' });
  const irsa = await rendered(t, 'irsa');
  const cfg = parsePipelineConfig('irsa:pipeline.yaml', ofKind(irsa, 'ConfigMap')[0].data['pipeline.yaml']);
  t.like(cfg.warehouse.athena, { database: 'acme_sf_raw', tableLocation: 's3://acme-warehouse/acme_sf_raw/', outputLocation: 's3://acme-athena-results/dbt/' });
  // Glue/Athena database names: lowercase letters, digits and _, starting with a letter
  for (const name of ['Sf_Raw', 'sf-raw', '1raw', '_raw', 'sf raw', '']) {
    const r = await template('default', '--set-string', `athena.rawDatabase=${name}`);
    t.not(r.code, 0, name);
    t.regex(r.stderr, /values don't meet the specifications of the schema[\s\S]*rawDatabase/, name);
  }
  // athena.schema only fed dbt's target.schema, which no model uses (each has its own +schema
  // and generate_schema_name keeps it as given): removed, and the env var with it
  for (const set of VALUE_SETS) {
    for (const c of ofKind(await rendered(t, set), 'CronJob')) {
      t.false(c.spec.jobTemplate.spec.template.spec.containers[0].env.some((e: any) => e.name === 'SFPIPE_ATHENA_SCHEMA'), set);
    }
  }
  const schema = await template('default', '--set', 'athena.schema=sf_curated');
  t.not(schema.code, 0);
  t.regex(schema.stderr, /athena\.schema was removed: .*Unset it/);
});

test('salesforce mode without a credentials source fails naming both ways; check pods mount no credentials', async (t) => {
  if (!toolsPresent(t)) return;
  for (const unset of [['--set', 'salesforce.existingSecret='], ['--set', 'salesforce.existingSecret=null']]) {
    const r = await template('default', ...unset);
    t.not(r.code, 0, unset.join(' '));
    t.regex(r.stderr, /salesforce\.mode salesforce needs Salesforce credentials and the chart creates no Secret: set salesforce\.existingSecret .* or salesforce\.awsSecretsManager\.secretName/);
    t.regex(r.stderr, /with the keys client_id, client_secret /);
  }
  const jwt = await template('default', '--set', 'salesforce.existingSecret=', '--set', 'salesforce.authMethod=jwt');
  t.regex(jwt.stderr, /with the keys client_id, username, private_key /);
  const sm = await template('irsa', '--set', 'salesforce.awsSecretsManager.secretName=');
  t.not(sm.code, 0);
  t.regex(sm.stderr, /needs Salesforce credentials/);

  for (const set of ['default', 'existing-secret'] as const) {
    const byComponent = byComponentOf(await rendered(t, set));
    for (const component of ['materialize', 'full-refresh']) {
      const pod = byComponent[component].spec.jobTemplate.spec.template.spec;
      t.truthy(pod.volumes.find((v: any) => v.name === 'salesforce-credentials')?.secret, `${set} ${component}`);
      t.truthy(pod.containers[0].volumeMounts.find((m: any) => m.mountPath === '/var/run/secrets/salesforce'), `${set} ${component}`);
    }
    // `sfpipe check` reads the event log and the alert/metrics settings only
    const check = byComponent.check.spec.jobTemplate.spec.template.spec;
    t.deepEqual(check.volumes.filter((v: any) => v.secret), [], `${set} check`);
    t.falsy(check.containers[0].volumeMounts.find((m: any) => m.name === 'salesforce-credentials'), `${set} check`);
  }
});

test("NOTES.txt: the kubectl create secret line matches the authMethod's keys; the record-count reminder; the trigger of kubectl's Jobs", async (t) => {
  if (!toolsPresent(t)) return;
  const secretCmd = (notes: string) => /kubectl create secret generic salesforce-credentials -n data \\\n((?: {4}[^\n]*\n?)+)/.exec(notes)?.[1] ?? '';
  const keysOf = (cmd: string) => [...cmd.matchAll(/--from-(?:literal|file)=(\w+)=/g)].map((m) => m[1]).sort();
  const expected: Record<string, string[]> = {
    client_credentials: ['client_id', 'client_secret'],
    jwt: ['client_id', 'private_key', 'username'],
    password: ['client_id', 'password', 'security_token', 'username'],
    refresh_token: ['client_id', 'refresh_token'],
  };
  for (const [method, keys] of Object.entries(expected)) {
    const notes = await renderNotes(t, 'default', '--set', `salesforce.authMethod=${method}`);
    t.deepEqual(keysOf(secretCmd(notes)), keys, `${method}:\n${notes}`);
    t.notRegex(secretCmd(notes), /\\\s*$/, `${method}: the command ends`);
    // secret values come from files, not the shell history
    for (const k of ['client_secret', 'private_key', 'password', 'refresh_token']) t.notRegex(notes, new RegExp(`--from-literal=${k}=`), method);
  }
  // AWS Secrets Manager: the JSON keys, no kubectl create secret
  const sm = await renderNotes(t, 'irsa', '--set', 'salesforce.authMethod=jwt');
  t.regex(sm, /AWS Secrets Manager secret "prod\/sf-user-pipeline\/salesforce" \(a JSON object with those keys\)/);
  t.regex(sm, /Salesforce credentials \(jwt: client_id, username, private_key\)/);
  t.notRegex(sm, /kubectl create secret/);

  // the simulator's record-count range left in salesforce mode: a reminder
  const reminder = /pipeline\.checks\.raw_record_count is still \{min: 4000, max: 6000\}[\s\S]*your org's User count range/;
  t.regex(await renderNotes(t, 'default'), reminder);
  t.notRegex(await renderNotes(t, 'default', '--set', 'pipeline.checks.raw_record_count.min=900', '--set', 'pipeline.checks.raw_record_count.max=1500'), reminder);
  t.notRegex(await renderNotes(t, 'default', '--set', 'pipeline.checks.raw_record_count.min=0'), reminder, 'a min of 0 is a choice, not the default');
  t.notRegex(await renderNotes(t, 'launch'), reminder, 'simulator mode: the default fits');

  // kubectl create job --from copies `--trigger schedule`; only sfpipe launch records manual
  const notes = await renderNotes(t, 'default');
  t.regex(notes, /copies the CronJob's args,\s+`--trigger schedule` included, so its run is recorded with trigger "schedule"; only\s+`sfpipe launch` \(below\) records an ad hoc run as "manual"/);
  // alerts from an existing Secret: what happens when it is missing
  t.regex(await renderNotes(t, 'existing-secret'), /webhook URLs from Secret "sfpipe-alerts", keys slack_webhook_url and\/or webhook_url\s+\(either may be absent\)[\s\S]*SFPIPE_ALERTS_SECRET/);
});

test('the eventLog error says what check really does without it (no alert on every run)', async (t) => {
  if (!toolsPresent(t)) return;
  const r = await template('default', '--set', 'eventLog.s3Location=');
  t.not(r.code, 0);
  t.regex(r.stderr, /^Error: .*salesforce\.mode salesforce needs eventLog\.s3Location .*every asset stays UNKNOWN, which never alerts \(check alerts only on state changes/m);
  t.notRegex(r.stderr, /alerts on every run/);
});

test('values.schema.json rejects out-of-range cron fields, negative quantities, another catalog and freshness mistakes', async (t) => {
  if (!toolsPresent(t)) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sfpipe-schema-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const SCHEMA_ERR = /values don't meet the specifications of the schema/;
  const rejected: [string, string[], RegExp][] = [
    ['minute 61, hour 25', ['--set-string', 'cronjobs.materialize.schedule=61 25 * * *'], /schedule/],
    ['hour 24', ['--set-string', 'cronjobs.check.schedule=0 24 * * *'], /schedule/],
    ['day of month 0', ['--set-string', 'cronjobs.fullRefresh.schedule=0 4 0 * *'], /schedule/],
    ['month 13', ['--set-string', 'cronjobs.fullRefresh.schedule=0 4 1 13 *'], /schedule/],
    ['day of week 7', ['--set-string', 'cronjobs.fullRefresh.schedule=0 4 * * 7'], /schedule/],
    ['step 0', ['--set-string', 'cronjobs.check.schedule=*/0 * * * *'], /schedule/],
    ['4 fields', ['--set-string', 'cronjobs.check.schedule=*/30 * * *'], /schedule/],
    ['6 fields', ['--set-string', 'cronjobs.check.schedule=0 */30 * * * *'], /schedule/],
    ['cpu -1', ['--set', 'resources.requests.cpu=-1'], /cpu/],
    ['memory -1Gi', ['--set-string', 'cronjobs.materialize.resources.limits.memory=-1Gi'], /memory/],
    ['sizeLimit -1Gi', ['--set-string', 'volumes.tmpSizeLimit=-1Gi'], /tmpSizeLimit/],
    ['catalog', ['--set', 'athena.catalog=my_catalog'], /catalog/],
    ['freshness key typo', ['--set-string', 'pipeline.freshness.sf_raw/sf_usr.warn_after=1h'], /sf_raw\/sf_usr/],
    ['freshness cron of 4 fields', ['--set-string', 'pipeline.freshness.sf_raw/sf_user.cron=0 9 * *'], /cron/],
    ['freshness cron hour 24', ['--set-string', 'pipeline.freshness.sf_curated/dim_sf_user_scd.cron=0 24 * * *'], /cron/],
  ];
  for (const [label, args, re] of rejected) {
    const r = await template('default', ...args);
    t.not(r.code, 0, `${label} must fail`);
    t.regex(r.stderr, SCHEMA_ERR, label);
    t.regex(r.stderr, re, label);
  }
  // what a valid schedule may use: lists, ranges, steps, names, ?, the @ macros
  const ok = await rendered(
    t,
    'default',
    '--set-string',
    'cronjobs.materialize.schedule=15\\,45 8-18/2 1-15 JAN-MAR mon-fri',
    '--set-string',
    'cronjobs.fullRefresh.schedule=0 3 ? * SUN',
    '--set-string',
    'cronjobs.check.schedule=@hourly',
    '--set',
    'resources.requests.cpu=0.5',
    '--set-string',
    'pipeline.freshness.sf_staging/stg_sf_user.cron=30 6 * * 1-5',
  );
  const byComponent = byComponentOf(ok);
  t.is(byComponent.materialize.spec.schedule, '15,45 8-18/2 1-15 JAN-MAR mon-fri');
  t.is(byComponent['full-refresh'].spec.schedule, '0 3 ? * SUN');
  t.is(byComponent.check.spec.schedule, '@hourly');
  t.like(parsePipelineConfig('ok:pipeline.yaml', ofKind(ok, 'ConfigMap')[0].data['pipeline.yaml']).freshness['sf_staging/stg_sf_user'], { cron: '30 6 * * 1-5' });
  await assertKubeconform(t, (await template('default', '--set-string', 'cronjobs.materialize.schedule=15\\,45 8-18/2 1-15 JAN-MAR mon-fri')).stdout, 'cron');
  // the schema's freshness keys are the pipeline's asset keys
  const schema = JSON.parse(readFileSync(path.join(CHART, 'values.schema.json'), 'utf8'));
  t.deepEqual(Object.keys(schema.properties.pipeline.properties.freshness.properties).sort(), Object.keys(parseYaml(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')).pipeline.freshness).sort());
});

test('alerts from an existing Secret: SFPIPE_ALERTS_SECRET names it, the URL keys stay optional', async (t) => {
  if (!toolsPresent(t)) return;
  for (const c of ofKind(await rendered(t, 'existing-secret'), 'CronJob')) {
    const env = Object.fromEntries(c.spec.jobTemplate.spec.template.spec.containers[0].env.map((e: any) => [e.name, e]));
    t.deepEqual(env.SFPIPE_ALERTS_SECRET, { name: 'SFPIPE_ALERTS_SECRET', value: 'sfpipe-alerts' }, c.metadata.name);
    t.true(env.SFPIPE_SLACK_WEBHOOK_URL.valueFrom.secretKeyRef.optional, c.metadata.name);
    t.true(env.SFPIPE_ALERT_WEBHOOK_URL.valueFrom.secretKeyRef.optional, c.metadata.name);
  }
  const custom = byComponentOf(await rendered(t, 'default', '--set', 'alerts.existingSecret=team-hooks', '--set', 'alerts.webhookUrlKey=generic'));
  const env = custom.check.spec.jobTemplate.spec.template.spec.containers[0].env;
  t.is(env.find((e: any) => e.name === 'SFPIPE_ALERTS_SECRET').value, 'team-hooks');
  t.deepEqual(env.find((e: any) => e.name === 'SFPIPE_ALERT_WEBHOOK_URL').valueFrom, { secretKeyRef: { name: 'team-hooks', key: 'generic', optional: true } });
  // no alerts Secret: no variable (alerts are off on purpose)
  for (const set of ['default', 'irsa', 'launch'] as const) {
    for (const c of ofKind(await rendered(t, set), 'CronJob')) {
      t.false(c.spec.jobTemplate.spec.template.spec.containers[0].env.some((e: any) => e.name === 'SFPIPE_ALERTS_SECRET'), `${set} ${c.metadata.name}`);
    }
  }
});

test('warehouse.engine trino: the config names the Trino server and the password file; its Secret is mounted in every pod; no Athena env', async (t) => {
  if (!toolsPresent(t)) return;
  const objs = await rendered(t, 'trino');
  const [cm] = ofKind(objs, 'ConfigMap');
  const config = parsePipelineConfig('trino:pipeline.yaml', cm.data['pipeline.yaml']);
  t.like(config.warehouse.trino, { server: 'https://trino.data.svc.cluster.local:8443', catalog: 'lakehouse', rawSchema: 'salesforce_raw', auth: 'password', secret: { file: '/var/run/secrets/trino/password' } });
  const cronJobs = ofKind(objs, 'CronJob');
  t.is(cronJobs.length, 3);
  for (const cj of cronJobs) {
    const pod = cj.spec.jobTemplate.spec.template.spec;
    const mount = pod.containers[0].volumeMounts.find((m: any) => m.name === 'trino-credentials');
    t.like(mount, { mountPath: '/var/run/secrets/trino', readOnly: true }, cj.metadata.name);
    t.like(pod.volumes.find((v: any) => v.name === 'trino-credentials'), { secret: { secretName: 'trino-credentials' } }, cj.metadata.name);
    t.false((pod.containers[0].env ?? []).some((e: any) => /^SFPIPE_ATHENA_/.test(e.name)), `${cj.metadata.name}: no Athena settings`);
  }
});

test('warehouse.engine trino: a missing server, a missing Secret for password/jwt, and a password over http fail at render with the value to set', async (t) => {
  if (!toolsPresent(t)) return;
  const noServer = await template('trino', '--set', 'trino.server=');
  t.not(noServer.code, 0);
  t.regex(noServer.stderr, /warehouse\.engine trino needs trino\.server/);
  const noSecret = await template('trino', '--set', 'trino.existingSecret=', '--set', 'trino.auth=jwt');
  t.not(noSecret.code, 0);
  t.regex(noSecret.stderr, /trino\.auth jwt needs trino\.existingSecret/);
  const plain = await template('trino', '--set', 'trino.server=http://trino:8080');
  t.not(plain.code, 0);
  t.regex(plain.stderr, /trino\.auth password needs an https:\/\/ trino\.server/);
  const none = await rendered(t, 'trino', '--set', 'trino.auth=none', '--set', 'trino.existingSecret=', '--set', 'trino.server=http://trino:8080');
  for (const cj of ofKind(none, 'CronJob')) t.false(cj.spec.jobTemplate.spec.template.spec.volumes.some((v: any) => v.name === 'trino-credentials'));
});

test('ui.enabled: a Deployment and a ClusterIP Service for `sfpipe ui`, hardened like the CronJobs, reading the shared event log; off by default', async (t) => {
  if (!toolsPresent(t)) return;
  for (const set of VALUE_SETS.filter((v) => v !== 'ui')) {
    const objs = await rendered(t, set);
    const ui = (o: K8sObject) => o.metadata.labels?.['app.kubernetes.io/component'] === 'ui';
    t.deepEqual([...ofKind(objs, 'Deployment'), ...ofKind(objs, 'Service')].filter(ui), [], `${set}: no web view unless ui.enabled`);
  }
  const objs = await rendered(t, 'ui');
  const [deployment] = ofKind(objs, 'Deployment');
  const [service] = ofKind(objs, 'Service');
  t.is(deployment.metadata.name, 'sfpipe-sf-user-pipeline-ui');
  t.is(service.spec.type, 'ClusterIP');
  t.deepEqual(service.spec.ports, [{ name: 'http', port: 8642, targetPort: 'http', protocol: 'TCP' }]);
  // The Service selects the UI's pods only, not the CronJobs' (component ui).
  t.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
  t.is(service.spec.selector['app.kubernetes.io/component'], 'ui');
  const labels = deployment.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(service.spec.selector)) t.is(labels[k], v, k);
  const pod = deployment.spec.template.spec;
  const [ui] = pod.containers;
  t.deepEqual(ui.args, ['ui', '--host', '0.0.0.0', '--port', '8642']);
  t.is(ui.ports[0].containerPort, 8642);
  t.like(ui.readinessProbe, { httpGet: { path: '/healthz', port: 'http' } });
  t.is(pod.automountServiceAccountToken, false, 'the UI never calls the Kubernetes API');
  // The same hardening, the same config and event log as the CronJobs; no Salesforce credentials.
  const materialize = byComponentOf(objs).materialize.spec.jobTemplate.spec.template.spec;
  t.deepEqual(pod.securityContext, materialize.securityContext);
  t.deepEqual(ui.securityContext, materialize.containers[0].securityContext);
  t.is(pod.serviceAccountName, materialize.serviceAccountName);
  t.deepEqual(pod.volumes.find((v: any) => v.name === 'config'), materialize.volumes.find((v: any) => v.name === 'config'));
  const env = Object.fromEntries(ui.env.map((e: any) => [e.name, e.value]));
  const cronEnv = Object.fromEntries(materialize.containers[0].env.map((e: any) => [e.name, e.value]));
  for (const k of ['SFPIPE_CONFIG', 'SFPIPE_HOME', 'SFPIPE_ATHENA_REGION', 'SFPIPE_ATHENA_S3_DATA_DIR', 'AWS_REGION']) t.is(env[k], cronEnv[k], k);
  t.false(pod.volumes.some((v: any) => v.name === 'salesforce-credentials'));
  t.false(ui.env.some((e: any) => /WEBHOOK|SECRET/.test(e.name)), 'no alert webhooks either');
  const config = parsePipelineConfig('ui:pipeline.yaml', ofKind(objs, 'ConfigMap')[0].data['pipeline.yaml']);
  t.deepEqual(config.eventLog, parsePipelineConfig('default:pipeline.yaml', ofKind(await rendered(t, 'default'), 'ConfigMap')[0].data['pipeline.yaml']).eventLog);
  t.is(config.ui.baseUrl, 'https://sfpipe.example.com');
  // Trino: its Secret is mounted in the UI's pod too (the history page reads the warehouse).
  const trino = ofKind(await rendered(t, 'trino', '--set', 'ui.enabled=true'), 'Deployment')[0];
  t.like(trino.spec.template.spec.volumes.find((v: any) => v.name === 'trino-credentials'), { secret: { secretName: 'trino-credentials' } });
  // NOTES: how to reach it.
  const notes = await renderNotes(t, 'ui');
  t.regex(notes, /kubectl port-forward -n data svc\/sfpipe-sf-user-pipeline-ui 8642:8642\n\s+# then browse http:\/\/localhost:8642\//);
  t.regex(notes, /Alerts link to its pages under https:\/\/sfpipe\.example\.com/);
  t.notRegex(await renderNotes(t, 'default'), /port-forward/);
  // The schema: a privileged port, a URL with credentials or a query, an unknown key.
  for (const [label, args] of [
    ['port 80', ['--set', 'ui.port=80']],
    ['baseUrl with credentials', ['--set', 'ui.baseUrl=https://u:p@sfpipe.example.com']],
    ['baseUrl with a query', ['--set', 'ui.baseUrl=https://sfpipe.example.com/?a=1']],
    ['unknown key', ['--set', 'ui.replicas=2']],
  ] as const) {
    const r = await template('ui', ...args);
    t.not(r.code, 0, label);
    t.regex(r.stderr, /values don't meet the specifications of the schema/, label);
  }
});

test('alerts by email and escalation, and the docs CronJob: the config parses, the SMTP credentials come from their Secret, docs publishes without Salesforce credentials', async (t) => {
  if (!toolsPresent(t)) return;
  const extra = [
    '--set', 'alerts.email.host=smtp.example.com',
    '--set', 'alerts.email.from=sfpipe@example.com',
    '--set', 'alerts.email.to={data@example.com,ops@example.com}',
    '--set', 'alerts.email.existingSecret=smtp-credentials',
    '--set', 'alerts.escalation.minutes=45',
    '--set', 'alerts.escalation.emailTo={lead@example.com}',
    '--set', 'cronjobs.docs.enabled=true',
    '--set', 'docs.s3Location=s3://acme-docs/sf-user-pipeline/',
  ];
  const r = await template('existing-secret', ...extra);
  t.is(r.code, 0, r.stderr);
  await assertKubeconform(t, r.stdout, 'email+docs');
  const objs = docs(r.stdout);
  const [cm] = ofKind(objs, 'ConfigMap');
  t.notRegex(cm.data['pipeline.yaml'], /smtp-credentials|password: [^{n]/, 'no secret in the ConfigMap');
  const config = parsePipelineConfig('email:pipeline.yaml', cm.data['pipeline.yaml']);
  t.like(config.alerts.email, { host: 'smtp.example.com', port: 587, security: 'starttls', from: 'sfpipe@example.com', to: ['data@example.com', 'ops@example.com'], username: { env: 'SFPIPE_SMTP_USERNAME' }, password: { env: 'SFPIPE_SMTP_PASSWORD' } });
  t.is(config.alerts.escalationMs, 45 * 60_000);
  t.deepEqual(config.alerts.escalation, { slackWebhookUrl: { env: 'SFPIPE_ESCALATION_SLACK_WEBHOOK_URL' }, webhookUrl: { env: 'SFPIPE_ESCALATION_WEBHOOK_URL' }, emailTo: ['lead@example.com'] });
  const jobs = byComponentOf(objs);
  const container = (c: any) => c.spec.jobTemplate.spec.template.spec.containers[0];
  const env = (c: any) => Object.fromEntries(container(c).env.map((e: any) => [e.name, e]));
  t.deepEqual(env(jobs.check).SFPIPE_SMTP_PASSWORD.valueFrom.secretKeyRef, { name: 'smtp-credentials', key: 'password', optional: true });
  t.deepEqual(env(jobs.check).SFPIPE_ESCALATION_WEBHOOK_URL.valueFrom.secretKeyRef, { name: 'sfpipe-alerts', key: 'escalation_webhook_url', optional: true });
  t.deepEqual(container(jobs.docs).args, ['docs', 'generate', '--publish', 's3://acme-docs/sf-user-pipeline/']);
  t.is(jobs.docs.spec.schedule, '30 4 * * *');
  t.false(JSON.stringify(jobs.docs.spec.jobTemplate.spec.template.spec.volumes).includes('sf-credentials'), 'docs mounts no Salesforce credentials');

  const noLocation = await template('existing-secret', '--set', 'cronjobs.docs.enabled=true');
  t.not(noLocation.code, 0);
  t.regex(noLocation.stderr, /cronjobs\.docs\.enabled needs docs\.s3Location/);
  const noRecipients = await template('existing-secret', '--set', 'alerts.email.host=smtp.example.com');
  t.regex(noRecipients.stderr, /alerts\.email\.host needs alerts\.email\.from and alerts\.email\.to/);
  const badAddress = await template('existing-secret', '--set', 'alerts.escalation.emailTo={not-an-address}');
  t.regex(badAddress.stderr, /emailTo/);
});

// --- Environments: values-dev.yaml, values-staging.yaml, values-prod.yaml ---------------------

const STAGES = ['dev', 'staging', 'prod'] as const;
type Stage = (typeof STAGES)[number];
const stageValues = (stage: Stage) => path.join(CHART, `values-${stage}.yaml`);
/** The stage's pipeline.yaml and pod env as `helm template -f values-<stage>.yaml` renders them, parsed as the pods parse it. */
async function stageRendered(t: ExecutionContext, stage: Stage, ...extra: string[]) {
  const r = await helm('template', 'sfp', CHART, '--namespace', 'sfpipe', '-f', stageValues(stage), ...extra);
  t.is(r.code, 0, `values-${stage}.yaml: ${r.stderr}`);
  const objs = docs(r.stdout);
  const env = podEnv(objs);
  const text = ofKind(objs, 'ConfigMap')[0].data['pipeline.yaml'] as string;
  // The pod's env: SFPIPE_ENV and SFPIPE_DEVELOPER from the chart, the SFPIPE_ATHENA_* defaults.
  const parse = () => parsePipelineConfig(`values-${stage}:pipeline.yaml`, text, { env });
  return { r, objs, env, text, parse };
}

for (const stage of STAGES) {
  test(`values-${stage}.yaml: lints, renders, passes values.schema.json and kubeconform, and its pipeline.yaml parses as the ${stage} environment`, async (t) => {
    if (!toolsPresent(t)) return;
    const lint = await helm('lint', CHART, '--strict', '-f', stageValues(stage));
    t.is(lint.code, 0, `${lint.stdout}\n${lint.stderr}`);
    const { r, env, parse } = await stageRendered(t, stage);
    await assertKubeconform(t, r.stdout, `values-${stage}`);
    t.is(env.SFPIPE_ENV, stage);
    const config = parse();
    t.is(config.environment.name, stage);
    t.is(config.salesforce.mode, 'salesforce');
    t.is(config.warehouse.engine, 'athena');
    t.is(config.environment.schemaSuffix, { dev: '_sfp', staging: '_staging', prod: '' }[stage], 'dev: the release name');
  });
}

test('the stages differ where they should: schedules, resources, alerting, sensor, docs', async (t) => {
  if (!toolsPresent(t)) return;
  const [dev, staging, prod] = await Promise.all(STAGES.map((s) => stageRendered(t, s)));
  const jobs = (x: { objs: K8sObject[] }) => byComponentOf(x.objs);
  t.deepEqual(Object.keys(jobs(dev!)).sort(), ['check', 'materialize'], 'dev: no full refresh, sensor or docs');
  t.deepEqual(Object.keys(jobs(staging!)).sort(), ['check', 'full-refresh', 'materialize']);
  t.deepEqual(Object.keys(jobs(prod!)).sort(), ['check', 'docs', 'full-refresh', 'materialize', 'sensor']);
  t.is(jobs(dev!).materialize.spec.schedule, '0 6 * * 1-5');
  t.is(jobs(staging!).materialize.spec.schedule, '0 1 * * *', 'staging runs before prod');
  t.is(jobs(prod!).materialize.spec.schedule, '0 2 * * *');
  const memory = (x: { objs: K8sObject[] }) => jobs(x).materialize.spec.jobTemplate.spec.template.spec.containers[0].resources.limits.memory;
  t.deepEqual([memory(dev!), memory(staging!), memory(prod!)], ['512Mi', '2Gi', '2Gi'], 'staging has prod-like resources');
  const alerts = (x: { parse: () => ReturnType<typeof parsePipelineConfig> }) => x.parse().alerts;
  t.deepEqual(alerts(dev!).channels, [], 'dev: no alerts');
  t.deepEqual(alerts(staging!).channels, ['slack']);
  t.deepEqual(alerts(prod!).channels, ['email', 'slack']);
  t.is(alerts(staging!).escalationMs, 0, 'staging never escalates');
  t.is(alerts(prod!).escalationMs, 30 * 60_000);
});

test("values-dev.yaml and values-staging.yaml protect every location values-prod.yaml writes: pointed at one, the pipeline refuses to start, naming the setting and the fix", async (t) => {
  if (!toolsPresent(t)) return;
  const prod = (await stageRendered(t, 'prod')).parse();
  const prodLocations = writtenLocations(prod);
  t.true(prodLocations.length >= 8, 'S3 prefixes, the raw database, the dbt databases and the event log');
  for (const stage of ['dev', 'staging'] as const) {
    const { parse } = await stageRendered(t, stage);
    const protectedLocs = parse().environment.protectedLocations.map((p) => parseLocation(p)!);
    for (const w of prodLocations) {
      t.true(protectedLocs.some((p) => overlaps(w.location, p)), `${stage} protects prod's ${formatLocation(w.location)} (${w.what})`);
    }
    // The values a careless copy of prod's would give: each refused at start.
    const cases: [string[], RegExp][] = [
      [['--set', `athena.s3DataDir=${prod.warehouse.athena!.dbtDataLocation}`], /warehouse\.athena\.table_location \(line \d+\): s3:\/\/acme-sfpipe-prod-lake\/sf-user-pipeline\/sf_raw_\w+\/ \(the raw tables' prefix\) is a prod location/],
      [['--set', `athena.rawDatabase=${prod.warehouse.athena!.database}`], /warehouse\.athena\.database \(line \d+\): glue:sf_raw \(the raw database\) is a prod location/],
      [['--set', `eventLog.s3Location=${(prod.eventLog as { location: string }).location}`], /event_log\.s3_location \(line \d+\): s3:\/\/acme-sfpipe-prod-state\/event-log\/ \(the event log\) is a prod location/],
      [['--set-string', 'environment.schemaSuffix='], /warehouse\.schema_suffix \(line \d+\): glue:sf_staging \(dbt's database sf_staging\) is a prod location/],
    ];
    for (const [extra, expected] of cases) {
      const bad = await stageRendered(t, stage, ...extra);
      const err = t.throws(() => bad.parse(), { instanceOf: Error }, `${stage} ${extra.join(' ')}`);
      t.regex(err!.message, expected, `${stage} ${extra.join(' ')}`);
      t.regex(err!.message, new RegExp(`this is the ${stage} environment: a ${stage} run must never write there\\. Fix: give ${stage} `));
    }
  }
});

test('values.schema.json checks environment: the stage name, the suffix and the protected locations', async (t) => {
  if (!toolsPresent(t)) return;
  for (const [set, re] of [
    [['--set', 'environment.name=qa'], /environment\.name|name/],
    [['--set', 'environment.schemaSuffix=-x'], /schemaSuffix/],
    [['--set', 'environment.protectedLocations={prod-lake}'], /protectedLocations/],
    [['--set', 'environment.protectedLocatons={s3://x/}'], /protectedLocatons/],
  ] as [string[], RegExp][]) {
    const r = await template('default', ...set);
    t.not(r.code, 0, set.join(' '));
    t.regex(r.stderr, /values don't meet the specifications of the schema/, set.join(' '));
    t.regex(r.stderr, re, set.join(' '));
  }
});
