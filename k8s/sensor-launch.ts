import type { Logger } from '../runtime/logging.js';
import type { LaunchOutcome, LaunchRequest } from '../runtime/sensors.js';
import { manualRunArgs } from './job-from-cronjob.js';
import { kubeErrorMessage } from './cli.js';

/** The Job of a sensor's run: named after its run id, so a second launch of it is refused (409). */
export function sensorJobName(cronJob: string, runId: string): string {
  const id = runId.replace(/-/g, '').slice(0, 12);
  return `${cronJob.slice(0, 63 - id.length - 8)}-sensor-${id}`;
}

/**
 * A sensor's run in the cluster: a Job from the materialize CronJob as `sfpipe launch` makes it,
 * with the args of a manual run but the trigger sensor:<name> and the run key's run id. Idempotent
 * per run id: the Job's name is derived from it and an existing Job is ALREADY_LAUNCHED.
 */
export async function launchSensorRun(req: LaunchRequest, log: Logger, opts: { cronJob?: string; namespace?: string; kubeconfig?: string } = {}): Promise<LaunchOutcome> {
  const [{ loadKubeContext }, { launchFromCronJob }] = await Promise.all([import('./kube-config.js'), import('./launch.js')]);
  const kube = await loadKubeContext({ ...(opts.namespace ? { namespace: opts.namespace } : {}), ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}) });
  const cronJob = opts.cronJob ?? (process.env.SFPIPE_MATERIALIZE_CRONJOB || 'sf-user-pipeline-materialize');
  const jobName = sensorJobName(cronJob, req.runId);
  try {
    await launchFromCronJob(kube, {
      cronJob,
      jobName,
      args: (cronJobArgs) => manualRunArgs(cronJobArgs, { select: req.selection, trigger: req.trigger, runId: req.runId }),
      suggest: 'materialize',
      wait: false,
      out: process.stderr,
      log,
    });
    return { status: 'LAUNCHED', detail: `job.batch/${jobName} created in ${kube.namespace} from cronjob/${cronJob}` };
  } catch (err) {
    if ((err as { code?: unknown }).code === 409) return { status: 'ALREADY_LAUNCHED', detail: `job.batch/${jobName} exists in ${kube.namespace}` };
    throw new Error(kubeErrorMessage(err));
  }
}

/** The Lease of a sensor's evaluation lock: `<prefix>-<name>` (the chart sets the prefix and grants that name). */
export function sensorLeaseName(sensorName: string): string {
  return `${process.env.SFPIPE_SENSOR_LEASE_PREFIX || 'sf-user-pipeline-sensor'}-${sensorName.replace(/_/g, '-')}`;
}
