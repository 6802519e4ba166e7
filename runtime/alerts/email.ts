/**
 * Alerts by email over SMTP (nodemailer): implicit TLS (port 465) or STARTTLS that must succeed
 * (port 587; a server that does not offer it is refused, never used in plain text). The
 * credentials never reach a log line: errors are redacted of the username and password.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Transporter } from 'nodemailer';
import type { Logger } from '../logging.js';
import { backoffMs, DEFAULT_BASE_DELAY_MS, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_MS } from './http.js';
import { errorText, redact } from './redact.js';
import type { AlertEvent, EmailConfig, Notifier, NotifierConfig } from './types.js';

/** Header values and the subject: one line, no control characters. */
const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();

function what(ev: AlertEvent): string {
  return ev.kind === 'check' ? `check ${ev.checkName ? `${ev.checkName} on ` : 'on '}` : ev.kind === 'run' ? 'run of ' : 'freshness of ';
}

export function emailSubject(ev: AlertEvent, pipelineName?: string): string {
  const head = ev.recovered ? `recovered: ${what(ev)}${ev.assetKey} is ${ev.state} again` : `${ev.state}: ${what(ev)}${ev.assetKey}`;
  return oneLine(`${pipelineName ? `[${pipelineName}] ` : ''}${ev.escalated ? '[escalated] ' : ''}${head}`);
}

export function emailText(ev: AlertEvent, pipelineName?: string): string {
  return [
    emailSubject(ev, pipelineName),
    '',
    ...(ev.escalated ? [`Escalated: unresolved since ${ev.escalated.openedAt} (more than ${ev.escalated.afterMinutes} minutes).`, ''] : []),
    `state:       ${ev.state}${ev.previousState ? ` (was ${ev.previousState})` : ''}`,
    `reason:      ${ev.reason}`,
    `${ev.kind === 'freshness' ? 'last run' : 'run'}:${ev.kind === 'freshness' ? '    ' : '         '}${ev.runId ?? 'none'}`,
    `look closer: ${ev.command}`,
    ...(ev.url ? [`open:        ${ev.url}`] : []),
    `at:          ${ev.timestamp}`,
    '',
  ].join('\n');
}

export class EmailNotifier implements Notifier {
  readonly name: string;
  private readonly secrets: string[];
  /** Made on the first send: nodemailer is loaded only by a process that sends mail. */
  private transport: Transporter | null = null;

  constructor(
    private readonly email: EmailConfig,
    private readonly cfg: NotifierConfig,
    private readonly log: Logger,
    name = 'email',
  ) {
    this.name = name;
    this.secrets = [email.password, email.username].filter((s): s is string => Boolean(s));
  }

  private async connect(): Promise<Transporter> {
    if (this.transport) return this.transport;
    const { email, cfg } = this;
    const timeout = cfg.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { default: nodemailer } = await import('nodemailer');
    this.transport = nodemailer.createTransport({
      host: email.host,
      port: email.port,
      secure: email.security === 'tls',
      requireTLS: email.security === 'starttls',
      ...(email.username ? { auth: { user: email.username, pass: email.password ?? '' } } : {}),
      tls: { minVersion: 'TLSv1.2', servername: email.host, ...(email.ca ? { ca: email.ca } : {}) },
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      disableFileAccess: true,
      disableUrlAccess: true,
      logger: false,
      debug: false,
    });
    return this.transport;
  }

  async send(event: AlertEvent): Promise<boolean> {
    const where = { notifier: this.name, assetKey: event.assetKey, state: event.state, recipients: this.email.to.length };
    const maxRetries = Math.max(0, this.cfg.maxRetries ?? DEFAULT_MAX_RETRIES);
    let lastError = 'not attempted';
    for (let attempt = 1; attempt <= maxRetries + 1; attempt++) {
      try {
        const transport = await this.connect();
        await transport.sendMail({
          from: this.email.from,
          to: this.email.to,
          subject: emailSubject(event, this.cfg.pipelineName),
          text: emailText(event, this.cfg.pipelineName),
          headers: {
            'X-Sfpipe-Alert-Kind': event.kind,
            'X-Sfpipe-Asset': oneLine(event.assetKey),
            'X-Sfpipe-State': oneLine(event.state),
            ...(event.runId ? { 'X-Sfpipe-Run-Id': oneLine(event.runId) } : {}),
            ...(event.escalated ? { 'X-Sfpipe-Escalated': 'true' } : {}),
            // Automated: no out-of-office replies.
            'Auto-Submitted': 'auto-generated',
          },
        });
        this.log.debug(`alert delivered via ${this.name}`, { ...where, attempts: attempt });
        return true;
      } catch (err) {
        lastError = redact(errorText(err), this.secrets);
        // Refused credentials or recipients do not get better by retrying.
        const code = (err as { responseCode?: number; code?: string }).responseCode;
        if ((code !== undefined && code >= 500) || (err as { code?: string }).code === 'EAUTH') break;
        if (attempt > maxRetries) break;
        const delayMs = backoffMs(this.cfg.baseDelayMs ?? DEFAULT_BASE_DELAY_MS, attempt);
        this.log.debug(`alert delivery via ${this.name} failed, retrying`, { ...where, attempt, delayMs, error: lastError });
        await sleep(delayMs);
      }
    }
    this.log.warn(`alert delivery via ${this.name} gave up`, { ...where, error: lastError });
    return false;
  }

  close(): void {
    this.transport?.close();
  }
}
