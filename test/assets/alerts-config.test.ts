import test from 'ava';
import fs from 'node:fs';
import { ConfigError, embeddedConfigPath, parsePipelineConfig } from '../../assets/config/load-config.js';
import { observabilityFrom } from '../../assets/config/alert-destinations.js';

const embedded = () => fs.readFileSync(embeddedConfigPath(), 'utf8');
const ALERTS_START = embedded().indexOf('\nalerts:\n');
const ALERTS_END = embedded().indexOf('\n# Prometheus');
/** The embedded config with its alerts section replaced. */
const withAlerts = (alerts: string) => `${embedded().slice(0, ALERTS_START)}\n${alerts}\n${embedded().slice(ALERTS_END)}`;

test('the embedded default: the seed channels plus the webhook, escalation after 30 minutes, email off without a server', (t) => {
  const c = parsePipelineConfig('e.yaml', embedded());
  t.deepEqual(c.alerts.channels, ['email', 'slack', 'webhook']);
  t.is(c.alerts.escalationMs, 30 * 60_000);
  t.like(c.alerts.email, { security: 'starttls', port: 587, username: { env: 'SFPIPE_SMTP_USERNAME' }, password: { env: 'SFPIPE_SMTP_PASSWORD' } });
  t.deepEqual(c.alerts.escalation.webhookUrl, { env: 'SFPIPE_ESCALATION_WEBHOOK_URL' });
  const obs = observabilityFrom(c, {});
  t.is(obs.notifiers, null);
  t.is(obs.escalation, null);
});

test('email and escalation from the config and the Secret-backed environment; channels choose', (t) => {
  const c = parsePipelineConfig(
    'p.yaml',
    withAlerts(`alerts:
  channels: [email, slack]
  slack_webhook_url: { env: SLACK }
  webhook_url: { env: HOOK }
  email:
    host: smtp.example.com
    security: tls
    from: "sfpipe <sfpipe@example.com>"
    to: [data@example.com, ops@example.com]
    username: { env: SMTP_USER }
    password: { file: /nonexistent/smtp-password }
  escalation_minutes: 45
  escalation:
    webhook_url: { env: ESC_HOOK }
    email_to: [lead@example.com]`),
  );
  t.like(c.alerts.email, { host: 'smtp.example.com', port: 465, security: 'tls', to: ['data@example.com', 'ops@example.com'] });
  const obs = observabilityFrom(c, { SLACK: 'https://hooks.slack.test/x', HOOK: 'https://hook.test/y', SMTP_USER: 'u', ESC_HOOK: 'https://esc.test/z' });
  t.is(obs.notifiers!.slackWebhookUrl, 'https://hooks.slack.test/x');
  t.is(obs.notifiers!.webhookUrl, undefined, 'webhook is not among the channels');
  t.like(obs.notifiers!.email, { host: 'smtp.example.com', port: 465, security: 'tls', to: ['data@example.com', 'ops@example.com'] });
  t.is(obs.notifiers!.email!.password, undefined, 'no password file: no login');
  t.is(obs.escalation!.afterMs, 45 * 60_000);
  t.is(obs.escalation!.notifiers.webhookUrl, 'https://esc.test/z');
  t.deepEqual(obs.escalation!.notifiers.email!.to, ['lead@example.com']);

  // The chart's way: the server in the config, the credentials from the Secret's environment.
  const chart = parsePipelineConfig(
    'p.yaml',
    withAlerts('alerts:\n  email:\n    host: smtp.internal\n    from: sfpipe@example.com\n    to: [a@example.com, b@example.com]\n  escalation:\n    email_to: [lead@example.com]'),
  );
  const fromEnv = observabilityFrom(chart, { SFPIPE_SMTP_USERNAME: 'user', SFPIPE_SMTP_PASSWORD: 'pw-secret' });
  t.like(fromEnv.notifiers!.email, { host: 'smtp.internal', port: 587, security: 'starttls', username: 'user', password: 'pw-secret', to: ['a@example.com', 'b@example.com'] });
  t.deepEqual(fromEnv.escalation!.notifiers.email!.to, ['lead@example.com']);
  t.is(fromEnv.escalation!.afterMs, 30 * 60_000);
});

const bad: [string, string, RegExp][] = [
  ['an inline password', 'alerts:\n  email:\n    password: hunter2', /alerts\.email\.password \(line \d+\): holds the password itself; it is a secret\. Fix: write \{ env: SFPIPE_SMTP_PASSWORD \}/],
  ['an unknown channel', 'alerts:\n  channels: [email, pager]', /alerts\.channels\[1\].*"pager" is not one of email, slack, webhook/],
  ['a typo', 'alerts:\n  escalation_minute: 30', /alerts\.escalation_minute \(line \d+\): is not a setting sfpipe reads\. Fix: did you mean escalation_minutes\?/],
  ['a bad recipient', 'alerts:\n  email:\n    to: [not-an-address]', /alerts\.email\.to\[0\].*"not-an-address" is not an email address/],
  ['a server without recipients', 'alerts:\n  email:\n    host: smtp.example.com\n    from: a@example.com', /alerts\.email .*has a server \(smtp\.example\.com\) but no recipients/],
  ['a host with a port', 'alerts:\n  email:\n    host: "smtp.example.com:587"', /alerts\.email\.host.*is not a host name/],
  ['a negative escalation', 'alerts:\n  escalation_minutes: -5', /alerts\.escalation_minutes.*-5 is out of range/],
  ['a bad security', 'alerts:\n  email:\n    security: none', /alerts\.email\.security.*"none" is not one of starttls, tls/],
  ['a secret from two sources', 'alerts:\n  webhook_url: { env: HOOK, file: /run/hook }', /alerts\.webhook_url\.file \(line \d+\): cannot be combined with env/],
];
for (const [name, alerts, expected] of bad) {
  test(`alerts config error: ${name}`, (t) => {
    const err = t.throws(() => parsePipelineConfig('p.yaml', withAlerts(alerts)), { instanceOf: ConfigError });
    t.regex(err!.message, expected);
    t.notRegex(err!.message, /hunter2/);
  });
}
