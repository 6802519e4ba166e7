import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { makeDirectory } from '../../runtime/state.js';
import { runCliProcess, startCli } from '../helpers/cli.js';
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

test('an SFPIPE_HOME that cannot be a directory is named, with the fix, not a bare EEXIST or ENOTDIR (exit 1)', async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, '');
  for (const home of [file, path.join(file, 'sub')]) {
    const r = await runCliProcess(['runs'], { SFPIPE_HOME: home });
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, new RegExp(`^sfpipe: cannot use the state directory ${home} \\(SFPIPE_HOME\\): it, or a directory above it, is a file \\((EEXIST|ENOTDIR)\\)\\. Fix: set SFPIPE_HOME to a directory you can write`), home);
  }
});

test('an SFPIPE_HOME under /proc fails at once (Node 20 recursive mkdir loops forever there)', async (t) => {
  const { child, done } = startCli(['runs'], { SFPIPE_HOME: '/proc/sfpipe-test-no-such-dir' });
  // A regression spins rather than fails: stop it well before ava's timeout, so the test says why.
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const r = await done;
  clearTimeout(guard);
  t.is(r.signal, null, 'sfpipe was still running after 60 s');
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /^sfpipe: cannot use the state directory \/proc\/sfpipe-test-no-such-dir \(SFPIPE_HOME\): the file system does not allow it \(ENOENT\)\. Fix: /);
});

test('makeDirectory creates the missing levels and is a no-op on an existing directory', (t) => {
  const dir = path.join(tempDir(), 'a', 'b', 'c');
  makeDirectory(dir);
  t.true(fs.statSync(dir).isDirectory());
  t.notThrows(() => makeDirectory(dir));
});
