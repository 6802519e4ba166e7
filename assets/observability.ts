import fs from 'node:fs';
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

/** Alert and metrics destinations from the config, secrets resolved. */
export function observabilityFrom(config: PipelineConfig, env: NodeJS.ProcessEnv = process.env): Observability {
  const slack = readSecret(config.alerts.slackWebhookUrl, env);
  const webhook = readSecret(config.alerts.webhookUrl, env);
  const pg = config.metrics.pushgatewayUrl;
  const pushUrl = pg && 'value' in pg ? pg.value : readSecret(pg as SecretRef | null, env);
  return {
    notifiers: slack || webhook ? { ...(slack ? { slackWebhookUrl: slack } : {}), ...(webhook ? { webhookUrl: webhook } : {}), pipelineName: 'sf-user-pipeline' } : null,
    metrics: pushUrl ? { url: pushUrl, job: config.metrics.job } : null,
  };
}
