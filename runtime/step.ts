import type { AssetDef, CheckOutcome, Metadata, MultiAssetRunner, RetryPolicy } from './definitions.js';
import { errorMessage, isRetryable } from './errors.js';
import type { CheckResultRecord, EventLog, MaterializationRecord } from './storage/event-log.js';
import type { AssetKey } from './keys.js';
import { summarized, type Logger } from './logging.js';
import { AbortError, backoffDelay } from './retry.js';
import type { RunReporter } from './run-reporter.js';

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
  /** The run's logger; steps derive per-asset children. */
  log: Logger;
  signal: AbortSignal;
  now: () => Date;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  random: () => number;
  /** Shows the run to a person watching it (live lines, outcomes); silentReporter elsewhere. */
  reporter: RunReporter;
}

export function emptyStep(key: string, status: StepStatus, reason: string | null): StepResult {
  return { key, status, attempts: 0, startedAt: null, endedAt: null, error: null, reason, metadata: {}, checks: [], blocked: false };
}

type Attempt<T> = { ok: true; value: T; attempts: number } | { ok: false; canceled: boolean; error: string; attempts: number };

/** Runs `fn` under the retry policy; never throws. */
async function withRetries<R, T>(policy: RetryPolicy, env: StepEnv<R>, keys: AssetKey[], log: Logger, fn: (attempt: number) => Promise<T>): Promise<Attempt<T>> {
  for (let attempt = 1; ; attempt++) {
    try {
      if (env.signal.aborted) throw new AbortError();
      return { ok: true, value: await fn(attempt), attempts: attempt };
    } catch (err) {
      if (env.signal.aborted) return { ok: false, canceled: true, error: errorMessage(err), attempts: attempt };
      const retryable = isRetryable(err);
      if (!retryable || attempt > policy.maxRetries) {
        // A step without retries says nothing of attempts: its error may count its own (an API
        // client's retries), and a second, different count on the same line reads as a contradiction.
        const why = !retryable ? 'failed (not retryable)' : attempt > 1 ? `failed after ${attempt} attempts` : 'failed';
        // The step's outcome line says it on a live terminal.
        log.error(`${why}: ${errorMessage(err)}`, { attempt, retryable, ...summarized });
        return { ok: false, canceled: false, error: errorMessage(err), attempts: attempt };
      }
      const delayMs = backoffDelay(policy, attempt, env.random);
      log.warn(`attempt ${attempt} failed, retrying in ${delayMs} ms: ${errorMessage(err)}`, { attempt, delayMs });
      for (const key of keys) {
        await env.eventLog.recordEvent({ runId: env.runId, assetKey: key, type: 'STEP_RETRY', timestamp: env.now().toISOString(), data: { attempt, delayMs, error: errorMessage(err) } });
      }
      try {
        await env.sleep(delayMs, env.signal);
      } catch {
        return { ok: false, canceled: true, error: errorMessage(err), attempts: attempt };
      }
    }
  }
}

async function start<R>(key: AssetKey, env: StepEnv<R>): Promise<StepResult> {
  const result = emptyStep(key, 'FAILED', null);
  result.startedAt = env.now().toISOString();
  await env.eventLog.recordEvent({ runId: env.runId, assetKey: key, type: 'STEP_START', timestamp: result.startedAt, data: {} });
  env.reporter.stepStarted(key);
  return result;
}

/** Materializes one asset with its retry policy, records it, then evaluates its checks. */
export async function runStep<R>(def: AssetDef<R>, env: StepEnv<R>): Promise<StepResult> {
  const log = env.log.child({ assetKey: def.key });
  const result = await start(def.key, env);
  const previous = await env.eventLog.lastMaterialization(def.key);
  log.info('materializing');
  const outcome = await withRetries(def.retry, env, [def.key], log, async (attempt) => {
    const metadata: Metadata = {};
    const out = await def.materialize!({
      runId: env.runId,
      assetKey: def.key,
      log,
      signal: env.signal,
      resources: env.resources,
      previous,
      fullRefresh: env.fullRefresh,
      attempt,
      addMetadata: (m) => Object.assign(metadata, m),
      status: env.reporter.status(def.key),
    });
    return Object.assign(metadata, out?.metadata ?? {});
  });
  result.attempts = outcome.attempts;
  if (!outcome.ok) return finishFailed(result, env, outcome);
  return succeed(def, result, outcome.value, {}, env, log, previous);
}

/** Runs a multi-asset once for its selected members; one result per member. */
export async function runMultiStep<R>(runner: MultiAssetRunner<R>, defs: AssetDef<R>[], env: StepEnv<R>): Promise<StepResult[]> {
  const keys = defs.map((d) => d.key);
  const log = env.log.child({ step: runner.name });
  const results = new Map<AssetKey, StepResult>();
  const previous = new Map<AssetKey, MaterializationRecord | null>();
  for (const key of keys) {
    results.set(key, await start(key, env));
    previous.set(key, await env.eventLog.lastMaterialization(key));
  }
  log.info(`materializing ${keys.length} asset(s) in one step: ${keys.join(', ')}`);
  const outcome = await withRetries(runner.retry, env, keys, log, (attempt) =>
    runner.run({
      runId: env.runId,
      log,
      signal: env.signal,
      resources: env.resources,
      fullRefresh: env.fullRefresh,
      attempt,
      selectedKeys: keys,
      previous,
      logFor: (key) => env.log.child({ assetKey: key }),
      statusFor: (key) => env.reporter.status(key),
    }),
  );
  const out: StepResult[] = [];
  for (const def of defs) {
    const result = results.get(def.key)!;
    result.attempts = outcome.attempts;
    if (!outcome.ok) {
      out.push(await finishFailed(result, env, outcome));
      continue;
    }
    const member = outcome.value[def.key];
    const memberLog = env.log.child({ assetKey: def.key });
    if (!member || member.status === 'FAILED') {
      const error = member?.error ?? `${runner.name} reported no result for this asset`;
      memberLog.error(`failed: ${error}`, summarized);
      out.push(await finish(result, env, 'FAILED', { error }));
    } else if (member.status === 'SKIPPED') {
      out.push(await finish(result, env, 'SKIPPED', { reason: member.error ?? `${runner.name} skipped it` }));
    } else {
      out.push(await succeed(def, result, member.metadata ?? {}, member.checks ?? {}, env, memberLog, previous.get(def.key) ?? null));
    }
  }
  return out;
}

async function succeed<R>(
  def: AssetDef<R>,
  result: StepResult,
  metadata: Metadata,
  reported: Record<string, CheckOutcome>,
  env: StepEnv<R>,
  log: Logger,
  previous: MaterializationRecord | null,
): Promise<StepResult> {
  metadata = jsonMetadata(metadata);
  result.metadata = metadata;
  await env.eventLog.recordMaterialization({ runId: env.runId, assetKey: def.key, timestamp: env.now().toISOString(), metadata });
  log.info('materialized', { metadata });
  for (const check of def.checks) {
    let outcome: CheckOutcome | undefined = reported[check.name];
    if (!outcome && check.evaluate) {
      try {
        outcome = await check.evaluate({ runId: env.runId, assetKey: def.key, log, signal: env.signal, resources: env.resources, materialization: metadata, previous });
      } catch (err) {
        outcome = { passed: false, description: `the check raised an error: ${errorMessage(err)}` };
      }
    }
    if (!outcome) continue; // reported by the multi-asset, which did not run it this time
    const record: CheckResultRecord = {
      runId: env.runId,
      assetKey: def.key,
      checkName: check.name,
      severity: check.severity,
      passed: outcome.passed,
      description: outcome.description ?? null,
      metadata: jsonMetadata(outcome.metadata ?? {}),
      timestamp: env.now().toISOString(),
    };
    await env.eventLog.recordCheckResult(record);
    result.checks.push(record);
    if (!record.passed) {
      const line = `check ${check.name} failed (${check.severity}${check.blocking ? ', blocking' : ''})${record.description ? ': ' + record.description : ''}`;
      // A live terminal shows it under the asset's outcome line, by its label.
      if (check.severity === 'ERROR') log.error(line, summarized);
      else log.warn(line, summarized);
      env.reporter.checkFailed(def.key, {
        checkName: check.name,
        label: check.label ?? check.name,
        severity: check.severity,
        blocking: check.blocking,
        summary: outcome.summary ?? record.description,
      });
      if (check.blocking && check.severity === 'ERROR') result.blocked = true;
    }
  }
  return finish(result, env, 'SUCCESS', {});
}

function finishFailed<R>(result: StepResult, env: StepEnv<R>, outcome: { canceled: boolean; error: string }): Promise<StepResult> {
  return outcome.canceled
    ? finish(result, env, 'CANCELED', { reason: 'the run was canceled', error: outcome.error })
    : finish(result, env, 'FAILED', { error: outcome.error });
}

async function finish<R>(result: StepResult, env: StepEnv<R>, status: StepStatus, extra: { error?: string; reason?: string }): Promise<StepResult> {
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

/**
 * Metadata as plain JSON, as the event log keeps it: a bigint (DuckDB counts) becomes a number
 * when exact, else a string; a Date its ISO text; undefined entries are dropped.
 */
export function jsonMetadata(metadata: Metadata): Metadata {
  return JSON.parse(
    JSON.stringify(metadata, (_key, v: unknown) => (typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v)),
  ) as Metadata;
}
