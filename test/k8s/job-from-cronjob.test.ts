import test from 'ava';
import type { V1CronJob } from '@kubernetes/client-node';
import { jobFromCronJob, manualJobName, manualRunArgs } from '../../k8s/job-from-cronjob.js';

const cronJob: V1CronJob = {
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'sfp-materialize', namespace: 'data', uid: '1234-abcd', labels: { 'app.kubernetes.io/name': 'sf-user-pipeline' } },
  spec: {
    schedule: '0 2 * * *',
    jobTemplate: {
      metadata: { labels: { 'app.kubernetes.io/component': 'materialize' }, annotations: { 'team': 'data' } },
      spec: {
        backoffLimit: 1,
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'sfpipe', image: 'sfpipe:1', args: ['materialize', '--trigger', 'schedule'] }] } },
      },
    },
  },
};

test('the Job copies the jobTemplate spec, labels and annotations, adds instantiate: manual and a controller ownerReference', (t) => {
  const job = jobFromCronJob(cronJob, 'sfp-materialize-manual-1');
  t.deepEqual(job.metadata, {
    name: 'sfp-materialize-manual-1',
    annotations: { 'cronjob.kubernetes.io/instantiate': 'manual', team: 'data' },
    labels: { 'app.kubernetes.io/component': 'materialize' },
    ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'sfp-materialize', uid: '1234-abcd', controller: true }],
  });
  t.deepEqual(job.spec, cronJob.spec!.jobTemplate.spec);
  t.not(job.spec, cronJob.spec!.jobTemplate.spec, 'a copy, not the same object');
});

test('a selection replaces the container args without touching the CronJob', (t) => {
  const job = jobFromCronJob(cronJob, 'x', { args: ['materialize', '--select', 'sf_raw/sf_user'] });
  t.deepEqual(job.spec!.template.spec!.containers[0]!.args, ['materialize', '--select', 'sf_raw/sf_user']);
  t.deepEqual(cronJob.spec!.jobTemplate.spec!.template.spec!.containers[0]!.args, ['materialize', '--trigger', 'schedule']);
});

test('a CronJob not read from the server (no uid) is refused; job names stay within 63 characters', (t) => {
  t.throws(() => jobFromCronJob({ ...cronJob, metadata: { name: 'x' } }, 'y'), { message: /needs a name and uid/ });
  const name = manualJobName('a'.repeat(80));
  t.true(name.length <= 63);
  t.regex(name, /-manual-[0-9a-z]+$/);
});

test('an ad hoc run keeps the CronJob\'s flags, is recorded as manual, and takes its own selection and --full-refresh', (t) => {
  const scheduled = ['materialize', '--trigger', 'schedule', '--lock-timeout', '300', '--select', 'tag:nightly'];
  t.deepEqual(manualRunArgs(scheduled), ['materialize', '--lock-timeout', '300', '--trigger', 'manual']);
  t.deepEqual(manualRunArgs(scheduled, { select: 'sf_raw/sf_user', fullRefresh: true }), [
    'materialize',
    '--lock-timeout',
    '300',
    '--trigger',
    'manual',
    '--select',
    'sf_raw/sf_user',
    '--full-refresh',
  ]);
  t.deepEqual(
    manualRunArgs(['materialize', '--full-refresh', '--trigger=schedule', '--select=x']),
    ['materialize', '--trigger', 'manual', '--full-refresh'],
    'the full-refresh CronJob\'s run stays a full refresh',
  );
  t.deepEqual(manualRunArgs(['check', '--json']), ['check', '--json'], 'the check CronJob is copied unchanged');
  t.deepEqual(
    manualRunArgs(['--log-level', 'debug', 'materialize', '--trigger', 'schedule'], { select: 'group:raw' }),
    ['--log-level', 'debug', 'materialize', '--trigger', 'manual', '--select', 'group:raw'],
    'global options before the command are kept',
  );
  t.throws(() => manualRunArgs(['check'], { select: 'x' }), { message: /runs `check`, not materialize: --select and --full-refresh apply to materialize CronJobs only/ });
  t.deepEqual(manualRunArgs([]), ['materialize', '--trigger', 'manual'], 'an image default command becomes an explicit materialize');
  const job = jobFromCronJob(cronJob, 'x', { args: (a) => manualRunArgs(a, { select: 'group:raw' }) });
  t.deepEqual(job.spec!.template.spec!.containers[0]!.args, ['materialize', '--trigger', 'manual', '--select', 'group:raw']);
});
