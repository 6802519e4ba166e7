import type { Logger } from '../logging.js';
import { EmailNotifier } from './email.js';
import { DEFAULT_BASE_DELAY_MS, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_MS, deliver, type DeliveryOptions } from './http.js';
import { errorText, redact, urlSecrets } from './redact.js';
import type { AlertEvent, Notifier, NotifierConfig } from './types.js';

/** Slack mrkdwn control characters. */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function emoji(ev: AlertEvent): string {
  if (ev.recovered) return ':white_check_mark:';
  const s = ev.state.toUpperCase();
  if (s === 'WARN' || s === 'WARNING') return ':warning:';
  if (s === 'FAIL' || s === 'FAILED' || s === 'ERROR') return ':red_circle:';
  return ':information_source:';
}

/** One-line-ish human summary, Slack mrkdwn. */
export function slackText(ev: AlertEvent, pipelineName?: string): string {
  const what = ev.kind === 'check' ? `check ${ev.checkName ? `\`${slackEscape(ev.checkName)}\` on ` : 'on '}` : ev.kind === 'run' ? 'run of ' : 'freshness of ';
  const escalated = ev.escalated ? `:rotating_light: *escalated* (unresolved since ${slackEscape(ev.escalated.openedAt)}) ` : '';
  const head = escalated + (ev.recovered
    ? `${emoji(ev)} *recovered*: ${what}*${slackEscape(ev.assetKey)}* is ${slackEscape(ev.state)} again (was ${slackEscape(ev.previousState ?? 'unknown')})`
    : `${emoji(ev)} *${slackEscape(ev.state)}*: ${what}*${slackEscape(ev.assetKey)}*${ev.previousState ? ` (was ${slackEscape(ev.previousState)})` : ''}`);
  const lines = [
    (pipelineName ? `[${slackEscape(pipelineName)}] ` : '') + head,
    `reason: ${slackEscape(ev.reason)}`,
    // A freshness alert comes from `sfpipe check`, not from a run: it names the run it judged.
    `${ev.kind === 'freshness' ? 'last run' : 'run'}: ${ev.runId ? `\`${slackEscape(ev.runId)}\`` : 'none'}`,
    `look closer: \`${slackEscape(ev.command)}\``,
    ...(ev.url ? [`open: <${slackEscape(ev.url)}|${ev.kind === 'run' ? 'the run' : 'the asset'} in sfpipe ui>`] : []),
  ];
  return lines.join('\n');
}

export function slackPayload(ev: AlertEvent, pipelineName?: string): { text: string; blocks: unknown[] } {
  const text = slackText(ev, pipelineName);
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `${ev.kind} · ${ev.timestamp}` }] },
    ],
  };
}

export function webhookPayload(ev: AlertEvent, pipelineName?: string): AlertEvent & { pipeline: string | null } {
  return { ...ev, pipeline: pipelineName ?? null };
}

class HttpNotifier implements Notifier {
  private readonly secrets: string[];
  constructor(
    readonly name: string,
    private readonly url: string,
    private readonly cfg: NotifierConfig,
    private readonly log: Logger,
    private readonly payload: (ev: AlertEvent) => unknown,
  ) {
    // Host too: only the notifier name identifies a webhook in logs.
    this.secrets = urlSecrets(url, { includeHost: true });
  }

  async send(event: AlertEvent): Promise<boolean> {
    const where = { notifier: this.name, assetKey: event.assetKey, state: event.state };
    try {
      const opts: DeliveryOptions = {
        method: 'POST',
        url: this.url,
        body: JSON.stringify(this.payload(event)),
        contentType: 'application/json',
        maxRetries: this.cfg.maxRetries ?? DEFAULT_MAX_RETRIES,
        baseDelayMs: this.cfg.baseDelayMs ?? DEFAULT_BASE_DELAY_MS,
        timeoutMs: this.cfg.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        secrets: this.secrets,
        onRetry: ({ attempt, delayMs, reason }) =>
          this.log.debug(`alert delivery via ${this.name} failed, retrying`, { ...where, attempt, delayMs, error: reason }),
      };
      const r = await deliver(opts);
      if (r.ok) {
        this.log.debug(`alert delivered via ${this.name}`, { ...where, attempts: r.attempts });
        return true;
      }
      this.log.warn(`alert delivery via ${this.name} gave up`, {
        ...where,
        attempts: r.attempts,
        status: r.status,
        error: redact(r.error ?? 'unknown error', this.secrets),
      });
      return false;
    } catch (err) {
      // deliver() does not throw, but a payload builder or logger might.
      try {
        this.log.warn(`alert delivery via ${this.name} failed`, { ...where, error: redact(errorText(err), this.secrets) });
      } catch {
        /* nothing left to do */
      }
      return false;
    }
  }
}

/** A notifier per configured destination (Slack incoming webhook, generic JSON webhook, email). None configured → []. */
export function createNotifiers(cfg: NotifierConfig, log: Logger, namePrefix = ''): Notifier[] {
  const out: Notifier[] = [];
  const slack = cfg.slackWebhookUrl?.trim();
  const hook = cfg.webhookUrl?.trim();
  if (slack) out.push(new HttpNotifier(`${namePrefix}slack`, slack, cfg, log, (ev) => slackPayload(ev, cfg.pipelineName)));
  if (hook) out.push(new HttpNotifier(`${namePrefix}webhook`, hook, cfg, log, (ev) => webhookPayload(ev, cfg.pipelineName)));
  if (cfg.email && cfg.email.to.length > 0) out.push(new EmailNotifier(cfg.email, cfg, log, `${namePrefix}email`));
  return out;
}

/** Sends every event through every notifier (events in order, notifiers in parallel). Counts deliveries. */
export async function sendAlerts(notifiers: Notifier[], events: AlertEvent[], log: Logger): Promise<{ sent: number; failed: number }> {
  let sent = 0;
  let failed = 0;
  for (const ev of events) {
    const results = await Promise.all(
      notifiers.map(async (n) => {
        try {
          return await n.send(ev);
        } catch (err) {
          // A third-party Notifier broke the contract; its message may hold anything, so only the name is logged.
          log.warn(`alert notifier ${n.name} threw`, { notifier: n.name, assetKey: ev.assetKey, errorType: err instanceof Error ? err.name : typeof err });
          return false;
        }
      }),
    );
    for (const ok of results) {
      if (ok) sent++;
      else failed++;
    }
  }
  if (events.length && notifiers.length) log.info(`alerts: ${sent} delivered, ${failed} failed`, { sent, failed });
  return { sent, failed };
}
