/**
 * The GitHub Actions workflows: actionlint (built into .tools/bin by
 * test/services/actionlint/build.sh, with Debian's shellcheck for the `run:` scripts) passes
 * them and fails broken copies of them; and what the workflows must do, read from their YAML:
 * CI runs `make test` with its caches, the deploy runs deploy/deploy.sh's steps in order with an
 * OIDC role (no stored AWS keys), and every third-party action is pinned to a commit.
 * shellcheck also checks deploy/deploy.sh.
 *
 * Without actionlint or shellcheck the lint tests are skipped unless SFPIPE_REQUIRE_K8S is set
 * (CI), where they fail.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { k8sToolsBin, repoRoot } from '../services/k8s/apiserver.js';

const execFileP = promisify(execFile);
const REPO = repoRoot();
const WORKFLOWS = path.join(REPO, '.github', 'workflows');
const ACTIONLINT = path.join(k8sToolsBin(), 'actionlint');
const SHELLCHECK = (process.env['PATH'] ?? '').split(':').map((d) => path.join(d, 'shellcheck')).find((p) => existsSync(p));

const missing = [existsSync(ACTIONLINT) ? undefined : `${ACTIONLINT} (make tools)`, SHELLCHECK ? undefined : 'shellcheck (make tools installs it)']
  .filter(Boolean)
  .join(', ');
if (missing && !process.env['SFPIPE_REQUIRE_K8S']) process.stderr.write(`workflow lint tests skipped: missing ${missing}\n`);
const lintTest = missing && !process.env['SFPIPE_REQUIRE_K8S'] ? test.skip : test;

interface LintError {
  message: string;
  filepath: string;
  line: number;
  kind: string;
}

/** actionlint on files: its exit code and errors. shellcheck on, pyflakes off (no Python `run:`). */
async function actionlint(files: string[]): Promise<{ code: number; errors: LintError[]; stderr: string }> {
  if (missing) throw new Error(`missing ${missing}`);
  const args = [`-shellcheck=${SHELLCHECK}`, '-pyflakes=', '-no-color', '-format', '{{json .}}', ...files];
  try {
    const { stdout, stderr } = await execFileP(ACTIONLINT, args, { cwd: REPO });
    return { code: 0, errors: stdout.trim() ? (JSON.parse(stdout) as LintError[]) : [], stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, errors: e.stdout?.trim() ? (JSON.parse(e.stdout) as LintError[]) : [], stderr: e.stderr ?? '' };
  }
}

const workflowFiles = () => readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(WORKFLOWS, f));
const read = (name: string) => readFileSync(path.join(WORKFLOWS, name), 'utf8');

lintTest('actionlint (with shellcheck) passes every workflow', async (t) => {
  const files = workflowFiles();
  t.deepEqual(files.map((f) => path.basename(f)).sort(), ['ci.yml', 'deploy.yml']);
  const r = await actionlint(files);
  t.deepEqual(r.errors, [], r.stderr);
  t.is(r.code, 0, r.stderr);
});

/** A copy of a workflow with one edit (which must apply), linted on its own. */
async function lintBroken(name: string, from: string, to: string) {
  const text = read(name);
  if (!text.includes(from)) throw new Error(`${name} no longer contains ${JSON.stringify(from)}: update this test's edit`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sfpipe-actionlint-'));
  try {
    const file = path.join(dir, name);
    writeFileSync(file, text.replace(from, to));
    return await actionlint([file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

lintTest('actionlint fails broken copies: an undefined step output, a bad permission, a shell syntax error', async (t) => {
  const expression = await lintBroken('ci.yml', 'steps.java.outputs.path', 'steps.jdk.outputs.path');
  t.is(expression.code, 1);
  t.deepEqual(expression.errors.map((e) => [e.kind, e.message.slice(0, 29)]), [['expression', 'property "jdk" is not defined']]);

  const permission = await lintBroken('deploy.yml', 'id-token: write', 'id-token: writ');
  t.is(permission.code, 1);
  t.deepEqual(permission.errors.map((e) => e.kind), ['permissions']);
  t.regex(permission.errors[0]!.message, /"writ" is invalid as permission of scope "id-token"/);

  const shell = await lintBroken('deploy.yml', '--kubeconfig "$RUNNER_TEMP/kubeconfig"', '--kubeconfig "$RUNNER_TEMP/kubeconfig');
  t.is(shell.code, 1);
  t.true(shell.errors.length > 0 && shell.errors.every((e) => e.kind === 'shellcheck'), JSON.stringify(shell.errors));
});

lintTest('shellcheck passes deploy/deploy.sh and the set-up scripts it adds', async (t) => {
  const files = ['deploy/deploy.sh', 'test/services/actionlint/build.sh', 'test/services/apt-install.sh'];
  const r = await execFileP(SHELLCHECK!, files, { cwd: REPO }).then(
    () => ({ code: 0, out: '' }),
    (e: { code?: number; stdout?: string }) => ({ code: e.code ?? -1, out: e.stdout ?? '' }),
  );
  t.is(r.code, 0, r.out);
});

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, { if?: string; environment?: string; permissions?: Record<string, string>; env?: Record<string, string>; steps: Step[] }>;
}
const workflow = (name: string) => parse(read(name)) as Workflow;

test('every action but GitHub-local ones is pinned to a full commit, with its version in a comment', (t) => {
  let count = 0;
  for (const file of workflowFiles()) {
    for (const [i, line] of readFileSync(file, 'utf8').split('\n').entries()) {
      const m = /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line);
      if (!m) continue;
      count++;
      const where = `${path.basename(file)}:${i + 1}`;
      if (m[1]!.startsWith('./')) continue;
      t.regex(m[1]!, /^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/, `${where}: ${m[1]} is pinned to a commit`);
      t.regex(m[2]!, /^\s+#\s+v\d+\.\d+\.\d+$/, `${where}: the commit's version is in a comment`);
    }
  }
  t.true(count >= 10, `${count} actions found`);
});

test('ci.yml: make test on pull requests and pushes to main, with caches for npm, .venv and .tools', (t) => {
  const ci = workflow('ci.yml');
  t.deepEqual(Object.keys(ci.on).sort(), ['pull_request', 'push']);
  t.deepEqual((ci.on['push'] as { branches: string[] }).branches, ['main']);
  const steps = ci.jobs['test']!.steps;
  t.truthy(steps.find((s) => s.uses?.startsWith('actions/setup-node@') && s.with?.['cache'] === 'npm'), 'npm cache');
  const cached = steps.filter((s) => s.uses?.startsWith('actions/cache@')).map((s) => s.with?.['path']);
  t.deepEqual(cached, ['.venv', '.tools']);
  t.true(steps.some((s) => /(^|\s)make test$/m.test(s.run ?? '')), 'runs make test');
  t.is(ci.jobs['test']!.env?.['SFPIPE_REQUIRE_K8S'], '1', 'a missing test tool fails CI instead of skipping');
});

test('deploy.yml: after CI on main or by hand per environment; OIDC role, no stored keys; deploy.sh step by step', (t) => {
  const deploy = workflow('deploy.yml');
  const ci = workflow('ci.yml');
  const run = deploy.on['workflow_run'] as { workflows: string[]; types: string[]; branches: string[] };
  t.deepEqual(run, { workflows: [ci.name], types: ['completed'], branches: ['main'] }, "follows the CI workflow, by its name, on main");
  const input = (deploy.on['workflow_dispatch'] as { inputs: Record<string, { type: string; options: string[] }> }).inputs['environment']!;
  t.deepEqual([input.type, input.options], ['choice', ['dev', 'staging', 'prod']]);

  const job = deploy.jobs['deploy']!;
  t.regex(job.if!, /workflow_run\.conclusion == 'success'/);
  t.deepEqual(job.permissions, { contents: 'read', 'id-token': 'write' });
  t.is(job.environment, job.env?.['DEPLOY_ENV'], 'the GitHub environment is the one deployed');
  const aws = job.steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
  t.truthy(aws?.with?.['role-to-assume']);
  t.notRegex(read('deploy.yml'), /aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY|secrets\./, 'no stored AWS keys, no secrets at all');

  const deploySteps = job.steps.flatMap((s) => (/^deploy\/deploy\.sh (\w+)$/.exec(s.run?.trim() ?? '') ?? []).slice(1));
  t.deepEqual(deploySteps, ['image', 'push', 'dbt', 'helm', 'smoke']);
  const index = (pred: (s: Step) => boolean) => job.steps.findIndex(pred);
  t.true(index((s) => s === aws) < index((s) => s.run?.trim() === 'deploy/deploy.sh push'), 'credentials before the push');
});
