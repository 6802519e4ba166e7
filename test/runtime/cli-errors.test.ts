import test from 'ava';
import { runCliProcess } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const home = () => ({ SFPIPE_HOME: tempDir() });

test('a failing command prints the plain "sfpipe: …" line on a pipe or terminal', async (t) => {
  const r = await runCliProcess(['materialize', '--select', 'key:(('], home());
  t.is(r.code, 2);
  t.regex(r.stderr, /^sfpipe: selection syntax error at column 5/);
});

for (const [how, args, env] of [
  ['with --log-format json', ['--log-format', 'json'], {}],
  ['in a cluster (auto format)', [], { KUBERNETES_SERVICE_HOST: '10.0.0.1' }],
] as const) {
  test(`${how} the failure is a JSON log line (level error, exit code) that log pipelines parse`, async (t) => {
    const r = await runCliProcess([...args, 'materialize', '--select', 'key:(('], { ...home(), ...env });
    t.is(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    t.is(lines.length, 1, r.stderr);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    t.like(line, { level: 'error', exitCode: 2 });
    t.regex(String(line.message), /^selection syntax error at column 5: expected a value/);
    t.regex(String(line.timestamp), /^\d{4}-\d\d-\d\dT/);
  });
}

test('a bad log level is reported as plain text even with --log-format json (the logger cannot be made)', async (t) => {
  const r = await runCliProcess(['--log-format', 'json', 'materialize'], { ...home(), SFPIPE_LOG_LEVEL: 'loud' });
  t.is(r.code, 2);
  t.is(r.stderr, 'sfpipe: SFPIPE_LOG_LEVEL must be one of error, warn, info, debug (got "loud")\n');
});
