import { setTimeout as delay } from 'node:timers/promises';
import type { RetryPolicy } from './definitions.js';

/**
 * Delay before retry number `retry` (1-based): exponential, capped, with jitter. The one backoff
 * formula of this repository: steps, API clients, alert delivery and the event logs' busy retries.
 */
export function backoffDelay(policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs' | 'jitter'>, retry: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  const jitter = Math.max(0, Math.min(1, policy.jitter));
  // Spread uniformly over [exp * (1 - jitter), exp].
  return Math.round(exp * (1 - jitter * random()));
}

export class AbortError extends Error {
  override name = 'AbortError';
  constructor(message = 'the operation was aborted', options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * Sleeps, or rejects with AbortError (its cause the signal's reason) as soon as the signal aborts:
 * node:timers/promises' setTimeout, with this module's error.
 */
export async function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (err) {
    if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
    throw err;
  }
}
