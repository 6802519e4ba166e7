import fs from 'node:fs';
import type { Logger } from '../runtime/logging.js';
import type { Observability } from '../runtime/pipeline.js';
import type { PipelineConfig, SecretRef } from './config/pipeline-config.js';

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
  const slack = readSecret(config.alerts.slackWebhookUrl, env);
  const webhook = readSecret(config.alerts.webhookUrl, env);
  const alertsSecret = env.SFPIPE_ALERTS_SECRET?.trim();
  if (alertsSecret && !slack && !webhook) {
    log?.warn(
      `alerts are off: the Secret ${alertsSecret} (alerts.existingSecret) gave neither a Slack nor a webhook URL; ` +
        'check that it exists in this namespace and holds the keys named by alerts.slackWebhookUrlKey / alerts.webhookUrlKey',
    );
  }
  const pg = config.metrics.pushgatewayUrl;
  const pushUrl = pg && 'value' in pg ? pg.value : readSecret(pg as SecretRef | null, env);
  return {
    notifiers: slack || webhook ? { ...(slack ? { slackWebhookUrl: slack } : {}), ...(webhook ? { webhookUrl: webhook } : {}), pipelineName: 'sf-user-pipeline' } : null,
    metrics: pushUrl ? { url: pushUrl, job: config.metrics.job } : null,
    uiBaseUrl: config.ui.baseUrl,
  };
}
