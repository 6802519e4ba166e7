import type { Logger } from '../logging.js';
import { deliver } from '../alerts/http.js';
import { errorText, redact, stripUrlCredentials } from '../alerts/redact.js';
import { isValidLabelName, PROMETHEUS_CONTENT_TYPE, renderPrometheusText, type MetricSample } from './prometheus.js';

export interface PushConfig {
  /** Pushgateway base URL, e.g. http://pushgateway:9091 (user:pass@ is sent as basic auth). */
  url: string;
  job: string;
  grouping?: Record<string, string>;
  /** Retries after the first attempt; default 3. */
  maxRetries?: number;
  /** Per-request timeout; default 10000. */
  timeoutMs?: number;
  /** First backoff delay; default 500. */
  baseDelayMs?: number;
}

/**
 * One `name/value` pair of a Pushgateway grouping path. A value with a `/` (or an empty value)
 * can only be expressed as `name@base64/<base64url>` (RFC 4648 §5; empty → `=`); anything else
 * is percent-encoded.
 */
export function groupingSegment(name: string, value: string): string {
  if (value === '') return `${name}@base64/=`;
  if (value.includes('/')) return `${name}@base64/${Buffer.from(value, 'utf8').toString('base64url')}`;
  return `${name}/${encodeURIComponent(value)}`;
}

/** `/metrics/job/<job>[/<label>/<value>…]` */
export function pushgatewayPath(job: string, grouping: Record<string, string> = {}): string {
  if (!job) throw new Error('pushgateway job name is empty');
  const parts = ['metrics', groupingSegment('job', job)];
  for (const [k, v] of Object.entries(grouping)) {
    if (!isValidLabelName(k) || k === 'job') throw new Error(`invalid grouping label name ${JSON.stringify(k)}`);
    parts.push(groupingSegment(k, String(v)));
  }
  return '/' + parts.join('/');
}

/** PUTs the samples to a Pushgateway (replacing the group). Never throws; false when it gave up. */
export async function pushMetrics(cfg: PushConfig, samples: MetricSample[], log: Logger): Promise<boolean> {
  const shownUrl = stripUrlCredentials(cfg.url);
  const secrets: string[] = [];
  try {
    let base: URL;
    try {
      base = new URL(cfg.url);
    } catch {
      log.warn('metrics push: invalid pushgateway url', { url: stripUrlCredentials(cfg.url) });
      return false;
    }
    const headers: Record<string, string> = {};
    if (base.username || base.password) {
      const user = decodeURIComponent(base.username);
      const pass = decodeURIComponent(base.password);
      secrets.push(base.password, pass, `${base.username}:${base.password}`, `${user}:${pass}`);
      headers.authorization = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
      base.username = '';
      base.password = '';
    }
    const target = new URL(base.href.replace(/\/+$/, '') + pushgatewayPath(cfg.job, cfg.grouping));
    const body = renderPrometheusText(samples);
    const r = await deliver({
      method: 'PUT',
      url: target.href,
      body,
      contentType: PROMETHEUS_CONTENT_TYPE,
      headers,
      maxRetries: cfg.maxRetries ?? 3,
      baseDelayMs: cfg.baseDelayMs ?? 500,
      timeoutMs: cfg.timeoutMs ?? 10_000,
      secrets,
      onRetry: ({ attempt, delayMs, reason }) =>
        log.debug('metrics push failed, retrying', { url: shownUrl, job: cfg.job, attempt, delayMs, error: reason }),
    });
    if (r.ok) {
      log.debug('metrics pushed', { url: shownUrl, job: cfg.job, samples: samples.length, attempts: r.attempts });
      return true;
    }
    log.warn('metrics push gave up', { url: shownUrl, job: cfg.job, attempts: r.attempts, status: r.status, error: r.error });
    return false;
  } catch (err) {
    try {
      log.warn('metrics push failed', { url: shownUrl, job: cfg.job, error: redact(errorText(err), secrets) });
    } catch {
      /* nothing left to do */
    }
    return false;
  }
}
