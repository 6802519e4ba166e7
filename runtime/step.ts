import type { AssetDef, Metadata } from './definitions.js';
import { errorMessage, isRetryable } from './errors.js';
import type { CheckResultRecord, EventLog } from './event-log.js';
import type { Logger } from './logging.js';
import { AbortError, backoffDelay } from './retry.js';

export type StepStatus = 'SUCCESS' | 'FAILED' | 'SKIPPED' | 'CANCELED';

export interface StepResult {
  key: string;
  status: StepStatus;
  attempts: number;
  startedAt: string | null;
  endedAt: string | null;
  error: string | null;
  /** Why the step was skipped or canceled. */
  reason: string | null;
  metadata: Metadata;
  checks: CheckResultRecord[];
  /** A blocking check of ERROR severity failed: downstream must not run. */
  blocked: boolean;
}

export interface StepEnv<R> {
  runId: string;
  fullRefresh: boolean;
  resources: R;
  eventLog: EventLog;
  log: Logger;
  signal: AbortSignal;
  now: () => Date;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  random: () => number;
}

export function emptyStep(key: string, status: StepStatus, reason: string | null): StepResult {
  return { key, status, attempts: 0, startedAt: null, endedAt: null, error: null, reason, metadata: {}, checks: [], blocked: false };
}

/** Materializes one asset with its retry policy, records it, then evaluates its checks. */
export async function runStep<R>(def: AssetDef<R>, env: StepEnv<R>): Promise<StepResult> {
  const { runId, eventLog, log, signal } = env;
  const key = def.key;
  const result = emptyStep(key, 'FAILED', null);
  result.startedAt = env.now().toISOString();
  const previous = await eventLog.lastMaterialization(key);
  await eventLog.recordEvent({ runId, assetKey: key, type: 'STEP_START', timestamp: result.startedAt, data: {} });
  log.info('materializing');

  for (let attempt = 1; ; attempt++) {
    result.attempts = attempt;
    const metadata: Metadata = {};
    try {
      if (signal.aborted) throw new AbortError();
      const out = await def.materialize!({
        runId,
        assetKey: key,
        log,
        signal,
        resources: env.resources,
        previous,
        fullRefresh: env.fullRefresh,
        attempt,
        addMetadata: (m) => Object.assign(metadata, m),
      });
      Object.assign(metadata, out?.metadata ?? {});
      result.metadata = metadata;
      break;
    } catch (err) {
      if (signal.aborted) {
        return finish(result, env, 'CANCELED', { reason: 'the run was canceled', error: errorMessage(err) });
      }
      const retryable = isRetryable(err);
      if (!retryable || attempt > def.retry.maxRetries) {
        const why = retryable ? `failed after ${attempt} attempt(s)` : 'failed (not retryable)';
        log.error(`${why}: ${errorMessage(err)}`, { attempt, retryable });
        return finish(result, env, 'FAILED', { error: errorMessage(err) });
      }
      const delayMs = backoffDelay(def.retry, attempt, env.random);
      log.warn(`attempt ${attempt} failed, retrying in ${delayMs} ms: ${errorMessage(err)}`, { attempt, delayMs });
      await eventLog.recordEvent({
        runId,
        assetKey: key,
        type: 'STEP_RETRY',
        timestamp: env.now().toISOString(),
        data: { attempt, delayMs, error: errorMessage(err) },
      });
      try {
        await env.sleep(delayMs, signal);
      } catch {
        return finish(result, env, 'CANCELED', { reason: 'the run was canceled while waiting to retry', error: errorMessage(err) });
      }
    }
  }

  const timestamp = env.now().toISOString();
  await eventLog.recordMaterialization({ runId, assetKey: key, timestamp, metadata: result.metadata });
  log.info('materialized', { metadata: result.metadata });

  for (const check of def.checks) {
    let passed: boolean;
    let description: string | null = null;
    let metadata: Metadata = {};
    try {
      const outcome = await check.evaluate({ runId, assetKey: key, log, signal, resources: env.resources, materialization: result.metadata });
      passed = outcome.passed;
      description = outcome.description ?? null;
      metadata = outcome.metadata ?? {};
    } catch (err) {
      passed = false;
      description = `the check raised an error: ${errorMessage(err)}`;
    }
    const record: CheckResultRecord = {
      runId,
      assetKey: key,
      checkName: check.name,
      severity: check.severity,
      passed,
      description,
      metadata,
      timestamp: env.now().toISOString(),
    };
    await eventLog.recordCheckResult(record);
    result.checks.push(record);
    if (!passed) {
      const line = `check ${check.name} failed (${check.severity}${check.blocking ? ', blocking' : ''})${description ? ': ' + description : ''}`;
      if (check.severity === 'ERROR') log.error(line);
      else log.warn(line);
      if (check.blocking && check.severity === 'ERROR') result.blocked = true;
    }
  }
  return finish(result, env, 'SUCCESS', {});
}

async function finish<R>(
  result: StepResult,
  env: StepEnv<R>,
  status: StepStatus,
  extra: { error?: string; reason?: string },
): Promise<StepResult> {
  result.status = status;
  result.error = extra.error ?? null;
  result.reason = extra.reason ?? null;
  result.endedAt = env.now().toISOString();
  const type = { SUCCESS: 'STEP_SUCCESS', FAILED: 'STEP_FAILURE', CANCELED: 'STEP_CANCELED', SKIPPED: 'STEP_SKIPPED' }[status];
  await env.eventLog.recordEvent({
    runId: env.runId,
    assetKey: result.key,
    type,
    timestamp: result.endedAt,
    data: { attempts: result.attempts, error: result.error, reason: result.reason, blocked: result.blocked },
  });
  return result;
}
