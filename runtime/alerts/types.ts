/** freshness: an asset's freshness state; check: a check result; run: a materialize run's outcome. */
export type AlertKind = 'freshness' | 'check' | 'run';

export interface AlertEvent {
  kind: AlertKind;
  assetKey: string;
  /** e.g. FAIL, WARN, PASS (freshness) or FAILED / PASSED (check). */
  state: string;
  previousState: string | null;
  /** True when going back to PASS/PASSED from a bad state. */
  recovered: boolean;
  reason: string;
  /** The run that produced the result; for freshness, the last materialization's run (null if none). */
  runId: string | null;
  checkName?: string;
  /** What to run to look closer, e.g. `sfpipe lineage --select sf_raw/sf_user`. */
  command: string;
  /** The page of its asset or run in `sfpipe ui`, when the pipeline says where that is served (ui.base_url). */
  url?: string;
  /** ISO timestamp. */
  timestamp: string;
  /** Set on the message sent to the escalation channel: the alert has been unresolved that long. */
  escalated?: { openedAt: string; afterMinutes: number };
}

export interface Notifier {
  readonly name: string;
  /** Never throws; false when it gave up. */
  send(event: AlertEvent): Promise<boolean>;
}

/** SMTP delivery of alerts (runtime/alerts/email.ts). */
export interface EmailConfig {
  host: string;
  port: number;
  /** tls: TLS from the first byte (465); starttls: the upgrade is required (587). */
  security: 'tls' | 'starttls';
  username?: string;
  password?: string;
  from: string;
  to: string[];
  /** PEM CA bundle for a server certificate from a private CA. */
  ca?: string;
}

export interface NotifierConfig {
  slackWebhookUrl?: string;
  webhookUrl?: string;
  email?: EmailConfig;
  /** Retries after the first attempt; default 3. */
  maxRetries?: number;
  /** First backoff delay; default 500. */
  baseDelayMs?: number;
  /** Per-request timeout; default 10000. */
  timeoutMs?: number;
  pipelineName?: string;
}
