import type { V1CronJob, V1Job } from '@kubernetes/client-node';

/**
 * The Job `kubectl create job NAME --from=cronjob/C` creates: the jobTemplate's spec, its
 * labels and annotations, `cronjob.kubernetes.io/instantiate: manual`, and an ownerReference
 * to the CronJob (controller: true, no blockOwnerDeletion). `args` replaces the first
 * container's args, or maps the CronJob's (our selection and flags).
 */
export function jobFromCronJob(
  cronJob: V1CronJob,
  name: string,
  opts: { args?: string[] | ((cronJobArgs: string[]) => string[]); extraLabels?: Record<string, string> } = {},
): V1Job {
  const template = cronJob.spec?.jobTemplate;
  if (!template?.spec) throw new Error(`CronJob ${cronJob.metadata?.name} has no jobTemplate.spec`);
  if (!cronJob.metadata?.uid || !cronJob.metadata.name) throw new Error('the CronJob must be read from the API server (it needs a name and uid)');
  const spec = structuredClone(template.spec);
  if (opts.args) {
    const container = spec.template.spec?.containers[0];
    if (!container) throw new Error(`CronJob ${cronJob.metadata.name} has no container`);
    container.args = typeof opts.args === 'function' ? opts.args(container.args ?? []) : opts.args;
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      annotations: { 'cronjob.kubernetes.io/instantiate': 'manual', ...(template.metadata?.annotations ?? {}) },
      ...(template.metadata?.labels || opts.extraLabels ? { labels: { ...(template.metadata?.labels ?? {}), ...(opts.extraLabels ?? {}) } } : {}),
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cronJob.metadata.name, uid: cronJob.metadata.uid, controller: true }],
    },
    spec,
  };
}

/** A Job name from the CronJob's, unique enough and within the 63-character limit. */
export function manualJobName(cronJobName: string, now: Date = new Date()): string {
  const stamp = `${Math.floor(now.getTime() / 1000).toString(36)}${Math.floor(Math.random() * 1296).toString(36).padStart(2, '0')}`;
  return `${cronJobName.slice(0, 63 - stamp.length - 8)}-manual-${stamp}`;
}

/**
 * The CronJob's `sfpipe materialize` args for an ad hoc run: recorded as `--trigger manual`, with
 * this run's selection instead of the schedule's; --full-refresh if asked for or if the CronJob is
 * a full refresh; every other flag (e.g. --lock-timeout, --concurrency) kept. Other commands'
 * args (the check CronJob) are copied unchanged.
 */
export function manualRunArgs(
  cronJobArgs: string[],
  o: { select?: string | undefined; fullRefresh?: boolean; trigger?: string; runId?: string } = {},
): string[] {
  // The command is the first argument that is not a global option (--log-level debug materialize …).
  let command: string | undefined;
  for (let i = 0; i < cronJobArgs.length; i++) {
    const a = cronJobArgs[i]!;
    if (a === '--log-level' || a === '--log-format') i++;
    else if (!a.startsWith('-')) {
      command = a;
      break;
    }
  }
  if (command !== undefined && command !== 'materialize') {
    // e.g. the check CronJob: copied as it is; a selection or --full-refresh means nothing there.
    if (o.select || o.fullRefresh) {
      throw new Error(`the CronJob runs \`${cronJobArgs.join(' ')}\`, not materialize: --select and --full-refresh apply to materialize CronJobs only`);
    }
    return cronJobArgs;
  }
  const out: string[] = [];
  let fullRefresh = o.fullRefresh ?? false;
  for (let i = 0; i < cronJobArgs.length; i++) {
    const a = cronJobArgs[i]!;
    if (a === '--trigger' || a === '--select' || a === '-s' || a === '--run-id') {
      i++; // and its value
      continue;
    }
    if (a === '--full-refresh') {
      fullRefresh = true; // the full-refresh CronJob's run stays a full refresh
      continue;
    }
    if (a.startsWith('--trigger=') || a.startsWith('--select=') || a.startsWith('--run-id=')) continue;
    out.push(a);
  }
  if (command === undefined) out.push('materialize');
  out.push('--trigger', o.trigger ?? 'manual');
  if (o.runId) out.push('--run-id', o.runId);
  if (o.select) out.push('--select', o.select);
  if (fullRefresh) out.push('--full-refresh');
  return out;
}
