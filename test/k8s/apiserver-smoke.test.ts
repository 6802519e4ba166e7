/**
 * Smoke test against a real kube-apiserver + etcd (no controllers): what
 * `kubectl create job X --from=cronjob/C` produces (docs/facts.md).
 *
 * Needs `.tools/bin/{etcd,kube-apiserver,kubectl}` (test/services/k8s/build.sh).
 * Without them ava reports the test as skipped — unless SFPIPE_REQUIRE_K8S is set (CI), in
 * which case missing binaries fail it.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { hasApiServerBinaries, k8sToolsBin, kubectlPath, startApiServer } from '../services/k8s/apiserver.js';
import { clusterTest, missingTools } from './fixtures/cluster.js';

const execFileP = promisify(execFile);

interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec?: Record<string, unknown>;
}

const NS = 'sfpipe-smoke';
const CRONJOB = 'sfpipe-users';

const cronJobYaml = `apiVersion: batch/v1
kind: CronJob
metadata:
  name: ${CRONJOB}
  namespace: ${NS}
spec:
  schedule: "17 * * * *"
  timeZone: "Etc/UTC"
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 300
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 3
  jobTemplate:
    metadata:
      labels:
        app.kubernetes.io/name: sfpipe
        app.kubernetes.io/component: materialize
      annotations:
        sfpipe.io/selection: "group:users"
    spec:
      backoffLimit: 1
      activeDeadlineSeconds: 3600
      ttlSecondsAfterFinished: 86400
      template:
        spec:
          restartPolicy: Never
          securityContext:
            runAsNonRoot: true
            seccompProfile:
              type: RuntimeDefault
          containers:
            - name: sfpipe
              image: registry.example.invalid/sfpipe:test
              args: ["materialize", "--select", "group:users"]
              securityContext:
                allowPrivilegeEscalation: false
                readOnlyRootFilesystem: true
                capabilities:
                  drop: ["ALL"]
`;

clusterTest()('kubectl create job --from=cronjob sets ownerReference and instantiate=manual', async (t) => {
  t.timeout(240_000);
  const bin = k8sToolsBin();
  const missing = missingTools();
  if (missing.length > 0) {
    t.fail(`SFPIPE_REQUIRE_K8S is set but ${missing.join(', ')} are missing in ${bin}; build them with make tools`);
    return;
  }
  t.true(hasApiServerBinaries(bin));

  const started = Date.now();
  const api = await startApiServer();
  t.teardown(() => api.stop());
  t.log(`apiserver ready at ${api.server} in ${Date.now() - started} ms`);

  const kubectl = async (...args: string[]): Promise<string> => {
    try {
      const { stdout } = await execFileP(kubectlPath(bin), ['--kubeconfig', api.kubeconfigPath, ...args], {
        maxBuffer: 16 * 1024 * 1024,
      });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')} failed: ${e.stderr || e.message}`);
    }
  };

  const version = JSON.parse(await kubectl('version', '-o', 'json')) as {
    clientVersion?: { gitVersion?: string };
    serverVersion?: { gitVersion?: string };
  };
  t.log(`kubectl ${version.clientVersion?.gitVersion}, server ${version.serverVersion?.gitVersion}`);
  t.truthy(version.serverVersion?.gitVersion);

  // Admin is system:masters through the client cert.
  t.is((await kubectl('auth', 'can-i', '*', '*', '--all-namespaces')).trim(), 'yes');

  await kubectl('create', 'namespace', NS);
  const cronFile = path.join(api.dir, 'cronjob.yaml');
  await writeFile(cronFile, cronJobYaml);
  await kubectl('apply', '-f', cronFile);
  const cron = JSON.parse(await kubectl('-n', NS, 'get', `cronjob/${CRONJOB}`, '-o', 'json')) as K8sObject;
  t.is(cron.kind, 'CronJob');
  t.truthy(cron.metadata.uid);

  await kubectl('-n', NS, 'create', 'job', 'smoke', `--from=cronjob/${CRONJOB}`);
  const job = JSON.parse(await kubectl('-n', NS, 'get', 'job', 'smoke', '-o', 'json')) as K8sObject;

  t.is(job.kind, 'Job');
  t.is(job.apiVersion, 'batch/v1');
  t.is(job.metadata.annotations?.['cronjob.kubernetes.io/instantiate'], 'manual');
  // jobTemplate metadata is copied.
  t.is(job.metadata.annotations?.['sfpipe.io/selection'], 'group:users');
  t.is(job.metadata.labels?.['app.kubernetes.io/component'], 'materialize');

  const owners = job.metadata.ownerReferences ?? [];
  t.is(owners.length, 1);
  const owner = owners[0]!;
  t.like(owner, { apiVersion: 'batch/v1', kind: 'CronJob', name: CRONJOB, uid: cron.metadata.uid, controller: true });
  // kubectl deliberately does not set blockOwnerDeletion (it would need cronjobs/finalizers RBAC).
  t.is(owner.blockOwnerDeletion, undefined);

  // jobTemplate.spec is copied as the Job spec.
  t.is(job.spec?.['backoffLimit'], 1);
  t.is(job.spec?.['activeDeadlineSeconds'], 3600);
  t.is(job.spec?.['ttlSecondsAfterFinished'], 86400);
});
