/**
 * The `alerts:` section of the pipeline config: channels (Slack, a JSON webhook, email over SMTP)
 * and escalation. Secrets (webhook URLs, the SMTP username and password) are references
 * (`{ env: NAME }` or `{ file: /path }`), never values.
 */
import { z } from 'zod';
import { issue, list, matching, maybe, msg, number, oneOf, section, setting, text, type Env } from './schema-kit.js';

export type AlertChannel = 'email' | 'slack' | 'webhook';
export const ALERT_CHANNELS = ['email', 'slack', 'webhook'] as const satisfies readonly AlertChannel[];

/** A secret value's source: an environment variable or a file (e.g. a mounted Secret). */
export type SecretRef = { env: string } | { file: string };

/** A secret by reference; unset: `{ env: <defaultEnv> }`; null: none. `inline`: the problem when the value itself is written. */
export function secretRef(defaultEnv: string, inline = 'holds the URL itself; webhook URLs are secrets') {
  const fix = `write { env: ${defaultEnv} } or { file: /path/to/secret }`;
  const ref = section({ env: maybe(text()), file: maybe(text()) }, { notMapping: (v) => msg(typeof v === 'string' ? inline : 'must be a mapping', fix) })
    .superRefine((v, ctx) => {
      if (v.env === undefined && v.file === undefined) issue(ctx, [], 'needs env or file', fix);
      if (v.env !== undefined && v.file !== undefined) issue(ctx, ['file'], 'cannot be combined with env (a secret has one source)', `remove one: ${fix}`);
    })
    .transform((v): SecretRef => (v.env !== undefined ? { env: v.env } : { file: v.file! }));
  return setting(ref.nullable(), { default: { env: defaultEnv } });
}

const EMAIL = /^[^\s@<>,;"]+@[^\s@<>,;"]+$/;

/** Email addresses: the file's list, else the comma-separated variable `envName`. */
function addresses(envName: string, env: Env) {
  const address = matching(EMAIL, (a) => `"${a}" is not an email address`, `write addresses such as oncall@example.com (or set ${envName}, comma-separated)`);
  return setting(list(address), { env: [envName], from: env, parseEnv: (v) => v.split(',').map((s) => s.trim()).filter(Boolean), default: [] });
}

export function alertsSchema(env: Env) {
  const email = section({
    /** null: email is off (no server configured). */
    host: maybe(
      matching(/^[^\s/:@]+$/, (h) => `"${h}" is not a host name`, "write the SMTP server's name, e.g. smtp.example.com (port and security are their own keys)"),
      { env: ['SFPIPE_SMTP_HOST'], from: env },
    ),
    port: maybe(number({ min: 1, max: 65535, integer: true }), { env: ['SFPIPE_SMTP_PORT'], from: env, parseEnv: Number }),
    security: setting(oneOf(['starttls', 'tls']), { default: 'starttls' }),
    from: maybe(
      text().refine((f) => EMAIL.test(f.replace(/^.*<([^>]+)>\s*$/, '$1')), {
        error: (iss) => msg(`"${String(iss.input)}" is not an email address`, 'write e.g. sfpipe@example.com or "sfpipe <sfpipe@example.com>"'),
      }),
      { env: ['SFPIPE_SMTP_FROM'], from: env },
    ),
    to: addresses('SFPIPE_SMTP_TO', env),
    username: secretRef('SFPIPE_SMTP_USERNAME', 'holds the username itself; it is a credential'),
    password: secretRef('SFPIPE_SMTP_PASSWORD', 'holds the password itself; it is a secret'),
    ca_file: maybe(text()),
  }).transform((e) => ({
    host: e.host ?? null,
    // 587 for starttls, 465 for tls.
    port: e.port ?? (e.security === 'tls' ? 465 : 587),
    security: e.security,
    from: e.from ?? null,
    to: e.to,
    username: e.username,
    password: e.password,
    caFile: e.ca_file ?? null,
  }));
  const escalation = section({
    slack_webhook_url: secretRef('SFPIPE_ESCALATION_SLACK_WEBHOOK_URL'),
    webhook_url: secretRef('SFPIPE_ESCALATION_WEBHOOK_URL'),
    email_to: addresses('SFPIPE_ESCALATION_EMAIL_TO', env),
  });
  return setting(
    section({
      /** Where alerts go (the seed's channels); a channel without its destination is off. */
      channels: setting(list(oneOf(ALERT_CHANNELS)), { default: [...ALERT_CHANNELS] }),
      slack_webhook_url: secretRef('SFPIPE_SLACK_WEBHOOK_URL'),
      webhook_url: secretRef('SFPIPE_ALERT_WEBHOOK_URL'),
      email: setting(email, { default: {} }),
      /** An alert unresolved this long is sent to the escalation channel; 0: never. */
      escalation_minutes: setting(number({ min: 0, max: 7 * 24 * 60 }), { default: 30 }),
      escalation: setting(escalation, { default: {} }),
    })
      .superRefine((a, ctx) => {
        const e = a.email;
        if (a.channels.includes('email') && e.host && (!e.from || e.to.length === 0)) {
          const what = e.from ? 'recipients' : 'sender';
          issue(ctx, ['email'], `has a server (${e.host}) but no ${what}`, `set alerts.email.${e.from ? 'to: [oncall@example.com]' : 'from: sfpipe@example.com'} (or ${e.from ? 'SFPIPE_SMTP_TO' : 'SFPIPE_SMTP_FROM'})`);
        }
      })
      .transform((a) => ({
        channels: a.channels as AlertChannel[],
        slackWebhookUrl: a.slack_webhook_url,
        webhookUrl: a.webhook_url,
        email: a.email,
        escalationMs: a.escalation_minutes * 60_000,
        escalation: { slackWebhookUrl: a.escalation.slack_webhook_url, webhookUrl: a.escalation.webhook_url, emailTo: a.escalation.email_to },
      })),
    { default: {} },
  );
}

export type AlertsConfig = z.output<ReturnType<typeof alertsSchema>>;
export type SmtpConfig = AlertsConfig['email'];
