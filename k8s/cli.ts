import { Command } from 'commander';
import type { PipelineContext } from '../runtime/pipeline.js';

/** `sfpipe launch`: an ad hoc run in the cluster, made from a CronJob exactly as kubectl does. */
export function launchCommand(ctx: () => PipelineContext, setExitCode: (code: number) => void): Command {
  return new Command('launch')
    .description('Create a Job from a CronJob (like kubectl create job --from=cronjob/…), optionally with a selection, and follow it with --wait')
    .option(
      '--cronjob <name>',
      'the CronJob to copy (default: $SFPIPE_MATERIALIZE_CRONJOB or sf-user-pipeline-materialize; with --full-refresh $SFPIPE_FULL_REFRESH_CRONJOB or sf-user-pipeline-full-refresh, whose deadline fits a rebuild)',
    )
    .option('-s, --select <expr>', 'asset selection for the ad hoc run')
    .option('--full-refresh', 'rebuild from scratch', false)
    .option('--wait', 'follow the Job to its end, stream its log, exit with its result', false)
    .option('-n, --namespace <ns>', 'namespace (default: the in-cluster or kubeconfig namespace)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: in-cluster config, else $KUBECONFIG / ~/.kube/config)')
    .option('--job-name <name>', 'name of the Job (default: <cronjob>-manual-<id>)')
    .option('--json', 'print {job, namespace, cronjob, args, succeeded} as JSON on stdout (with --wait the Job log goes to stderr)', false)
    .action(async (opts: { cronjob?: string; select?: string; fullRefresh: boolean; wait: boolean; namespace?: string; kubeconfig?: string; jobName?: string; json: boolean }) => {
      const { loadKubeContext } = await import('./kube-config.js');
      const { launchFromCronJob } = await import('./launch.js');
      const { manualRunArgs } = await import('./job-from-cronjob.js');
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
          wait: opts.wait,
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
        throw new Error(kubeErrorMessage(err));
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
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
