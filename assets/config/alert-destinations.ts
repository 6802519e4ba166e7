import fs from 'node:fs';
import type { Logger } from '../../runtime/logging.js';
import type { Observability } from '../../runtime/pipeline.js';
import type { EmailConfig } from '../../runtime/alerts/index.js';
import type { AlertChannel, SmtpConfig } from './alerts-config.js';
import type { PipelineConfig, SecretRef } from './pipeline-config.js';

/** Reads a secret from its env var or file; null when not set (that notifier is off). */
export function readSecret(ref: SecretRef | null, env: NodeJS.ProcessEnv = process.env): string | null {
  if (!ref) return null;
  if ('env' in ref) return env[ref.env]?.trim() || null;
  try {
    return fs.readFileSync(ref.file, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/**
 * Alert and metrics destinations from the config, secrets resolved. SFPIPE_ALERTS_SECRET (set by
 * the chart when alerts come from an existing Secret, whose keys are optional) makes alerts that
 * resolve to no URL a warning: a missing Secret or misnamed keys must not switch them off silently.
 */
export function observabilityFrom(config: PipelineConfig, env: NodeJS.ProcessEnv = process.env, log?: Logger): Observability {
  const { alerts } = config;
  const on = (c: AlertChannel) => alerts.channels.includes(c);
  const slack = on('slack') ? readSecret(alerts.slackWebhookUrl, env) : null;
  const webhook = on('webhook') ? readSecret(alerts.webhookUrl, env) : null;
  const smtp = smtpFrom(alerts.email, env, log);
  const email = on('email') && smtp && alerts.email.to.length > 0 ? { ...smtp, to: alerts.email.to } : null;
  const alertsSecret = env.SFPIPE_ALERTS_SECRET?.trim();
  if (alertsSecret && !slack && !webhook && !email) {
    log?.warn(
      `alerts are off: the Secret ${alertsSecret} (alerts.existingSecret) gave neither a Slack nor a webhook URL; ` +
        'check that it exists in this namespace and holds the keys named by alerts.slackWebhookUrlKey / alerts.webhookUrlKey',
    );
  }
  const pg = config.metrics.pushgatewayUrl;
  const pushUrl = pg && 'value' in pg ? pg.value : readSecret(pg as SecretRef | null, env);
  const pipelineName = 'sf-user-pipeline';
  const escSlack = readSecret(alerts.escalation.slackWebhookUrl, env);
  const escHook = readSecret(alerts.escalation.webhookUrl, env);
  const escEmail = smtp && alerts.escalation.emailTo.length > 0 ? { ...smtp, to: alerts.escalation.emailTo } : null;
  const escalates = alerts.escalationMs > 0 && Boolean(escSlack || escHook || escEmail);
  return {
    notifiers:
      slack || webhook || email
        ? { ...(slack ? { slackWebhookUrl: slack } : {}), ...(webhook ? { webhookUrl: webhook } : {}), ...(email ? { email } : {}), pipelineName }
        : null,
    metrics: pushUrl ? { url: pushUrl, job: config.metrics.job } : null,
    uiBaseUrl: config.ui.baseUrl,
    escalation: escalates
      ? {
          afterMs: alerts.escalationMs,
          notifiers: { ...(escSlack ? { slackWebhookUrl: escSlack } : {}), ...(escHook ? { webhookUrl: escHook } : {}), ...(escEmail ? { email: escEmail } : {}), pipelineName },
        }
      : null,
  };
}

/** The SMTP server's settings with the credentials resolved; null when no server is configured. */
function smtpFrom(cfg: SmtpConfig, env: NodeJS.ProcessEnv, log?: Logger): Omit<EmailConfig, 'to'> | null {
  if (!cfg.host || !cfg.from) return null;
  const username = readSecret(cfg.username, env);
  const password = readSecret(cfg.password, env);
  if (username && !password) log?.warn(`alerts by email: a username but no password for ${cfg.host}; sending without logging in`);
  let ca: string | undefined;
  if (cfg.caFile) {
    try {
      ca = fs.readFileSync(cfg.caFile, 'utf8');
    } catch (err) {
      log?.warn(`alerts by email: cannot read alerts.email.ca_file ${cfg.caFile} (${(err as NodeJS.ErrnoException).code ?? 'error'}); the system's CAs are used`);
    }
  }
  return {
    host: cfg.host,
    port: cfg.port,
    security: cfg.security,
    from: cfg.from,
    ...(username && password ? { username, password } : {}),
    ...(ca ? { ca } : {}),
  };
}
