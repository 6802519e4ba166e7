/**
 * The `alerts:` section of the pipeline config: channels (Slack, a JSON webhook, email over SMTP)
 * and escalation. Secrets (webhook URLs, the SMTP username and password) are references
 * (`{ env: NAME }` or `{ file: /path }`), never values.
 */
import type { ConfigReader } from './config-reader.js';
import type { SecretRef } from './pipeline-config.js';

export type AlertChannel = 'email' | 'slack' | 'webhook';
export const ALERT_CHANNELS: readonly AlertChannel[] = ['email', 'slack', 'webhook'];

export interface SmtpConfig {
  /** null: email is off (no server configured). */
  host: string | null;
  port: number;
  security: 'starttls' | 'tls';
  from: string | null;
  to: string[];
  username: SecretRef | null;
  password: SecretRef | null;
  caFile: string | null;
}

export interface AlertsConfig {
  /** Where alerts go (the seed's channels); a channel without its destination is off. */
  channels: AlertChannel[];
  slackWebhookUrl: SecretRef | null;
  webhookUrl: SecretRef | null;
  email: SmtpConfig;
  /** An alert unresolved this long is sent to the escalation channel; 0: never. */
  escalationMs: number;
  escalation: { slackWebhookUrl: SecretRef | null; webhookUrl: SecretRef | null; emailTo: string[] };
}

type ReadSecretRef = (r: ConfigReader, path: string[], defaultEnv: string, inline?: string) => SecretRef | null;

const EMAIL = /^[^\s@<>,;"]+@[^\s@<>,;"]+$/;

function addresses(r: ConfigReader, path: string[], envName: string, env: NodeJS.ProcessEnv): string[] {
  let list: string[];
  if (r.has(path) && r.raw(path) !== null) {
    list = Array.from({ length: r.length(path) }, (_, i) => r.string([...path, i]));
  } else {
    list = (env[envName] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  }
  for (const [i, a] of list.entries()) {
    if (!EMAIL.test(a)) r.fail(r.has(path) ? [...path, i] : path, `"${a}" is not an email address`, `write addresses such as oncall@example.com (or set ${envName}, comma-separated)`);
  }
  return list;
}

export function readAlertsConfig(r: ConfigReader, readSecretRef: ReadSecretRef, env: NodeJS.ProcessEnv = process.env): AlertsConfig {
  const base = ['alerts'];
  let channels: AlertChannel[] = [...ALERT_CHANNELS];
  if (r.has([...base, 'channels'])) {
    const n = r.length([...base, 'channels']);
    channels = Array.from({ length: n }, (_, i) => r.oneOf([...base, 'channels', i], ALERT_CHANNELS));
  }
  const e = [...base, 'email'];
  const security = r.oneOf([...e, 'security'], ['starttls', 'tls'] as const, 'starttls');
  const host = r.optionalString([...e, 'host']) || env.SFPIPE_SMTP_HOST || null;
  const email: SmtpConfig = {
    host,
    port: r.number([...e, 'port'], { min: 1, max: 65535, integer: true, fallback: env.SFPIPE_SMTP_PORT ? Number(env.SFPIPE_SMTP_PORT) : security === 'tls' ? 465 : 587 }),
    security,
    from: r.optionalString([...e, 'from']) || env.SFPIPE_SMTP_FROM || null,
    to: addresses(r, [...e, 'to'], 'SFPIPE_SMTP_TO', env),
    username: readSecretRef(r, [...e, 'username'], 'SFPIPE_SMTP_USERNAME', 'holds the username itself; it is a credential'),
    password: readSecretRef(r, [...e, 'password'], 'SFPIPE_SMTP_PASSWORD', 'holds the password itself; it is a secret'),
    caFile: r.optionalString([...e, 'ca_file']),
  };
  if (host && /[\s/:@]/.test(host)) r.fail([...e, 'host'], `"${host}" is not a host name`, 'write the SMTP server\'s name, e.g. smtp.example.com (port and security are their own keys)');
  if (email.from && !EMAIL.test(email.from.replace(/^.*<([^>]+)>\s*$/, '$1'))) r.fail([...e, 'from'], `"${email.from}" is not an email address`, 'write e.g. sfpipe@example.com or "sfpipe <sfpipe@example.com>"');
  if (channels.includes('email') && host && (!email.from || email.to.length === 0)) {
    r.fail(e, `has a server (${host}) but no ${email.from ? 'recipients' : 'sender'}`, `set alerts.email.${email.from ? 'to: [oncall@example.com]' : 'from: sfpipe@example.com'} (or ${email.from ? 'SFPIPE_SMTP_TO' : 'SFPIPE_SMTP_FROM'})`);
  }
  const x = [...base, 'escalation'];
  return {
    channels,
    slackWebhookUrl: readSecretRef(r, [...base, 'slack_webhook_url'], 'SFPIPE_SLACK_WEBHOOK_URL'),
    webhookUrl: readSecretRef(r, [...base, 'webhook_url'], 'SFPIPE_ALERT_WEBHOOK_URL'),
    email,
    escalationMs: r.number([...base, 'escalation_minutes'], { min: 0, max: 7 * 24 * 60, fallback: 30 }) * 60_000,
    escalation: {
      slackWebhookUrl: readSecretRef(r, [...x, 'slack_webhook_url'], 'SFPIPE_ESCALATION_SLACK_WEBHOOK_URL'),
      webhookUrl: readSecretRef(r, [...x, 'webhook_url'], 'SFPIPE_ESCALATION_WEBHOOK_URL'),
      emailTo: addresses(r, [...x, 'email_to'], 'SFPIPE_ESCALATION_EMAIL_TO', env),
    },
  };
}
