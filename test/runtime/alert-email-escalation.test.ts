/**
 * Email alerts against a real SMTP server on loopback (smtp-server, STARTTLS with a self-signed
 * certificate made here) and escalation with a simulated clock over the event log's alert ledger.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { EmailNotifier, type AlertEvent, type EmailConfig } from '../../runtime/alerts/index.js';
import { alertOnTransitions } from '../../runtime/observability.js';
import { SqliteEventLog } from '../../runtime/storage/sqlite-event-log.js';
import type { Observability } from '../../runtime/pipeline.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { receiver } from '../helpers/http-receiver.js';
import { tempDir } from '../helpers/temp.js';

const USER = 'alerts@example.test';
const PASSWORD = 'smtp-pa55-word-SECRET';

function selfSigned(): { key: string; cert: string } {
  const dir = tempDir();
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '2', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(cert, 'utf8') };
}
const tls = selfSigned();

interface Received {
  from: string;
  to: string[];
  raw: string;
  secure: boolean;
  user: string | undefined;
}

/** A real SMTP server on loopback: STARTTLS offered, AUTH only after it, one account. */
async function smtp(t: ExecutionContext, options: Partial<SMTPServerOptions> = {}) {
  const mails: Received[] = [];
  const authAttempts: { user: string; secure: boolean }[] = [];
  const server = new SMTPServer({
    key: tls.key,
    cert: tls.cert,
    authMethods: ['PLAIN', 'LOGIN'],
    // AUTH in plain text is refused (smtp-server's default): credentials travel under TLS only.
    allowInsecureAuth: false,
    logger: false,
    onAuth(auth, session, cb) {
      authAttempts.push({ user: auth.username ?? '', secure: session.secure });
      if (auth.username === USER && auth.password === PASSWORD) return cb(null, { user: auth.username });
      return cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          secure: session.secure,
          user: session.user as string | undefined,
        });
        cb();
      });
    },
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.server.address() as AddressInfo).port;
  return { mails, authAttempts, port };
}

const email = (port: number, over: Partial<EmailConfig> = {}): EmailConfig => ({
  host: 'localhost',
  port,
  security: 'starttls',
  username: USER,
  password: PASSWORD,
  from: 'sfpipe <sfpipe@example.test>',
  to: ['oncall@example.test', 'data@example.test'],
  ca: tls.cert,
  ...over,
});

const alert: AlertEvent = {
  kind: 'freshness',
  assetKey: 'sf_raw/sf_user',
  state: 'FAIL',
  previousState: 'WARN',
  recovered: false,
  reason: 'last materialized 51h ago (fail after 50h)',
  runId: 'run-1234abcd',
  command: 'sfpipe lineage --select sf_raw/sf_user',
  timestamp: '2026-01-01T10:00:00.000Z',
};

test('email over STARTTLS with a self-signed CA: envelope, headers and body; the password is never logged', async (t) => {
  const server = await smtp(t);
  const { log, lines, flush } = captureLogger();
  const n = new EmailNotifier(email(server.port), { pipelineName: 'sf-user-pipeline', maxRetries: 0 }, log);
  t.true(await n.send(alert));
  t.is(server.mails.length, 1);
  const m = server.mails[0]!;
  t.true(m.secure, 'upgraded to TLS before MAIL FROM');
  t.is(m.user, USER);
  t.deepEqual(server.authAttempts, [{ user: USER, secure: true }]);
  t.is(m.from, 'sfpipe@example.test');
  t.deepEqual(m.to, ['oncall@example.test', 'data@example.test']);
  t.regex(m.raw, /^Subject: \[sf-user-pipeline\] FAIL: freshness of sf_raw\/sf_user\r?$/m);
  t.regex(m.raw, /^X-Sfpipe-Alert-Kind: freshness\r?$/m);
  t.regex(m.raw, /^X-Sfpipe-Asset: sf_raw\/sf_user\r?$/m);
  t.regex(m.raw, /^X-Sfpipe-Run-Id: run-1234abcd\r?$/im);
  t.regex(m.raw, /^Auto-Submitted: auto-generated\r?$/m);
  t.regex(m.raw, /look closer: sfpipe lineage --select sf_raw\/sf_user/);
  t.regex(m.raw, /reason: +last materialized 51h ago/);
  await flush();
  t.false(lines.join('\n').includes(PASSWORD));
});

test('email: wrong credentials and an untrusted certificate give up with a log line that holds no secret; no plain-text fallback', async (t) => {
  const server = await smtp(t);
  const { log, lines, flush } = captureLogger();
  const wrong = 'wrong-SECRET-password';
  t.false(await new EmailNotifier(email(server.port, { password: wrong }), { maxRetries: 2, baseDelayMs: 1 }, log).send(alert));
  t.is(server.authAttempts.length, 1, 'refused credentials are not retried');
  // Without the CA the self-signed certificate is refused: nothing is sent in plain text instead.
  const { ca: _ca, ...untrusted } = email(server.port);
  t.false(await new EmailNotifier(untrusted, { maxRetries: 0 }, log).send(alert));
  // A server that offers no STARTTLS: security starttls refuses to go on.
  const plain = await smtp(t, { disabledCommands: ['STARTTLS'], allowInsecureAuth: true });
  t.false(await new EmailNotifier(email(plain.port), { maxRetries: 0 }, log).send(alert));
  t.is(plain.mails.length + server.mails.length, 0);
  t.deepEqual(plain.authAttempts, []);
  await flush();
  const text = lines.join('\n');
  t.regex(text, /alert delivery via email gave up/);
  t.false(text.includes(wrong));
  t.false(text.includes(PASSWORD));
});

test('escalation with a simulated clock: once after escalation_minutes across two check pods, then its recovery there too', async (t) => {
  const server = await smtp(t);
  const slack = await receiver(t);
  const escalationHook = await receiver(t);
  const file = path.join(tempDir(), 'events.sqlite');
  // Two pods' event logs on one store.
  const podA = SqliteEventLog.open(file);
  const podB = SqliteEventLog.open(file);
  t.teardown(async () => {
    await podA.close();
    await podB.close();
  });
  const obs: Observability = {
    notifiers: { slackWebhookUrl: `${slack.base}/slack`, email: email(server.port, { to: ['data@example.test'] }), maxRetries: 0 },
    metrics: null,
    escalation: { afterMs: 30 * 60_000, notifiers: { webhookUrl: `${escalationHook.base}/escalate`, email: email(server.port, { to: ['lead@example.test'] }), maxRetries: 0 } },
  };
  const { log, lines, flush } = captureLogger();
  let clock = Date.parse('2026-01-01T10:00:00Z');
  const now = () => new Date(clock);
  const fail = { kind: 'freshness' as const, assetKey: 'sf_raw/sf_user', previousState: 'PASS', state: 'FAIL', reason: 'stale', runId: 'r1' };

  // 10:00 pod A: the alert goes to slack and email, and opens in the ledger.
  await alertOnTransitions(obs, [fail], log, 'sfpipe', podA.alerts, now);
  t.is(slack.requests.length, 1);
  t.deepEqual(server.mails.map((m) => m.to), [['data@example.test']]);
  t.is(escalationHook.requests.length, 0);

  // 10:29 pod B: still failing (no change), not yet 30 minutes: nothing.
  clock += 29 * 60_000;
  await alertOnTransitions(obs, [], log, 'sfpipe', podB.alerts, now);
  t.is(escalationHook.requests.length, 0);

  // 10:30 pods A and B at once: escalated exactly once, to the escalation channel only.
  clock += 60_000;
  await Promise.all([alertOnTransitions(obs, [], log, 'sfpipe', podA.alerts, now), alertOnTransitions(obs, [], log, 'sfpipe', podB.alerts, now)]);
  t.is(escalationHook.requests.length, 1);
  const escalated = JSON.parse(escalationHook.requests[0]!.body) as AlertEvent;
  t.like(escalated, { assetKey: 'sf_raw/sf_user', state: 'FAIL', recovered: false, escalated: { openedAt: '2026-01-01T10:00:00.000Z', afterMinutes: 30 } });
  t.regex(escalated.reason, /^unresolved for 30 min: stale/);
  t.deepEqual(server.mails.map((m) => m.to), [['data@example.test'], ['lead@example.test']]);
  t.regex(server.mails[1]!.raw, /^Subject: \[escalated\] FAIL: freshness of sf_raw\/sf_user\r?$/m);
  t.is(slack.requests.length, 1, 'the first channel is not sent the escalation');

  // An hour later, still failing: never again.
  clock += 60 * 60_000;
  await alertOnTransitions(obs, [], log, 'sfpipe', podB.alerts, now);
  t.is(escalationHook.requests.length, 1);

  // Recovery: to the usual channels and, as it was escalated, to the escalation channel once.
  clock += 60_000;
  const slackBefore = slack.requests.length;
  const recover = { ...fail, previousState: 'FAIL', state: 'PASS', reason: 'fresh again' };
  await Promise.all([alertOnTransitions(obs, [recover], log, 'sfpipe', podA.alerts, now), alertOnTransitions(obs, [recover], log, 'sfpipe', podB.alerts, now)]);
  t.is(escalationHook.requests.length, 2);
  t.like(JSON.parse(escalationHook.requests[1]!.body), { recovered: true, state: 'PASS', escalated: { openedAt: '2026-01-01T10:00:00.000Z' } });
  t.is(server.mails.filter((m) => m.to[0] === 'lead@example.test').length, 2);
  // …and the usual channels heard of it (from each pod that saw the transition here).
  t.is(slack.requests.length, slackBefore + 2);
  t.regex(slack.requests.at(-1)!.body, /recovered/i);
  t.regex(server.mails.filter((m) => m.to[0] === 'data@example.test').at(-1)!.raw, /^Subject: recovered: freshness of sf_raw\/sf_user is PASS again\r?$/m);
  t.deepEqual(await podA.alerts.openAlerts(), []);

  // A new failure that recovers within the window never reaches the escalation channel.
  await alertOnTransitions(obs, [fail], log, 'sfpipe', podA.alerts, now);
  clock += 10 * 60_000;
  await alertOnTransitions(obs, [recover], log, 'sfpipe', podA.alerts, now);
  clock += 60 * 60_000;
  await alertOnTransitions(obs, [], log, 'sfpipe', podA.alerts, now);
  t.is(escalationHook.requests.length, 2);
  await flush();
  t.false(lines.join('\n').includes(PASSWORD));
});
