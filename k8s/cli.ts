import { Command } from 'commander';
import { UsageError, WaitTimeoutError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logging.js';
import type { Pipeline, PipelineContext } from '../runtime/pipeline.js';

/**
 * `sfpipe launch`: an ad hoc run in the cluster, made from a CronJob exactly as kubectl does.
 * `definitions` are the pipeline's (an array or a loader), for checking --select locally.
 */
export function launchCommand(ctx: () => PipelineContext, setExitCode: (code: number) => void, pipeline: Pick<Pipeline, 'definitions' | 'incompleteDefinitions'>): Command {
  return new Command('launch')
    .description('Create a Job from a CronJob (like kubectl create job --from=cronjob/…), optionally with a selection, and follow it with --wait')
    .option(
      '--cronjob <name>',
      'the CronJob to copy (default: $SFPIPE_MATERIALIZE_CRONJOB or sf-user-pipeline-materialize; with --full-refresh $SFPIPE_FULL_REFRESH_CRONJOB or sf-user-pipeline-full-refresh, whose deadline fits a rebuild)',
    )
    .option('-s, --select <expr>', 'asset selection for the ad hoc run (checked here first, as materialize checks it)')
    .option('--full-refresh', 'rebuild from scratch', false)
    .option('--wait', 'follow the Job to its end, stream its log, exit with its result', false)
    .option('--wait-timeout <seconds>', 'with --wait: stop following the Job this many seconds after creating it and exit 124 (the Job keeps running)')
    .option('-n, --namespace <ns>', 'namespace (default: the in-cluster or kubeconfig namespace)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: in-cluster config, else $KUBECONFIG / ~/.kube/config)')
    .option('--job-name <name>', 'name of the Job (default: <cronjob>-manual-<id>)')
    .option('--json', 'print {job, namespace, cronjob, args, succeeded} as JSON on stdout (with --wait the Job log goes to stderr)', false)
    .addHelpText(
      'after',
      [
        '',
        'Which CronJob: `helm install RELEASE ./helm/sf-user-pipeline` names the',
        "chart's CronJobs after the release: RELEASE-sf-user-pipeline-materialize,",
        '-full-refresh and -check (RELEASE-materialize, … when RELEASE contains',
        '"sf-user-pipeline"). From outside the cluster pass --cronjob NAME, or set',
        "SFPIPE_MATERIALIZE_CRONJOB / SFPIPE_FULL_REFRESH_CRONJOB; the chart's pods",
        "set both to their release's CronJobs, so in a pod the defaults are right.",
        "A CronJob that is not found is reported with the chart's CronJobs in the",
        'namespace when listing CronJobs is allowed.',
        '',
      ].join('\n'),
    )
    .action(async (opts: { cronjob?: string; select?: string; fullRefresh: boolean; wait: boolean; waitTimeout?: string; namespace?: string; kubeconfig?: string; jobName?: string; json: boolean }) => {
      const waitTimeoutMs = waitTimeout(opts);
      const { loadKubeContext } = await import('./kube-config.js');
      const { launchFromCronJob } = await import('./launch.js');
      const { manualRunArgs } = await import('./job-from-cronjob.js');
      // First: a selection the pod's materialize would refuse creates no Job (exit 2).
      if (opts.select !== undefined) await checkSelection(opts.select, pipeline, ctx().logger);
      const kube = await loadKubeContext({ ...(opts.namespace ? { namespace: opts.namespace } : {}), ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}) });
      const cronJob =
        opts.cronjob ??
        (opts.fullRefresh
          ? process.env.SFPIPE_FULL_REFRESH_CRONJOB || 'sf-user-pipeline-full-refresh'
          : process.env.SFPIPE_MATERIALIZE_CRONJOB || 'sf-user-pipeline-materialize');
      const args = (cronJobArgs: string[]) => manualRunArgs(cronJobArgs, { select: opts.select, fullRefresh: opts.fullRefresh });
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        const result = await launchFromCronJob(kube, {
          cronJob,
          args,
          ...(opts.jobName ? { jobName: opts.jobName } : {}),
          // A defaulted CronJob that is missing: suggest the chart's CronJob of that kind.
          ...(opts.cronjob === undefined ? { suggest: opts.fullRefresh ? 'full-refresh' : 'materialize' } : {}),
          wait: opts.wait,
          ...(waitTimeoutMs === undefined ? {} : { waitTimeoutMs }),
          out: opts.json ? process.stderr : process.stdout,
          log: ctx().logger,
          signal: controller.signal,
        });
        const job = result.job.metadata!.name!;
        if (opts.json) {
          const containerArgs = result.job.spec?.template.spec?.containers[0]?.args ?? null;
          process.stdout.write(`${JSON.stringify({ job, namespace: kube.namespace, cronjob: cronJob, args: containerArgs, succeeded: result.succeeded })}\n`);
        } else {
          process.stdout.write(`job.batch/${job} created in ${kube.namespace}${result.succeeded === null ? '' : result.succeeded ? ' and succeeded' : ' and failed'}\n`);
        }
        setExitCode(result.succeeded === false ? 1 : 0);
      } catch (err) {
        if (err instanceof WaitTimeoutError) throw err;
        throw new Error(kubeErrorMessage(err));
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}

/** The longest --wait-timeout: Node's timers take at most 2^31 - 1 ms (24.8 days). */
const MAX_WAIT_TIMEOUT_SECONDS = 2_147_483;

/** --wait-timeout in milliseconds: whole seconds, with --wait (UsageError, exit 2, otherwise). */
function waitTimeout(opts: { wait: boolean; waitTimeout?: string }): number | undefined {
  if (opts.waitTimeout === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(opts.waitTimeout) || Number(opts.waitTimeout) > MAX_WAIT_TIMEOUT_SECONDS) {
    throw new UsageError(`--wait-timeout "${opts.waitTimeout}" is not a positive whole number of seconds up to ${MAX_WAIT_TIMEOUT_SECONDS} (e.g. --wait-timeout 3600)`);
  }
  if (!opts.wait) throw new UsageError('--wait-timeout limits --wait: add --wait, or drop --wait-timeout');
  return Number(opts.waitTimeout) * 1000;
}

/**
 * Refuses (UsageError, exit 2) what `sfpipe materialize --select` would refuse in the pod: a
 * syntax error, a blank selection, one matching no asset or only external ones. When some
 * definitions could not be loaded here (no dbt on this laptop), only the syntax is judged: the
 * pod, which has them all, judges the rest.
 */
export async function checkSelection(select: string, pipeline: Pick<Pipeline, 'definitions' | 'incompleteDefinitions'>, log: Logger): Promise<void> {
  const [{ buildAssetGraph }, { parseSelection, selectMaterializable }] = await Promise.all([import('../runtime/registry.js'), import('../runtime/selection/index.js')]);
  const { definitions } = pipeline;
  const graph = buildAssetGraph(Array.isArray(definitions) ? definitions : await definitions());
  const incomplete = pipeline.incompleteDefinitions?.() ?? null;
  if (!incomplete) {
    selectMaterializable(select, graph);
    return;
  }
  if (select.trim() !== '*') parseSelection(select); // blank or malformed: refused all the same
  log.warn(`the selection is checked for its syntax only, not against the assets: ${incomplete}; the Job's pod checks it against every asset`);
}

/** The API server's own message (e.g. `cronjobs.batch "x" not found`) instead of the client's dump. */
export function kubeErrorMessage(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e?.code === 'number' && e.body !== undefined) {
    try {
      const body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as { message?: string; reason?: string };
      if (body?.message) return `Kubernetes API ${e.code}${body.reason ? ` ${body.reason}` : ''}: ${body.message}`;
    } catch {
      // not JSON: fall through
    }
    return `Kubernetes API ${e.code}`;
  }
  return e?.message ?? String(err);
}
