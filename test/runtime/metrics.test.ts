import test from 'ava';
import { silentLogger } from '../../runtime/logging.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { closedPort, receiver } from '../helpers/http-receiver.js';
import {
  MetricsFormatError,
  pushgatewayPath,
  pushMetrics,
  renderPrometheusText,
  type MetricSample,
} from '../../runtime/metrics/index.js';

// ---------------------------------------------------------------- a small exposition-format parser

interface Parsed {
  help: Map<string, string[]>;
  type: Map<string, string[]>;
  /** Sample lines in order. */
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
  /** Order in which metric names first appear in sample lines. */
  order: string[];
}

function unescapeLabel(s: string): string {
  return s.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(v: string): number {
  if (v === 'NaN') return NaN;
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  const n = Number(v);
  if (Number.isNaN(n)) throw new Error(`bad value ${v}`);
  return n;
}

function parseExposition(text: string): Parsed {
  const out: Parsed = { help: new Map(), type: new Map(), samples: [], order: [] };
  const push = (m: Map<string, string[]>, k: string, v: string) => m.set(k, [...(m.get(k) ?? []), v]);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) { push(out.help, m[1]!, m[2]!); continue; }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) { push(out.type, m[1]!, m[2]!); continue; }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparseable line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
      let lm: RegExpExecArray | null;
      let consumed = 0;
      while ((lm = re.exec(m[2])) !== null) {
        labels[lm[1]!] = unescapeLabel(lm[2]!);
        consumed = re.lastIndex;
        if (lm[3] === '') break;
      }
      if (consumed !== m[2].length) throw new Error(`bad labels: ${m[2]}`);
    }
    if (!out.order.includes(m[1]!)) out.order.push(m[1]!);
    out.samples.push({ name: m[1]!, labels, value: parseValue(m[3]!) });
  }
  return out;
}

const SAMPLES: MetricSample[] = [
  { name: 'sfpipe_asset_freshness_lag_seconds', help: 'Seconds since the asset was last updated.', type: 'gauge', labels: { asset: 'raw/users' }, value: 120 },
  { name: 'sfpipe_runs_total', help: 'Runs by status.', type: 'counter', labels: { status: 'SUCCESS' }, value: 7 },
  { name: 'sfpipe_asset_freshness_lag_seconds', help: 'Seconds since the asset was last updated.', type: 'gauge', labels: { asset: 'stg/users' }, value: 1.5 },
  { name: 'sfpipe_runs_total', help: 'Runs by status.', type: 'counter', labels: { status: 'FAILED' }, value: 1 },
  { name: 'sfpipe_last_run_timestamp_seconds', help: 'Unix time of the last run.\nMultiline help with a \\ backslash.', type: 'gauge', value: 1714557600 },
];

// ---------------------------------------------------------------- rendering

test('renderPrometheusText: one HELP and TYPE per name, samples grouped by name, ends with a newline', (t) => {
  const text = renderPrometheusText(SAMPLES);
  t.true(text.endsWith('\n'));
  const p = parseExposition(text);
  for (const name of ['sfpipe_asset_freshness_lag_seconds', 'sfpipe_runs_total', 'sfpipe_last_run_timestamp_seconds']) {
    t.is(p.help.get(name)?.length, 1, `HELP once for ${name}`);
    t.is(p.type.get(name)?.length, 1, `TYPE once for ${name}`);
  }
  t.deepEqual(p.type.get('sfpipe_runs_total'), ['counter']);
  t.deepEqual(p.type.get('sfpipe_asset_freshness_lag_seconds'), ['gauge']);
  // grouped: each name's samples are contiguous
  const names = p.samples.map((s) => s.name);
  t.deepEqual(names, [
    'sfpipe_asset_freshness_lag_seconds',
    'sfpipe_asset_freshness_lag_seconds',
    'sfpipe_runs_total',
    'sfpipe_runs_total',
    'sfpipe_last_run_timestamp_seconds',
  ]);
  t.deepEqual(p.samples[1], { name: 'sfpipe_asset_freshness_lag_seconds', labels: { asset: 'stg/users' }, value: 1.5 });
  // HELP/TYPE directly precede their samples
  const lines = text.split('\n');
  const i = lines.indexOf('# TYPE sfpipe_runs_total counter');
  t.is(lines[i - 1], '# HELP sfpipe_runs_total Runs by status.');
  t.true(lines[i + 1]!.startsWith('sfpipe_runs_total{status="SUCCESS"} 7'));
  // HELP escaping keeps it on one line
  t.deepEqual(p.help.get('sfpipe_last_run_timestamp_seconds'), ['Unix time of the last run.\\nMultiline help with a \\\\ backslash.']);
});

test('renderPrometheusText escapes label values and round-trips through a parser', (t) => {
  const nasty = 'say "hi"\\path\nnext line';
  const text = renderPrometheusText([{ name: 'm', help: 'h', type: 'gauge', labels: { v: nasty, b: 'x' }, value: 1 }]);
  t.true(text.includes('v="say \\"hi\\"\\\\path\\nnext line"'));
  t.is(text.split('\n').length, 4, 'HELP, TYPE, one sample, trailing newline');
  const p = parseExposition(text);
  t.deepEqual(p.samples[0]!.labels, { b: 'x', v: nasty });
});

test('renderPrometheusText: NaN and infinities', (t) => {
  const text = renderPrometheusText([
    { name: 'x', help: 'h', type: 'gauge', labels: { k: 'nan' }, value: NaN },
    { name: 'x', help: 'h', type: 'gauge', labels: { k: 'pinf' }, value: Infinity },
    { name: 'x', help: 'h', type: 'gauge', labels: { k: 'ninf' }, value: -Infinity },
  ]);
  t.true(text.includes('x{k="nan"} NaN\n'));
  t.true(text.includes('x{k="pinf"} +Inf\n'));
  t.true(text.includes('x{k="ninf"} -Inf\n'));
  const p = parseExposition(text);
  t.true(Number.isNaN(p.samples[0]!.value));
  t.is(p.samples[1]!.value, Infinity);
});

test('renderPrometheusText validates names and types', (t) => {
  t.throws(() => renderPrometheusText([{ name: '1bad', help: '', type: 'gauge', value: 1 }]), { instanceOf: MetricsFormatError });
  t.throws(() => renderPrometheusText([{ name: 'bad-name', help: '', type: 'gauge', value: 1 }]), { instanceOf: MetricsFormatError });
  t.throws(() => renderPrometheusText([{ name: 'ok', help: '', type: 'gauge', labels: { 'bad-label': 'x' }, value: 1 }]), { instanceOf: MetricsFormatError });
  t.throws(() => renderPrometheusText([
    { name: 'ok', help: '', type: 'gauge', value: 1 },
    { name: 'ok', help: '', type: 'counter', value: 1 },
  ]), { instanceOf: MetricsFormatError });
  t.notThrows(() => renderPrometheusText([{ name: 'ns:sub_metric', help: '', type: 'gauge', value: 1 }]));
  t.is(renderPrometheusText([]), '');
});

// ---------------------------------------------------------------- push


test('pushMetrics PUTs the exposition text to /metrics/job/<job>/<label>/<value>', async (t) => {
  const rx = await receiver(t);
  const ok = await pushMetrics({ url: rx.base, job: 'sfpipe', grouping: { instance: 'abc' }, baseDelayMs: 10 }, SAMPLES, silentLogger());
  t.true(ok);
  t.is(rx.requests.length, 1);
  const q = rx.requests[0]!;
  t.is(q.method, 'PUT');
  t.is(q.url, '/metrics/job/sfpipe/instance/abc');
  t.is(q.headers['content-type'], 'text/plain; version=0.0.4');
  t.is(q.body, renderPrometheusText(SAMPLES));
  const p = parseExposition(q.body);
  t.is(p.samples.length, SAMPLES.length);
});

test('a grouping value with "/" uses the @base64 form; other values are percent-encoded', async (t) => {
  const rx = await receiver(t);
  t.true(await pushMetrics({ url: `${rx.base}/`, job: 'sfpipe', grouping: { instance: 'abc', path: '/var/tmp', env: 'a b' }, baseDelayMs: 10 }, SAMPLES, silentLogger()));
  const url = rx.requests[0]!.url;
  t.is(url, `/metrics/job/sfpipe/instance/abc/path@base64/${Buffer.from('/var/tmp').toString('base64url')}/env/a%20b`);
  const seg = url.split('/')[7]!;
  t.is(Buffer.from(seg, 'base64url').toString('utf8'), '/var/tmp');
  // Pushgateway docs example
  t.is(pushgatewayPath('directory_cleaner', { path: '/var/tmp' }), '/metrics/job/directory_cleaner/path@base64/L3Zhci90bXA');
  t.is(pushgatewayPath('a/b'), `/metrics/job@base64/${Buffer.from('a/b').toString('base64url')}`);
  t.is(pushgatewayPath('j', { empty: '' }), '/metrics/job/j/empty@base64/=');
});

test('pushMetrics retries on 503', async (t) => {
  const rx = await receiver(t, [503, 200]);
  t.true(await pushMetrics({ url: rx.base, job: 'sfpipe', baseDelayMs: 10 }, SAMPLES, silentLogger()));
  t.is(rx.requests.length, 2);
});

test('pushMetrics does not retry a 400 and gives up after maxRetries on 5xx', async (t) => {
  const bad = await receiver(t, [400, 200]);
  t.false(await pushMetrics({ url: bad.base, job: 'sfpipe', baseDelayMs: 10 }, SAMPLES, silentLogger()));
  t.is(bad.requests.length, 1);
  const down = await receiver(t, [502]);
  t.false(await pushMetrics({ url: down.base, job: 'sfpipe', maxRetries: 2, baseDelayMs: 10 }, SAMPLES, silentLogger()));
  t.is(down.requests.length, 3);
});

test('pushMetrics to an unreachable gateway returns false, does not throw, and hides credentials', async (t) => {
  const port = await closedPort();
  const { log, lines, flush } = captureLogger();
  const ok = await pushMetrics({ url: `http://pgw-user:s3cretPassw0rd@127.0.0.1:${port}`, job: 'sfpipe', maxRetries: 1, baseDelayMs: 10 }, SAMPLES, log);
  t.false(ok);
  await flush();
  const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'warn');
  t.truthy(warn);
  t.true(String(warn!.url).includes(`127.0.0.1:${port}`), 'the URL itself is not a secret');
  for (const line of lines) t.false(line.includes('s3cretPassw0rd'), `leak: ${line}`);
});

test('credentials in the push URL are sent as basic auth, not logged', async (t) => {
  const rx = await receiver(t);
  const { log, lines, flush } = captureLogger();
  t.true(await pushMetrics({ url: `http://pgw-user:s3cretPassw0rd@127.0.0.1:${rx.port}`, job: 'sfpipe', baseDelayMs: 10 }, SAMPLES, log));
  t.is(rx.requests[0]!.headers.authorization, `Basic ${Buffer.from('pgw-user:s3cretPassw0rd').toString('base64')}`);
  await flush();
  for (const line of lines) t.false(line.includes('s3cretPassw0rd'), `leak: ${line}`);
});

test('pushMetrics with invalid samples logs and returns false instead of throwing', async (t) => {
  const rx = await receiver(t);
  t.false(await pushMetrics({ url: rx.base, job: 'sfpipe' }, [{ name: 'bad name', help: '', type: 'gauge', value: 1 }], silentLogger()));
  t.is(rx.requests.length, 0);
});
