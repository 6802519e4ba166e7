import type { V1Job } from '@kubernetes/client-node';
import type { Logger } from '../runtime/logging.js';
import { jobFromCronJob, manualJobName } from './job-from-cronjob.js';
import type { KubeContext } from './kube-config.js';

export interface LaunchOptions {
  cronJob: string;
  /** The container args of the ad hoc run, or a map of the CronJob's (defaults to the CronJob's). */
  args?: string[] | ((cronJobArgs: string[]) => string[]);
  jobName?: string;
  wait: boolean;
  /** Pod log lines go here when waiting. */
  out: NodeJS.WritableStream;
  log: Logger;
  signal?: AbortSignal;
  pollMs?: number;
}

export interface LaunchResult {
  job: V1Job;
  /** With wait: whether the Job succeeded. */
  succeeded: boolean | null;
}

/** Creates a Job from a CronJob as `kubectl create job --from=cronjob/…` does; optionally follows it to its end. */
export async function launchFromCronJob(ctx: KubeContext, o: LaunchOptions): Promise<LaunchResult> {
  const k8s = await import('@kubernetes/client-node');
  const batch = ctx.kc.makeApiClient(k8s.BatchV1Api);
  const cronJob = await batch.readNamespacedCronJob({ name: o.cronJob, namespace: ctx.namespace });
  const body = jobFromCronJob(cronJob, o.jobName ?? manualJobName(o.cronJob), o.args ? { args: o.args } : {});
  const job = await batch.createNamespacedJob({ namespace: ctx.namespace, body });
  const name = job.metadata!.name!;
  o.log.info(`created job ${ctx.namespace}/${name} from cronjob/${o.cronJob}`);
  if (!o.wait) return { job, succeeded: null };

  const core = ctx.kc.makeApiClient(k8s.CoreV1Api);
  const pollMs = o.pollMs ?? 2000;
  const streamed = new Set<string>();
  for (;;) {
    if (o.signal?.aborted) throw new Error(`stopped waiting for job ${name} (it keeps running; delete it with kubectl delete job ${name} -n ${ctx.namespace})`);
    const current = await batch.readNamespacedJob({ name, namespace: ctx.namespace });
    const pods = await core.listNamespacedPod({ namespace: ctx.namespace, labelSelector: `job-name=${name}` });
    for (const pod of pods.items) {
      const podName = pod.metadata!.name!;
      const phase = pod.status?.phase;
      if (streamed.has(podName) || (phase !== 'Running' && phase !== 'Succeeded' && phase !== 'Failed')) continue;
      streamed.add(podName);
      await streamPodLog(ctx, podName, o.out, o.log);
    }
    const conditions = current.status?.conditions ?? [];
    if (conditions.some((c) => c.type === 'Complete' && c.status === 'True')) return { job: current, succeeded: true };
    if (conditions.some((c) => c.type === 'Failed' && c.status === 'True')) return { job: current, succeeded: false };
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function streamPodLog(ctx: KubeContext, pod: string, out: NodeJS.WritableStream, log: Logger): Promise<void> {
  const k8s = await import('@kubernetes/client-node');
  const { PassThrough } = await import('node:stream');
  const sink = new PassThrough();
  sink.pipe(out, { end: false });
  try {
    const done = new Promise<void>((resolve) => sink.on('end', resolve));
    await new k8s.Log(ctx.kc).log(ctx.namespace, pod, '', sink, { follow: true, pretty: false, timestamps: false });
    await done;
  } catch (err) {
    log.warn(`could not stream the log of pod ${pod}: ${(err as Error).message}`);
  }
}
