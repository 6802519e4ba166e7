import type { RetryPolicy } from './definitions.js';

/** Delay before retry number `retry` (1-based): exponential, capped, with jitter. */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  const jitter = Math.max(0, Math.min(1, policy.jitter));
  // Spread uniformly over [exp * (1 - jitter), exp].
  return Math.round(exp * (1 - jitter * random()));
}

export class AbortError extends Error {
  override name = 'AbortError';
  constructor(message = 'the operation was aborted') {
    super(message);
  }
}

/** Sleeps, or rejects with AbortError as soon as the signal aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
