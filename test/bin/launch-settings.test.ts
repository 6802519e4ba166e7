import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import test from 'ava';

import { launchSettings } from '../../bin/launch-settings.js';
import { tempDir } from '../helpers/temp.js';
import { repoRoot } from '../services/k8s/apiserver.js';

const ROOT = repoRoot();
const SCRIPT = path.join(ROOT, 'dist', 'bin', 'sfpipe.js');

test('sfpipe.js names its environment and Node flags on its first line', (t) => {
  const s = launchSettings(SCRIPT);
  t.deepEqual(s.env, { MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '131072' });
  t.deepEqual(s.nodeFlags, ['--max-semi-space-size=2', '--heap-growing-percent=30']);
});

test('a first line that is not "env -S … node …" is refused, naming the file and the line', (t) => {
  const dir = tempDir('sfpipe-launch-');
  const plain = path.join(dir, 'plain.js');
  fs.writeFileSync(plain, '#!/usr/bin/env node\n');
  t.throws(() => launchSettings(plain), { message: `${plain}: the first line is not "#!/usr/bin/env -S … node …" (it is "#!/usr/bin/env node")` });
  const other = path.join(dir, 'other.js');
  fs.writeFileSync(other, '#!/usr/bin/env -S A=1 python3 -u\n');
  t.throws(() => launchSettings(other), { message: `${other}: the first line runs "python3", not node` });
});

test('executed directly, sfpipe.js runs under those settings (what the image and make run do)', async (t) => {
  t.true((fs.statSync(SCRIPT).mode & 0o111) !== 0, `${SCRIPT} is not executable: build with make compile (it sets the mode)`);
  const home = tempDir('sfpipe-launch-');
  // `sfpipe ui` runs until stopped: its process is looked at once it says it listens.
  const child = spawn(SCRIPT, ['ui', '--port', '0'], { env: { ...process.env, SFPIPE_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const listening = await new Promise<boolean>((resolve) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (/ui: listening on http:\/\/127\.0\.0\.1:\d+/.test(out)) resolve(true);
    });
    child.once('exit', () => resolve(false));
  });
  t.true(listening, `sfpipe ui did not start; stderr:\n${stderr.slice(-2000)}`);
  // env -S replaces itself with node: the spawned pid is node's.
  const cmdline = fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
  t.is(path.basename(cmdline[0]!), 'node');
  const { nodeFlags } = launchSettings(SCRIPT);
  t.deepEqual(cmdline.slice(1, 1 + nodeFlags.length), nodeFlags);
  const environ = fs.readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0');
  t.true(environ.includes('MALLOC_ARENA_MAX=1') && environ.includes('MALLOC_MMAP_THRESHOLD_=131072'), 'the environment of the first line');
});

test('the image and make run execute sfpipe.js itself, so that its first line applies', (t) => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile);
  t.truthy(entrypoint, 'the Dockerfile has an exec-form ENTRYPOINT');
  t.deepEqual(JSON.parse(entrypoint![1]!), ['/usr/bin/tini', '--', '/app/dist/bin/sfpipe.js']);
  t.regex(dockerfile, /chmod \+x dist\/bin\/sfpipe\.js/);
  const makefile = fs.readFileSync(path.join(ROOT, 'Makefile'), 'utf8');
  t.regex(makefile, /^run:\n(?:\t.*\n)*\tdist\/bin\/sfpipe\.js materialize$/m);
  t.regex(makefile, /^compile:.*\n(?:\t.*\n)*\tchmod \+x dist\/bin\/sfpipe\.js$/m);
});
