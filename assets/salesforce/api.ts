import type { Connection } from 'jsforce';
import { HttpApi } from 'jsforce/lib/http-api.js';
import { StepError } from '../../runtime/errors.js';
import type { Logger } from '../../runtime/logging.js';
import { abortableSleep, backoffDelay } from '../../runtime/retry.js';

export interface ApiRetryPolicy {
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface ApiResponse<T> {
  body: T;
  headers: Record<string, string>;
}

export class SalesforceApiError extends StepError {
  override name = 'SalesforceApiError';
  readonly status: number | null;
  readonly errorCode: string;
  constructor(message: string, opts: { status: number | null; errorCode: string; retryable: boolean }) {
    super(message, { retryable: opts.retryable });
    this.status = opts.status;
    this.errorCode = opts.errorCode;
  }
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRYABLE_CODES = new Set(['QUERY_TIMEOUT', 'SERVER_UNAVAILABLE', 'UNABLE_TO_LOCK_ROW', 'REQUEST_TIMEOUT']);

/**
 * Every Salesforce REST call of a run goes through here: jsforce sends it (auth header,
 * session refresh on INVALID_SESSION_ID), we retry 429/5xx/network errors with backoff
 * and jitter, count calls by kind, read `Sforce-Limit-Info` and enforce the API budget.
 */
export class SalesforceApi {
  readonly conn: Connection;
  readonly callsByKind: Record<string, number> = {};
  usage: { used: number; limit: number } | null = null;
  #budget: number | null = null;
  #callsAfterBudget = 0;
  readonly #log: Logger;
  readonly #signal: AbortSignal;
  readonly #retry: ApiRetryPolicy;
  readonly #budgetShare: number;
  readonly #timeoutMs: number;

  constructor(conn: Connection, opts: { log: Logger; signal: AbortSignal; retry?: Partial<ApiRetryPolicy>; budgetShare: number; requestTimeoutMs?: number }) {
    this.conn = conn;
    this.#timeoutMs = opts.requestTimeoutMs ?? 120_000;
    this.#log = opts.log;
    this.#signal = opts.signal;
    this.#retry = { maxRetries: 5, baseDelayMs: 500, maxDelayMs: 30_000, ...(opts.retry ?? {}) };
    this.#budgetShare = opts.budgetShare;
  }

  get totalCalls(): number {
    return Object.values(this.callsByKind).reduce((a, b) => a + b, 0);
  }

  count(kind: string): void {
    this.callsByKind[kind] = (this.callsByKind[kind] ?? 0) + 1;
  }

  /** Calls this run may still make under the budget guard; null until the quota is known. */
  get budgetLeft(): number | null {
    return this.#budget === null ? null : this.#budget - this.#callsAfterBudget;
  }

  /** Fails before spending, when `calls` more would break the budget. */
  ensureBudget(calls: number, what: string): void {
    const left = this.budgetLeft;
    if (left !== null && calls > left) {
      throw new SalesforceApiError(
        `API budget guard: ${what} needs about ${calls} more API call(s) but only ${left} remain of this run's budget ` +
          `(${Math.round(this.#budgetShare * 100)}% of the ${this.usage ? this.usage.limit - this.usage.used : '?'} calls left today). ` +
          'Raise source.api_budget_share or run later when the daily quota has reset.',
        { status: null, errorCode: 'API_BUDGET_EXCEEDED', retryable: false },
      );
    }
  }

  /**
   * `notIdempotent`: a call that must not run twice (creating a Bulk job) is retried only when
   * Salesforce said it did not process it (429, 503), never after a timeout or a broken connection.
   * `cleanup`: one attempt that runs even after the run was canceled (e.g. aborting a Bulk job).
   */
  async request<T>(
    kind: string,
    req: { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; body?: string; headers?: Record<string, string> },
    opts: { responseType?: string; notIdempotent?: boolean; cleanup?: boolean } = {},
  ): Promise<ApiResponse<T>> {
    for (let attempt = 1; ; attempt++) {
      if (this.#signal.aborted && !opts.cleanup) throw new StepError('the extraction was canceled', { retryable: false });
      this.ensureBudget(1, `${kind} ${req.method}`);
      let status: number | null = null;
      let headers: Record<string, string> = {};
      // jsforce's own fetch timeout (headers only; its default is 30 min) fires just after our
      // deadline, so a call we gave up on also has its connection closed rather than left open.
      const timeout = this.#timeoutFor(opts.cleanup ?? false) + 1000;
      const api = new HttpApi(this.conn, { retry: { maxRetries: 0 }, timeout, ...(opts.responseType ? { responseType: opts.responseType } : {}) });
      let sent = 0;
      api.on('request', () => {
        // jsforce sends the call again after re-authenticating on a 401 (INVALID_SESSION_ID):
        // the refused call spent quota too.
        if (++sent === 1) return;
        this.count(kind);
        this.#log.info(`Salesforce session expired during the ${kind} call: re-authenticated, sending it again`, { status });
      });
      api.on('response', (res: { statusCode: number; headers: Record<string, string> }) => {
        status = res.statusCode;
        headers = res.headers ?? {};
        this.#noteUsage(headers);
      });
      try {
        const url = /^https?:/.test(req.url) ? req.url : `${this.conn.instanceUrl}${req.url}`;
        // Counted when sent: a call whose answer breaks off still spent quota.
        this.count(kind);
        const pending = api.request<T>({ ...req, url, headers: { 'Content-Type': 'application/json', ...(req.headers ?? {}) } });
        const body = (await this.#bounded(Promise.resolve(pending), kind, opts.cleanup ?? false)) as T;
        return { body, headers };
      } catch (err) {
        if (opts.cleanup) throw classify(err, status);
        if (this.#signal.aborted) throw new StepError('the extraction was canceled', { retryable: false });
        const e = classify(err, status);
        const unprocessed = status === 429 || status === 503;
        if (!e.retryable || attempt > this.#retry.maxRetries || (opts.notIdempotent && !unprocessed)) {
          if (e.retryable) e.message = `${e.message} (gave up after ${attempt} attempt${attempt === 1 ? '' : 's'})`;
          throw e;
        }
        const delay = backoffDelay({ ...this.#retry, jitter: 0.5 }, attempt);
        this.#log.warn(`Salesforce ${kind} call failed (${e.errorCode}), retry ${attempt}/${this.#retry.maxRetries} in ${delay} ms`, { status, errorCode: e.errorCode });
        try {
          await abortableSleep(delay, this.#signal);
        } catch {
          throw new StepError('the extraction was canceled', { retryable: false });
        }
      }
    }
  }

  /**
   * jsforce never settles a request whose connection breaks mid-body, and nothing bounds a
   * stalled server, so every call gets a deadline (a retryable error) and obeys the run's signal.
   */
  #timeoutFor(cleanup: boolean): number {
    return cleanup ? Math.min(this.#timeoutMs, 15_000) : this.#timeoutMs;
  }

  #bounded<T>(work: Promise<T>, kind: string, ignoreCancel = false): Promise<T> {
    work.catch(() => {});
    const timeoutMs = this.#timeoutFor(ignoreCancel);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(Object.assign(new Error(`no complete response to the ${kind} call within ${Math.round(timeoutMs / 1000)} s`), { errorCode: 'REQUEST_TIMEOUT' }));
      }, timeoutMs);
      const onAbort = () => {
        cleanup();
        reject(new StepError('the extraction was canceled', { retryable: false }));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.#signal.removeEventListener('abort', onAbort);
      };
      if (!ignoreCancel) this.#signal.addEventListener('abort', onAbort, { once: true });
      work.then(
        (v) => {
          cleanup();
          resolve(v);
        },
        (e) => {
          cleanup();
          reject(e);
        },
      );
    });
  }

  #noteUsage(headers: Record<string, string>): void {
    const m = /api-usage=(\d+)\/(\d+)/.exec(headers['sforce-limit-info'] ?? '');
    if (!m) return;
    this.usage = { used: Number(m[1]), limit: Number(m[2]) };
    if (this.#budget === null) {
      this.#budget = Math.floor((this.usage.limit - this.usage.used) * this.#budgetShare);
      this.#callsAfterBudget = 0;
    } else {
      this.#callsAfterBudget++;
    }
  }
}

function classify(err: unknown, status: number | null): SalesforceApiError {
  const e = err as { errorCode?: string; name?: string; message?: string; code?: string; cause?: { code?: string } };
  let errorCode = e.errorCode ?? e.code ?? e.cause?.code ?? (status ? `HTTP_${status}` : 'NETWORK_ERROR');
  let message = e.message ?? String(err);
  if (errorCode.startsWith('ERROR_HTTP_')) {
    // The body was read as text (CSV requests): Salesforce's JSON error is inside.
    try {
      const parsed = JSON.parse(message) as { errorCode?: string; message?: string }[] | { errorCode?: string; message?: string };
      const first = Array.isArray(parsed) ? parsed[0] : parsed;
      if (first?.errorCode) {
        errorCode = first.errorCode;
        message = first.message ?? message;
      }
    } catch {
      // not JSON: keep the text
    }
  }
  if (errorCode === 'REQUEST_LIMIT_EXCEEDED' && status !== 429) {
    return new SalesforceApiError(
      `Salesforce refused the call: REQUEST_LIMIT_EXCEEDED (the org's daily API quota is used up; retrying does not help). Wait for the quota to reset or ask for a higher allocation. ${message}`,
      { status, errorCode, retryable: false },
    );
  }
  if (errorCode === 'INVALID_SESSION_ID') {
    return new SalesforceApiError(`Salesforce session invalid even after re-authenticating: ${message}`, { status, errorCode, retryable: false });
  }
  const retryable = status === null || RETRYABLE_STATUS.has(status) || RETRYABLE_CODES.has(errorCode);
  return new SalesforceApiError(`Salesforce ${errorCode}${status ? ` (HTTP ${status})` : ''}: ${message}`, { status, errorCode, retryable });
}
