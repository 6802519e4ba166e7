import test from 'ava';
import {
  alertsForTransitions,
  createNotifiers,
  redact,
  sendAlerts,
  slackText,
  urlSecrets,
  webhookPayload,
  type AlertEvent,
  type StateTransition,
} from '../../runtime/alerts/index.js';
import { checkTransitions } from '../../runtime/observability.js';
import { uiPageFor } from '../../runtime/ui/links.js';
import type { CheckResultRecord } from '../../runtime/storage/event-log.js';
import type { RunResult } from '../../runtime/executor.js';
import { silentLogger } from '../../runtime/logging.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { closedPort, receiver } from '../helpers/http-receiver.js';


const SECRET_PATH = 'T0SECRET/B0SECRET/xoxSuperSecretToken123';
const SECRET_QUERY = 'qsecret456';

function event(over: Partial<AlertEvent> = {}): AlertEvent {
  return {
    kind: 'freshness',
    assetKey: 'raw/users',
    state: 'FAIL',
    previousState: 'PASS',
    recovered: false,
    reason: 'last update 3h ago, more than 2h',
    runId: 'run-1234abcd',
    command: 'sfpipe lineage --select raw/users',
    timestamp: '2024-05-01T10:00:00.000Z',
    ...over,
  };
}

function sequence(states: string[], base: Partial<StateTransition> = {}): StateTransition[] {
  return states.map((state, i) => ({
    assetKey: 'raw/users',
    kind: 'freshness',
    previousState: i === 0 ? null : states[i - 1]!,
    state,
    reason: `evaluation ${i}`,
    runId: `run-${i}`,
    ...base,
  }));
}

const fast = { baseDelayMs: 10, timeoutMs: 2000 };

// ---------------------------------------------------------------- transitions (pure)

test('alertsForTransitions: one message per state change; a recovery is flagged', (t) => {
  const events = alertsForTransitions(sequence(['PASS', 'PASS', 'FAIL', 'FAIL', 'FAIL', 'PASS', 'PASS']));
  t.deepEqual(
    events.map((e) => [e.previousState, e.state, e.recovered, e.runId]),
    [
      ['PASS', 'FAIL', false, 'run-2'],
      ['FAIL', 'PASS', true, 'run-5'],
    ],
  );
  t.is(events[0]!.command, 'sfpipe lineage --select raw/users');
  t.notThrows(() => new Date(events[0]!.timestamp).toISOString());
});

test('alertsForTransitions: which changes alert', (t) => {
  const one = (previousState: string | null, state: string, kind: 'freshness' | 'check' = 'freshness') =>
    alertsForTransitions([{ assetKey: 'a', kind, previousState, state, reason: 'r', runId: null }]);
  t.is(one(null, 'FAIL').length, 1, 'first-ever FAIL alerts');
  t.is(one(null, 'WARN').length, 1, 'first-ever WARN alerts');
  t.is(one(null, 'PASS').length, 0);
  t.is(one(null, 'UNKNOWN').length, 0);
  t.is(one(null, 'NOT_APPLICABLE').length, 0);
  t.is(one('PASS', 'WARN').length, 1);
  t.is(one('WARN', 'FAIL').length, 1);
  t.is(one('FAIL', 'WARN').length, 1);
  t.is(one('FAIL', 'FAIL').length, 0);
  t.is(one('WARN', 'WARN').length, 0);
  t.is(one('PASS', 'PASS').length, 0);
  t.is(one('FAIL', 'UNKNOWN').length, 0, 'FAIL → UNKNOWN is not a recovery');
  t.is(one('FAIL', 'NOT_APPLICABLE').length, 0);
  t.is(one('UNKNOWN', 'FAIL').length, 1);
  t.true(one('WARN', 'PASS')[0]!.recovered);
  t.false(one('PASS', 'FAIL')[0]!.recovered);
  t.is(one(null, 'FAILED', 'check').length, 1);
  t.is(one('FAILED', 'FAILED', 'check').length, 0);
  const rec = one('FAILED', 'PASSED', 'check');
  t.is(rec.length, 1);
  t.true(rec[0]!.recovered);
  t.is(one(null, 'PASSED', 'check').length, 0);
});

test('alertsForTransitions keeps checkName and an explicit command', (t) => {
  const [ev] = alertsForTransitions([
    { assetKey: 'stg/users', kind: 'check', checkName: 'not_null_id', previousState: 'PASSED', state: 'FAILED', reason: '3 nulls', runId: 'r1', command: 'custom cmd' },
  ]);
  t.is(ev!.checkName, 'not_null_id');
  t.is(ev!.command, 'custom cmd');
  t.is(ev!.kind, 'check');
});

// ---------------------------------------------------------------- delivery

test('a sequence of evaluations sends exactly one message per change (slack + webhook)', async (t) => {
  const slack = await receiver(t);
  const hook = await receiver(t);
  const { log } = captureLogger();
  const notifiers = createNotifiers({ slackWebhookUrl: `${slack.base}/services/${SECRET_PATH}`, webhookUrl: `${hook.base}/hook?token=${SECRET_QUERY}`, ...fast }, log);
  t.deepEqual(notifiers.map((n) => n.name), ['slack', 'webhook']);
  const events = alertsForTransitions(sequence(['PASS', 'PASS', 'FAIL', 'FAIL', 'FAIL', 'PASS', 'PASS']));
  const r = await sendAlerts(notifiers, events, log);
  t.deepEqual(r, { sent: 4, failed: 0 });
  t.is(slack.requests.length, 2);
  t.is(hook.requests.length, 2);
  const texts = slack.requests.map((q) => (JSON.parse(q.body) as { text: string }).text);
  t.regex(texts[0]!, /FAIL/);
  t.notRegex(texts[0]!, /recovered/i);
  t.regex(texts[1]!, /recovered/i);
  t.is((JSON.parse(hook.requests[1]!.body) as AlertEvent).recovered, true);
});

test('nothing is sent when the state holds', async (t) => {
  const rx = await receiver(t);
  const notifiers = createNotifiers({ webhookUrl: `${rx.base}/hook`, ...fast }, silentLogger());
  const events = alertsForTransitions(sequence(['FAIL', 'FAIL', 'FAIL']).slice(1));
  t.is(events.length, 0);
  t.deepEqual(await sendAlerts(notifiers, events, silentLogger()), { sent: 0, failed: 0 });
  t.is(rx.requests.length, 0);
});

test('first-ever FAIL and WARN → FAIL are delivered', async (t) => {
  const rx = await receiver(t);
  const notifiers = createNotifiers({ webhookUrl: `${rx.base}/hook`, ...fast }, silentLogger());
  const events = alertsForTransitions([
    ...sequence(['FAIL']),
    ...sequence(['WARN', 'FAIL'], { assetKey: 'stg/users' }).slice(1),
  ]);
  t.deepEqual(await sendAlerts(notifiers, events, silentLogger()), { sent: 2, failed: 0 });
  const bodies = rx.requests.map((q) => JSON.parse(q.body) as AlertEvent);
  t.deepEqual(bodies.map((b) => [b.assetKey, b.previousState, b.state]), [
    ['raw/users', null, 'FAIL'],
    ['stg/users', 'WARN', 'FAIL'],
  ]);
});

test('Slack payload: text names asset, state, reason, run id and the command in backticks', async (t) => {
  const rx = await receiver(t);
  const [slack] = createNotifiers({ slackWebhookUrl: `${rx.base}/services/${SECRET_PATH}`, pipelineName: 'sfpipe-prod', ...fast }, silentLogger());
  t.true(await slack!.send(event()));
  const q = rx.requests[0]!;
  t.is(q.method, 'POST');
  t.regex(String(q.headers['content-type']), /application\/json/);
  const body = JSON.parse(q.body) as { text: string; blocks?: unknown[] };
  t.true(body.text.includes('raw/users'));
  t.true(body.text.includes('FAIL'));
  t.true(body.text.includes('last run: `run-1234abcd`'), body.text);
  t.true(body.text.includes('last update 3h ago'));
  t.true(body.text.includes('`sfpipe lineage --select raw/users`'));
  t.true(body.text.includes('sfpipe-prod'));
  t.true(body.text.includes(':red_circle:'));
  t.true(Array.isArray(body.blocks));
});

test('Slack text: emoji for WARN and for a recovery', async (t) => {
  const rx = await receiver(t);
  const [slack] = createNotifiers({ slackWebhookUrl: `${rx.base}/s`, ...fast }, silentLogger());
  await slack!.send(event({ state: 'WARN' }));
  await slack!.send(event({ state: 'PASS', previousState: 'FAIL', recovered: true }));
  const [warn, rec] = rx.requests.map((q) => (JSON.parse(q.body) as { text: string }).text);
  t.true(warn!.includes(':warning:'));
  t.true(rec!.includes(':white_check_mark:'));
  t.regex(rec!, /recovered/i);
});

test('generic webhook payload is the event JSON plus pipeline', async (t) => {
  const rx = await receiver(t);
  const [hook] = createNotifiers({ webhookUrl: `${rx.base}/hook?token=${SECRET_QUERY}`, pipelineName: 'p1', ...fast }, silentLogger());
  const ev = event({ kind: 'check', checkName: 'unique_id', state: 'FAILED', previousState: 'PASSED' });
  t.true(await hook!.send(ev));
  t.is(rx.requests[0]!.url, `/hook?token=${SECRET_QUERY}`);
  t.deepEqual(JSON.parse(rx.requests[0]!.body), { ...ev, pipeline: 'p1' });
});

test('retries on 500: two failures then success → exactly 3 requests, one delivery', async (t) => {
  const rx = await receiver(t, [{ status: 500 }, { status: 500 }, { status: 200 }]);
  const { log } = captureLogger();
  const notifiers = createNotifiers({ webhookUrl: `${rx.base}/hook`, ...fast }, log);
  t.deepEqual(await sendAlerts(notifiers, [event()], log), { sent: 1, failed: 0 });
  t.is(rx.requests.length, 3);
});

test('429 with Retry-After is honoured', async (t) => {
  const rx = await receiver(t, [{ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }]);
  const [hook] = createNotifiers({ webhookUrl: `${rx.base}/hook`, ...fast }, silentLogger());
  t.true(await hook!.send(event()));
  t.is(rx.requests.length, 2);
  const gap = rx.requests[1]!.at - rx.requests[0]!.at;
  t.true(gap >= 900, `waited ${gap}ms, Retry-After said 1s`);
});

test('gives up after maxRetries, returns false and does not throw', async (t) => {
  const rx = await receiver(t, [{ status: 503 }]);
  const { log, lines, flush } = captureLogger();
  const notifiers = createNotifiers({ webhookUrl: `${rx.base}/hook`, maxRetries: 2, ...fast }, log);
  const r = await sendAlerts(notifiers, [event()], log);
  t.deepEqual(r, { sent: 0, failed: 1 });
  t.is(rx.requests.length, 3);
  await flush();
  const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'warn');
  t.truthy(warn);
  t.is(warn!.notifier, 'webhook');
  t.is(warn!.attempts, 3);
  t.is(warn!.status, 503);
});

test('400 is not retried', async (t) => {
  const rx = await receiver(t, [{ status: 400 }, { status: 200 }]);
  const [hook] = createNotifiers({ webhookUrl: `${rx.base}/hook`, ...fast }, silentLogger());
  t.false(await hook!.send(event()));
  t.is(rx.requests.length, 1);
});

test('an unreachable webhook is logged and does not throw', async (t) => {
  const port = await closedPort();
  const { log, lines, flush } = captureLogger();
  const notifiers = createNotifiers({ slackWebhookUrl: `http://127.0.0.1:${port}/services/${SECRET_PATH}`, maxRetries: 1, ...fast }, log);
  const r = await sendAlerts(notifiers, [event()], log);
  t.deepEqual(r, { sent: 0, failed: 1 });
  await flush();
  const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'warn');
  t.truthy(warn);
  t.is(warn!.notifier, 'slack');
  t.truthy(warn!.error);
});

test('webhook URLs (path and query secrets, host) never appear in a log line, even when delivery fails', async (t) => {
  const failing = await receiver(t, [{ status: 500 }]);
  const port = await closedPort();
  const { log, lines, flush } = captureLogger();
  const urls = [
    `${failing.base}/services/${SECRET_PATH}?token=${SECRET_QUERY}`,
    `http://127.0.0.1:${port}/services/${SECRET_PATH}?token=${SECRET_QUERY}`,
    `http://[not-a-url/services/${SECRET_PATH}?token=${SECRET_QUERY}`,
  ];
  let delivered = 0;
  for (const url of urls) {
    const notifiers = createNotifiers({ slackWebhookUrl: url, webhookUrl: url, maxRetries: 1, ...fast }, log);
    const r = await sendAlerts(notifiers, [event()], log);
    delivered += r.sent;
  }
  t.is(delivered, 0);
  await flush();
  t.true(lines.length >= 6, `expected log lines, got ${lines.length}`);
  const forbidden = ['xoxSuperSecretToken123', SECRET_QUERY, 'B0SECRET', `127.0.0.1:${failing.port}`, `127.0.0.1:${port}`, 'not-a-url'];
  for (const line of lines) {
    for (const f of forbidden) t.false(line.includes(f), `log line leaks ${f}: ${line}`);
  }
});

test('redact scrubs every secret, longest first', (t) => {
  const url = `https://hooks.example.com/services/${SECRET_PATH}?token=${SECRET_QUERY}`;
  const msg = `fetch failed for ${url} (token=${SECRET_QUERY}; path /services/${SECRET_PATH}; enc ${encodeURIComponent(SECRET_PATH)})`;
  const out = redact(msg, urlSecrets(url, { includeHost: true }));
  t.false(out.includes('xoxSuperSecretToken123'));
  t.false(out.includes(SECRET_QUERY));
  t.false(out.includes('hooks.example.com'));
  t.true(out.includes('[REDACTED]'));
  t.is(redact('nothing here', ['', 'zz']), 'nothing here');
});

test('createNotifiers with nothing configured returns none; sendAlerts with no notifiers is a no-op', async (t) => {
  const notifiers = createNotifiers({}, silentLogger());
  t.deepEqual(notifiers, []);
  t.deepEqual(await sendAlerts(notifiers, [event()], silentLogger()), { sent: 0, failed: 0 });
});

test('sendAlerts survives a notifier that breaks the never-throw contract', async (t) => {
  const bad = { name: 'bad', send: async (): Promise<boolean> => { throw new Error('boom'); } };
  t.deepEqual(await sendAlerts([bad], [event()], silentLogger()), { sent: 0, failed: 1 });
});

test('checkTransitions: a WARN check that keeps failing alerts once, not on every run; its recovery and escalation alert', (t) => {
  const record = (checkName: string, severity: 'WARN' | 'ERROR', passed: boolean): CheckResultRecord => ({
    runId: 'r',
    assetKey: 'dim',
    checkName,
    severity,
    passed,
    description: passed ? null : '3 failing row(s)',
    metadata: {},
    timestamp: '2026-01-01T00:00:00.000Z',
  });
  const run = (...checks: CheckResultRecord[]): RunResult => ({
    runId: 'run-2',
    status: 'SUCCESS',
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: '2026-01-01T00:01:00.000Z',
    steps: [{ key: 'dim', status: 'SUCCESS', attempts: 1, startedAt: null, endedAt: null, error: null, reason: null, metadata: {}, checks, blocked: false }],
  });
  const before = (...checks: CheckResultRecord[]) => new Map([['dim', new Map(checks.map((c) => [c.checkName, c]))]]);
  const alerts = (b: Map<string, Map<string, CheckResultRecord>>, r: RunResult) => alertsForTransitions(checkTransitions(b, r, 'sfpipe')).map((e) => [e.checkName, e.previousState, e.state]);

  t.deepEqual(alerts(new Map(), run(record('accepted_values', 'WARN', false))), [['accepted_values', null, 'WARN']], 'first failure');
  t.deepEqual(alerts(before(record('accepted_values', 'WARN', false)), run(record('accepted_values', 'WARN', false))), [], 'still failing: no message');
  t.deepEqual(alerts(before(record('accepted_values', 'WARN', false)), run(record('accepted_values', 'WARN', true))), [['accepted_values', 'WARN', 'PASSED']]);
  t.deepEqual(alerts(before(record('unique', 'ERROR', false)), run(record('unique', 'ERROR', false))), []);
  t.deepEqual(alerts(before(record('x', 'WARN', false)), run(record('x', 'ERROR', false))), [['x', 'WARN', 'FAILED']], 'a severity raised to ERROR alerts');
});

test('with ui.base_url, an alert links to its run page (a run) or its asset page (a check, freshness); in Slack too', (t) => {
  const base = 'https://sfpipe.example.com';
  const [run, check, fresh] = alertsForTransitions(
    [
      { kind: 'run', assetKey: 'a/b, c/d', previousState: 'SUCCESS', state: 'FAILED', reason: 'r', runId: 'run-1' },
      { kind: 'check', assetKey: 'sf_raw/sf_user', checkName: 'c1', previousState: 'PASSED', state: 'FAILED', reason: 'r', runId: 'run-2' },
      { kind: 'freshness', assetKey: 'sf_raw/sf_user', previousState: 'PASS', state: 'FAIL', reason: 'r', runId: null },
    ],
    { link: (tr) => uiPageFor(base, tr) },
  );
  t.is(run!.url, 'https://sfpipe.example.com/runs/run-1');
  t.is(check!.url, 'https://sfpipe.example.com/asset?key=sf_raw%2Fsf_user');
  t.is(fresh!.url, 'https://sfpipe.example.com/asset?key=sf_raw%2Fsf_user');
  t.regex(slackText(run!), /\nopen: <https:\/\/sfpipe\.example\.com\/runs\/run-1\|the run in sfpipe ui>$/);
  t.is(webhookPayload(check!).url, check!.url);
  // Without a base URL: no link.
  const [plain] = alertsForTransitions([{ kind: 'run', assetKey: 'a', previousState: null, state: 'FAILED', reason: 'r', runId: 'x' }]);
  t.false('url' in plain!);
  t.notRegex(slackText(plain!), /open:/);
});
