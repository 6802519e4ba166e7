/**
 * HTTP delivery with retries, shared by the alert notifiers and the metrics
 * pusher. Never throws; never logs a URL (callers log with a name they choose).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorText, redact } from './redact.js';
import { backoffDelay } from '../retry.js';

/** Every notifier's defaults: retries after the first attempt, the first backoff, one attempt's timeout. */
export const DEFAULT_MAX_RETRIES = 3;
export const DEFAULT_BASE_DELAY_MS = 500;
export const DEFAULT_TIMEOUT_MS = 10_000;

export interface DeliveryOptions {
  method: 'POST' | 'PUT';
  url: string;
  body: string;
  contentType: string;
  /** Extra request headers (e.g. Authorization); never logged. */
  headers?: Record<string, string>;
  /** Retries after the first attempt (so at most maxRetries + 1 requests). */
  maxRetries: number;
  baseDelayMs: number;
  timeoutMs: number;
  /** Upper bound of a single wait (backoff or Retry-After). */
  maxDelayMs?: number;
  /** Strings to scrub from the error text (the URL and its parts). */
  secrets: string[];
  /** Called before each retry with a redacted reason; for debug logging. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
  random?: () => number;
}

export interface DeliveryResult {
  ok: boolean;
  attempts: number;
  status: number | null;
  /** Why it gave up, already redacted. */
  error: string | null;
}

export const DEFAULT_MAX_DELAY_MS = 30_000;

/** Exponential backoff with jitter: uniform over [exp/2, exp], capped. `retry` is 1-based. */
export function backoffMs(baseDelayMs: number, retry: number, maxDelayMs = DEFAULT_MAX_DELAY_MS, random: () => number = Math.random): number {
  return backoffDelay({ baseDelayMs: Math.max(0, baseDelayMs), maxDelayMs, jitter: 0.5 }, retry, random);
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

function retryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

export async function deliver(opts: DeliveryOptions): Promise<DeliveryResult> {
  const maxRetries = Math.max(0, Math.floor(opts.maxRetries));
  const maxDelay = opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  const random = opts.random ?? Math.random;
  let lastStatus: number | null = null;
  let lastError = 'not attempted';
  for (let attempt = 1; attempt <= maxRetries + 1; attempt++) {
    let retryAfterMs: number | null = null;
    try {
      const res = await fetch(opts.url, {
        method: opts.method,
        headers: { ...opts.headers, 'content-type': opts.contentType },
        body: opts.body,
        signal: AbortSignal.timeout(Math.max(1, opts.timeoutMs)),
        redirect: 'error',
      });
      lastStatus = res.status;
      // Drain the body so the connection can be reused; its content is not trusted for logs.
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true, attempts: attempt, status: res.status, error: null };
      lastError = `HTTP ${res.status}`;
      if (!retryableStatus(res.status)) {
        return { ok: false, attempts: attempt, status: res.status, error: `${lastError} (not retried)` };
      }
      retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    } catch (err) {
      lastStatus = null;
      lastError = redact(errorText(err), opts.secrets);
    }
    if (attempt > maxRetries) break;
    const delayMs = Math.min(maxDelay, retryAfterMs ?? backoffMs(opts.baseDelayMs, attempt, maxDelay, random));
    opts.onRetry?.({ attempt, delayMs, reason: lastError });
    await sleep(delayMs);
  }
  return { ok: false, attempts: maxRetries + 1, status: lastStatus, error: redact(lastError, opts.secrets) };
}
