import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Job } from '@kubernetes/client-node';
import { WaitTimeoutError } from '../runtime/errors.js';
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
  /** With wait: how long to follow the Job once it is created; past it, WaitTimeoutError (the Job keeps running). */
  waitTimeoutMs?: number;
  pollMs?: number;
  /**
   * When `cronJob` does not exist: which of the chart's CronJobs to suggest, by component
   * (`materialize`, `full-refresh`); absent: any of them.
   */
  suggest?: ChartComponent;
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
  let cronJob;
  try {
    cronJob = await batch.readNamespacedCronJob({ name: o.cronJob, namespace: ctx.namespace });
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) throw await cronJobNotFound(ctx, o.cronJob, o.suggest);
    throw err;
  }
  const body = jobFromCronJob(cronJob, o.jobName ?? manualJobName(o.cronJob), o.args ? { args: o.args } : {});
  const job = await batch.createNamespacedJob({ namespace: ctx.namespace, body });
  const name = job.metadata!.name!;
  o.log.info(`created job ${ctx.namespace}/${name} from cronjob/${o.cronJob}`);
  if (!o.wait) return { job, succeeded: null };

  const core = ctx.kc.makeApiClient(k8s.CoreV1Api);
  const pollMs = o.pollMs ?? 2000;
  const streamed = new Set<string>();
  // The wait ends at a stop signal or at the timeout, counted from the Job's creation; either one
  // also ends a pod log being streamed.
  const timeout = o.waitTimeoutMs === undefined ? null : AbortSignal.timeout(o.waitTimeoutMs);
  const signals = [o.signal, timeout].filter((x): x is AbortSignal => x !== undefined && x !== null);
  const stop = signals.length > 0 ? AbortSignal.any(signals) : undefined;
  const keepsRunning = `it keeps running; delete it with kubectl delete job ${name} -n ${ctx.namespace}`;
  const stopped = (): Error =>
    timeout?.aborted
      ? new WaitTimeoutError(`job ${name} did not end within ${o.waitTimeoutMs! / 1000}s of its creation (${keepsRunning})`)
      : new Error(`stopped waiting for job ${name} (${keepsRunning})`);
  // A stalled API server answers neither: the stop or the timeout ends the wait all the same.
  const untilStopped = <T>(request: Promise<T>): Promise<T> => (stop ? raceAbort(request, stop, stopped) : request);
  for (;;) {
    if (stop?.aborted) throw stopped();
    const current = await untilStopped(batch.readNamespacedJob({ name, namespace: ctx.namespace }));
    const pods = await untilStopped(core.listNamespacedPod({ namespace: ctx.namespace, labelSelector: `job-name=${name}` }));
    for (const pod of pods.items) {
      const podName = pod.metadata!.name!;
      const phase = pod.status?.phase;
      if (streamed.has(podName) || (phase !== 'Running' && phase !== 'Succeeded' && phase !== 'Failed')) continue;
      streamed.add(podName);
      await streamPodLog(ctx, podName, o.out, o.log, stop);
      if (stop?.aborted) throw stopped();
    }
    const conditions = current.status?.conditions ?? [];
    if (conditions.some((c) => c.type === 'Complete' && c.status === 'True')) return { job: current, succeeded: true };
    if (conditions.some((c) => c.type === 'Failed' && c.status === 'True')) return { job: current, succeeded: false };
    await sleep(pollMs, undefined, stop ? { signal: stop } : {}).catch(() => undefined);
  }
}

/** `request`, or `onAbort()` thrown as soon as `signal` aborts (the request is left to settle unseen). */
function raceAbort<T>(request: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  if (signal.aborted) {
    request.catch(() => undefined);
    return Promise.reject(onAbort());
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    request.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}

/** The chart's CronJobs: `<fullname>-<component>`. */
export type ChartComponent = 'materialize' | 'full-refresh' | 'check';

/** The variable that names the CronJob `sfpipe launch` copies by default (the chart sets it in its pods). */
export const CRONJOB_ENV: Record<Exclude<ChartComponent, 'check'>, string> = {
  materialize: 'SFPIPE_MATERIALIZE_CRONJOB',
  'full-refresh': 'SFPIPE_FULL_REFRESH_CRONJOB',
};

/** Labels helm/sf-user-pipeline puts on its CronJobs (see templates/cronjobs.yaml and _helpers.tpl). */
const PIPELINE_LABEL = 'sf-user-pipeline.io/pipeline';
const NAME_LABEL = 'app.kubernetes.io/name';
const COMPONENT_LABEL = 'app.kubernetes.io/component';
const CHART_NAME = 'sf-user-pipeline';

/** A CronJob to copy that does not exist; `candidates` are the chart's CronJobs found instead (null: they could not be listed). */
export class CronJobNotFoundError extends Error {
  override name = 'CronJobNotFoundError';
  constructor(
    message: string,
    readonly cronJob: string,
    readonly namespace: string,
    readonly candidates: string[] | null,
  ) {
    super(message);
  }
}

/**
 * Says which namespace was searched, that `helm install` names the CronJobs after the release,
 * and — when listing CronJobs is allowed (the chart's own ServiceAccount may only get them) —
 * which of the chart's CronJobs there are (those of the wanted component if any, else all).
 */
async function cronJobNotFound(ctx: KubeContext, name: string, suggest: ChartComponent | undefined): Promise<CronJobNotFoundError> {
  const k8s = await import('@kubernetes/client-node');
  const component = suggest ?? 'materialize';
  const naming =
    `helm install names the chart's CronJobs after the release: <release>-${CHART_NAME}-${component} ` +
    `(<release>-${component} when the release name contains "${CHART_NAME}")`;
  const how = `pass --cronjob <name>${suggest && suggest !== 'check' ? ` (or set ${CRONJOB_ENV[suggest]})` : ''}`;
  let ours: { name: string; component: string | undefined }[] | null;
  try {
    const list = await ctx.kc.makeApiClient(k8s.BatchV1Api).listNamespacedCronJob({ namespace: ctx.namespace });
    ours = list.items
      .filter((c) => c.metadata?.labels?.[PIPELINE_LABEL] !== undefined || c.metadata?.labels?.[NAME_LABEL] === CHART_NAME)
      .map((c) => {
        const n = c.metadata!.name!;
        const label = c.metadata?.labels?.[COMPONENT_LABEL];
        // Without a component label, the name's suffix says (longest first: "-full-refresh" ends with neither other).
        const fromName = (['full-refresh', 'materialize', 'check'] as const).find((s) => n.endsWith(`-${s}`));
        return { name: n, component: label ?? fromName };
      });
  } catch {
    ours = null; // forbidden (list is not granted to the chart's ServiceAccount) or any other failure: the generic hint
  }
  const head = `CronJob "${name}" not found in namespace "${ctx.namespace}"`;
  if (ours === null) {
    return new CronJobNotFoundError(`${head}. ${naming}; find yours with kubectl get cronjobs -n ${ctx.namespace} and ${how}`, name, ctx.namespace, null);
  }
  // With --full-refresh and no full-refresh CronJob (cronjobs.fullRefresh.enabled=false), the chart copies the materialize one.
  const order: ChartComponent[] = suggest === 'full-refresh' ? ['full-refresh', 'materialize'] : suggest ? [suggest] : [];
  let candidates = ours.map((c) => c.name);
  for (const want of order) {
    const found = ours.filter((c) => c.component === want).map((c) => c.name);
    if (found.length > 0) {
      candidates = found;
      break;
    }
  }
  candidates.sort();
  if (ours.length === 0) {
    return new CronJobNotFoundError(
      `${head}, nor any CronJob of the ${CHART_NAME} chart (another namespace? pass -n <namespace>). ${naming}; ${how}`,
      name,
      ctx.namespace,
      [],
    );
  }
  return new CronJobNotFoundError(
    `${head}. ${naming}; did you mean ${candidates.map((c) => `--cronjob ${c}`).join(' or ')}?` +
      (suggest && suggest !== 'check' ? ` (${CRONJOB_ENV[suggest]} makes it the default)` : ''),
    name,
    ctx.namespace,
    candidates,
  );
}

async function streamPodLog(ctx: KubeContext, pod: string, out: NodeJS.WritableStream, log: Logger, signal: AbortSignal | undefined): Promise<void> {
  const k8s = await import('@kubernetes/client-node');
  const { PassThrough } = await import('node:stream');
  const sink = new PassThrough();
  sink.pipe(out, { end: false });
  const ended = new Promise<void>((resolve) => sink.on('end', resolve));
  const stopped = () => new Error('stopped');
  // A stop or the wait's timeout ends the streaming here, also while the request is answered; the pod runs on.
  const logRequest = new k8s.Log(ctx.kc).log(ctx.namespace, pod, '', sink, { follow: true, pretty: false, timestamps: false });
  try {
    await (signal ? raceAbort(logRequest, signal, stopped) : logRequest);
    await (signal ? raceAbort(ended, signal, stopped) : ended);
  } catch (err) {
    if (!signal?.aborted) log.warn(`could not stream the log of pod ${pod}: ${(err as Error).message}`);
  } finally {
    if (signal?.aborted) void logRequest.then((request) => request.abort(), () => undefined);
    sink.unpipe(out);
  }
}
