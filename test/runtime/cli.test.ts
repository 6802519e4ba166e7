import test from 'ava';
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCliProcess, startCli } from '../helpers/cli.js';
import { receiver } from '../helpers/http-receiver.js';
import { tempDir } from '../helpers/temp.js';

const home = () => ({ SFPIPE_HOME: tempDir() });

test('materialize runs the whole graph, exits 0, and lineage --format json has the documented shape', async (t) => {
  const env = home();
  const run = await runCliProcess(['materialize', '--json'], env);
  t.is(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  t.is(result.status, 'SUCCESS');
  t.deepEqual(result.steps.map((s: { key: string }) => s.key), ['reports/side_branch', 'sf_raw/sf_user', 'sf_staging/stg_sf_user', 'sf_curated/dim_sf_user_scd']);

  const lineage = await runCliProcess(['lineage', '--format', 'json'], env);
  t.is(lineage.code, 0, lineage.stderr);
  const { assets } = JSON.parse(lineage.stdout);
  const raw = assets.find((a: { key: string }) => a.key === 'sf_raw/sf_user');
  t.like(raw, {
    key: 'sf_raw/sf_user',
    external: false,
    group: 'raw',
    kinds: ['typescript', 'duckdb'],
    deps: ['salesforce/User'],
    downstream: ['sf_staging/stg_sf_user'],
    lastMaterialization: { runId: result.runId, metadata: { rows: 5000 } },
    checks: [{ name: 'row_count_in_range', severity: 'ERROR', blocking: true, lastResult: 'PASSED' }],
    freshness: { state: 'PASS' },
  });
  t.regex(raw.lastMaterialization.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const source = assets.find((a: { key: string }) => a.key === 'salesforce/User');
  t.like(source, { external: true, deps: [], downstream: ['sf_raw/sf_user'], lastMaterialization: null, checks: [], freshness: { state: 'NOT_APPLICABLE' } });
  const dim = assets.find((a: { key: string }) => a.key === 'sf_curated/dim_sf_user_scd');
  t.like(dim, { freshness: { state: 'NOT_APPLICABLE' }, downstream: [] });
});

test('lineage before any run: never materialized, freshness UNKNOWN; mermaid and dot render edges', async (t) => {
  const env = home();
  const json = JSON.parse((await runCliProcess(['lineage', '--json', '--select', 'sf_raw/sf_user'], env)).stdout);
  t.is(json.assets.length, 1);
  t.is(json.assets[0].lastMaterialization, null);
  t.is(json.assets[0].freshness.state, 'UNKNOWN');
  t.is(json.assets[0].checks[0].lastResult, null);
  const mermaid = await runCliProcess(['lineage', '--format', 'mermaid'], env);
  t.regex(mermaid.stdout, /flowchart LR/);
  t.regex(mermaid.stdout, /n_sf_raw_sf_user --> n_sf_staging_stg_sf_user/);
  const dot = await runCliProcess(['lineage', '--format', 'dot', '--select', '+sf_staging/stg_sf_user'], env);
  t.regex(dot.stdout, /"salesforce\/User" -> "sf_raw\/sf_user";/);
  t.notRegex(dot.stdout, /dim_sf_user_scd/);
});

test('a selection syntax error exits 2 and points at the column', async (t) => {
  const r = await runCliProcess(['materialize', '--select', 'key:(('], home());
  t.is(r.code, 2);
  t.regex(r.stderr, /column 5/);
  t.regex(r.stderr, /key:\(\(\n\s+\^/);
});

test('usage errors exit 2: unknown flag, unknown command, bad option value, unknown key, no command, bad log settings', async (t) => {
  const cases = [
    ['materialize', '--bogus'],
    ['frobnicate'],
    ['runs', '--limit', 'zero'],
    ['lineage', '--format', 'xml'],
    ['lineage', '--format', 'mermaid', '--json'],
    ['materialize', '--select', 'sf_raw/nope'],
    [],
    ['--log-level', 'warnings', 'runs'],
    ['--log-format', 'xml', 'runs'],
  ];
  for (const args of cases) {
    const r = await runCliProcess(args, home());
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.true(r.stderr.length > 0);
  }
  const trig = await runCliProcess(['materialize'], { ...home(), SFPIPE_TRIGGER: 'cron' });
  t.is(trig.code, 2);
  t.regex(trig.stderr, /SFPIPE_TRIGGER must be one of cli, schedule, manual or sensor:<name> \(got "cron"\)/);
  const short = await runCliProcess(['events', 'abc'], home());
  t.regex(short.stderr, /no run with id "abc" \(a prefix needs at least 6 characters\)/);
  const env = await runCliProcess(['materialize'], { ...home(), SFPIPE_LOG_LEVEL: 'DEBUG' });
  t.is(env.code, 2);
  t.regex(env.stderr, /SFPIPE_LOG_LEVEL must be one of error, warn, info, debug \(got "DEBUG"\)/);
});

test('--help works on every command and exits 0', async (t) => {
  for (const args of [['--help'], ['materialize', '--help'], ['lineage', '--help'], ['runs', '--help'], ['events', '--help']]) {
    const r = await runCliProcess(args, home());
    t.is(r.code, 0, args.join(' '));
    t.regex(r.stdout, /Usage: sfpipe/);
  }
});

test('a failing asset exits 1 and skips its downstream; runs and events show it', async (t) => {
  const env = { ...home(), FIXTURE_FAIL: 'sf_raw/sf_user' };
  const r = await runCliProcess(['materialize', '--json'], env);
  t.is(r.code, 1);
  const result = JSON.parse(r.stdout);
  t.is(result.status, 'FAILURE');
  const stg = result.steps.find((s: { key: string }) => s.key === 'sf_staging/stg_sf_user');
  t.is(stg.status, 'SKIPPED');
  t.is(stg.reason, 'upstream sf_raw/sf_user failed');

  const runs = JSON.parse((await runCliProcess(['runs', '--json'], env)).stdout).runs;
  t.is(runs.length, 1);
  t.is(runs[0].status, 'FAILURE');
  const events = JSON.parse((await runCliProcess(['events', result.runId.slice(0, 8), '--json'], env)).stdout);
  t.is(events.run.runId, result.runId);
  t.true(events.events.some((e: { type: string; assetKey: string }) => e.type === 'STEP_SKIPPED' && e.assetKey === 'sf_curated/dim_sf_user_scd'));
  // A run id (a lower-case UUID) typed in upper case, whole or as a prefix, is the same run.
  for (const typed of [result.runId.toUpperCase(), result.runId.slice(0, 8).toUpperCase()]) {
    const upper = await runCliProcess(['events', typed, '--json'], env);
    t.is(upper.code, 0, upper.stderr);
    t.is(JSON.parse(upper.stdout).run.runId, result.runId, typed);
  }
});

test('--run-id: a pod retried by its Job (the same args) runs as the next attempt of a run that failed; after a success, refused', async (t) => {
  const env = home();
  const id = '3c0ffee0-aaaa-8bbb-9ccc-000000000001';
  const args = ['materialize', '--json', '--select', 'sf_raw/sf_user', '--trigger', 'sensor:test_sensor', '--run-id', id];
  const first = await runCliProcess(args, { ...env, FIXTURE_FAIL: 'sf_raw/sf_user' });
  t.is(first.code, 1, first.stderr);
  t.like(JSON.parse(first.stdout), { runId: id, status: 'FAILURE' });
  // The Job's backoffLimit starts another pod with the same args: the run is retried, not refused.
  const retry = await runCliProcess(args, env);
  t.is(retry.code, 0, retry.stderr);
  t.like(JSON.parse(retry.stdout), { runId: `${id}.2`, status: 'SUCCESS' });
  const runs = JSON.parse((await runCliProcess(['runs', '--json'], env)).stdout).runs as { runId: string; status: string; trigger: string }[];
  t.deepEqual(runs.map((r) => [r.runId, r.status, r.trigger]).sort(), [[id, 'FAILURE', 'sensor:test_sensor'], [`${id}.2`, 'SUCCESS', 'sensor:test_sensor']]);
  const events = JSON.parse((await runCliProcess(['events', id, '--json'], env)).stdout).events as { type: string; data: Record<string, unknown> }[];
  t.deepEqual(events.at(-1), { ...events.at(-1)!, type: 'RUN_RETRIED', data: { retryRunId: `${id}.2` } }, 'the failed attempt names its retry');
  // Once an attempt succeeded, the run id has run: nothing more runs.
  const again = await runCliProcess(args, env);
  t.is(again.code, 1);
  t.regex(again.stderr, new RegExp(`run ${id.replace(/\./g, '\\.')}\\.2 is in the event log already \\(SUCCESS, trigger sensor:test_sensor\\): a run id runs once`));
  t.is(JSON.parse((await runCliProcess(['runs', '--json'], env)).stdout).runs.length, 2);
});

test('a failed blocking check exits 1 and skips downstream', async (t) => {
  const r = await runCliProcess(['materialize', '--json'], { ...home(), FIXTURE_FAIL_CHECK: 'sf_raw/sf_user' });
  t.is(r.code, 1);
  const stg = JSON.parse(r.stdout).steps.find((s: { key: string }) => s.key === 'sf_staging/stg_sf_user');
  t.is(stg.reason, 'blocking check row_count_in_range on sf_raw/sf_user failed');
});

test('logs are JSON lines carrying the run id and the asset key when not a TTY', async (t) => {
  const r = await runCliProcess(['materialize', '--select', 'sf_raw/sf_user'], home());
  t.is(r.code, 0);
  const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l));
  t.true(lines.length >= 3);
  for (const l of lines) t.truthy(l.runId);
  t.true(lines.some((l) => l.assetKey === 'sf_raw/sf_user' && l.message === 'materialized'));
});

test('SIGTERM: no new work starts, the running step is canceled, the run is recorded CANCELED, exit non-zero', async (t) => {
  const env = { ...home(), FIXTURE_SLOW_MS: '5000', FIXTURE_MARKER_FILE: path.join(tempDir(), 'marker') };
  const { child, done } = startCli(['materialize', '--select', '+sf_staging/stg_sf_user', '--json'], env);
  await waitFor(() => fs.existsSync(env.FIXTURE_MARKER_FILE) && fs.readFileSync(env.FIXTURE_MARKER_FILE, 'utf8').includes('start sf_raw/sf_user'));
  child.kill('SIGTERM');
  const r = await done;
  t.is(r.code, 143);
  const result = JSON.parse(r.stdout);
  t.is(result.status, 'CANCELED');
  t.deepEqual(result.steps.map((s: { status: string }) => s.status), ['CANCELED', 'CANCELED']);
  t.false(fs.readFileSync(env.FIXTURE_MARKER_FILE, 'utf8').includes('stg_sf_user'));
  const runs = JSON.parse((await runCliProcess(['runs', '--json'], env)).stdout).runs;
  t.is(runs[0].status, 'CANCELED');
});

/** Resolves when the child's stderr has printed `text`; rejects if it exits first. */
function stderrShows(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stderr!.on('data', (d) => {
      seen += d;
      if (seen.includes(text)) resolve();
    });
    child.once('close', (code) => reject(new Error(`exited with ${code} before printing ${JSON.stringify(text)}: ${seen}`)));
  });
}

test('two concurrent runs are serialized by the lock: without waiting the second exits 1 naming the holder; with --lock-timeout it waits', async (t) => {
  // The first run's step blocks on a FIFO until the test writes to it: the other attempts happen
  // while it holds the lock, however slow the machine is.
  const dir = tempDir();
  const hold = path.join(dir, 'hold');
  t.is(spawnSync('mkfifo', [hold]).status, 0, 'mkfifo');
  const env = { ...home(), FIXTURE_MARKER_FILE: path.join(dir, 'marker') };
  const first = startCli(['materialize', '--select', 'sf_raw/sf_user'], { ...env, FIXTURE_HOLD_FIFO: hold });
  let waiting: ReturnType<typeof startCli> | undefined;
  t.teardown(() => {
    first.child.kill('SIGKILL');
    waiting?.child.kill('SIGKILL');
  });
  // Opening the FIFO for writing returns once the step has opened it for reading.
  let started = false;
  const stepStarted = fs.promises.open(hold, 'w').then((handle) => {
    started = true;
    return handle;
  });
  const exitedEarly = first.done.then((r): Promise<never> => {
    if (started) return new Promise<never>(() => {});
    // Unblock our open (a reader appears), then report why the step never started.
    fs.closeSync(fs.openSync(hold, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
    void stepStarted.then((handle) => handle.close());
    throw new Error(`the first run ended before its step started: exit ${r.code}\n${r.stderr}`);
  });
  const release = await Promise.race([stepStarted, exitedEarly]);

  const refused = await runCliProcess(['materialize', '--select', 'sf_raw/sf_user', '--json'], env);
  t.is(refused.code, 1, refused.stderr);
  t.regex(refused.stderr, /run [0-9a-f-]{36} holds the lock since \d{4}-\d\d-\d\dT/);
  const locked = JSON.parse(refused.stdout) as { status: string; holder: { runId: string }; steps: unknown[] };
  t.like(locked, { status: 'LOCKED', steps: [] });
  t.regex(locked.holder.runId, /^[0-9a-f-]{36}$/);
  // Nothing ran and nothing was recorded: no run id that `sfpipe events` would not know.
  t.deepEqual(Object.keys(locked).sort(), ['holder', 'status', 'steps']);
  t.regex(refused.stderr, /; try again later or pass --lock-timeout SECONDS to wait\n/);
  // A wait that ends with the lock still held says so, not to pass the flag it was given.
  const waitedOut = await runCliProcess(['materialize', '--select', 'sf_raw/sf_user', '--lock-timeout', '1'], env);
  t.is(waitedOut.code, 1, waitedOut.stderr);
  t.regex(waitedOut.stderr, /holds the lock since .*; it was still held after --lock-timeout 1s: try again later or wait longer\n/);

  // The timeout only bounds a broken run; the test goes on when the second run says it waits.
  waiting = startCli(['materialize', '--select', 'sf_raw/sf_user', '--lock-timeout', '3600'], env);
  await stderrShows(waiting.child, 'waiting up to 3600 s');
  await release.writeFile('go\n');
  await release.close();
  const [a, b] = await Promise.all([first.done, waiting.done]);
  t.is(a.code, 0, a.stderr);
  t.is(b.code, 0, b.stderr);
  // start/end pairs never interleave.
  const lines = fs.readFileSync(env.FIXTURE_MARKER_FILE, 'utf8').trim().split('\n');
  t.is(lines.length, 4);
  t.deepEqual(lines.map((l) => l.split(' ')[0]), ['start', 'end', 'start', 'end']);
  t.is(lines[0]!.split(' ')[2], lines[1]!.split(' ')[2]);
  t.is(lines[0]!.split(' ')[2], locked.holder.runId, 'the refused attempt named the first run');
  const runs = JSON.parse((await runCliProcess(['runs', '--json'], env)).stdout).runs as Array<{ status: string }>;
  t.deepEqual(runs.map((r) => r.status), ['SUCCESS', 'SUCCESS'], 'the refused attempt is not a run');
});

interface RunRow {
  runId: string;
  status: string;
  endedAt: string | null;
  error: string | null;
}

async function listRuns(env: Record<string, string>): Promise<RunRow[]> {
  return (JSON.parse((await runCliProcess(['runs', '--json'], env)).stdout) as { runs: RunRow[] }).runs;
}

function logLines(stderr: string): Array<Record<string, unknown> & { level: string; message: string }> {
  return stderr.trim().split('\n').map((l) => JSON.parse(l));
}

test('kill -9: the next run takes over the dead run\'s lock, warns naming it, and records it FAILURE; another host\'s lock is left alone', async (t) => {
  const env = { ...home(), FIXTURE_SLOW_MS: '60000', FIXTURE_MARKER_FILE: path.join(tempDir(), 'marker') };
  const lockFile = path.join(env.SFPIPE_HOME, 'run.lock');
  const killed = startCli(['materialize', '--select', 'sf_raw/sf_user'], env);
  await waitFor(() => fs.existsSync(env.FIXTURE_MARKER_FILE) && fs.readFileSync(env.FIXTURE_MARKER_FILE, 'utf8').includes('start sf_raw/sf_user'));
  killed.child.kill('SIGKILL');
  t.is((await killed.done).signal, 'SIGKILL'); // reaped: its pid is gone
  const deadRunId = fs.readFileSync(env.FIXTURE_MARKER_FILE, 'utf8').trim().split(' ')[2]!;
  const dead = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as { runId: string; since: string; pid: number; host: string };
  t.like(dead, { runId: deadRunId, pid: killed.child.pid, host: os.hostname() });
  t.like((await listRuns(env))[0], { runId: deadRunId, status: 'STARTED' });
  const quick = { ...env, FIXTURE_SLOW_MS: '0' };

  // The same lock as another host's: that process may be alive, so it is neither taken over nor marked.
  fs.writeFileSync(lockFile, JSON.stringify({ ...dead, host: `not-${os.hostname()}` }));
  const refused = await runCliProcess(['materialize', '--select', 'sf_raw/sf_user', '--json'], quick);
  t.is(refused.code, 1, refused.stderr);
  t.like(JSON.parse(refused.stdout), { status: 'LOCKED', holder: { runId: deadRunId } });
  t.like((await listRuns(env))[0], { runId: deadRunId, status: 'STARTED', endedAt: null });

  fs.writeFileSync(lockFile, JSON.stringify(dead));
  const rx = await receiver(t);
  const next = await runCliProcess(['materialize', '--select', 'sf_raw/sf_user', '--json'], { ...quick, FIXTURE_ALERT_WEBHOOK: `${rx.base}/hook` });
  t.is(next.code, 0, next.stderr);
  // Nobody was told when it died: its failure is alerted by the run that found it, then this run's recovery.
  const alerts = rx.requests.map((r) => JSON.parse(r.body) as { kind: string; state: string; previousState: string | null; runId: string; reason: string });
  t.like(alerts, [
    { kind: 'run', state: 'FAILED', previousState: null, runId: deadRunId },
    { kind: 'run', state: 'SUCCESS', previousState: 'FAILED', recovered: true },
  ] as never);
  t.is(alerts.length, 2);
  t.regex(alerts[0]!.reason, /^its process stopped without finishing \(lock taken over by run /);
  const nextRunId = (JSON.parse(next.stdout) as { runId: string }).runId;
  const warning = logLines(next.stderr).find((l) => l.level === 'warn' && l.message.startsWith('took over the run lock'));
  t.truthy(warning, next.stderr);
  t.is(warning!.message, `took over the run lock from run ${deadRunId} (pid ${dead.pid} on ${dead.host}), held since ${dead.since}: its holder is gone`);
  t.like(warning, { runId: nextRunId, previousRunId: deadRunId, previousPid: dead.pid, previousHost: dead.host });

  const runs = await listRuns(env);
  t.deepEqual(runs.map((r) => [r.runId, r.status]), [[nextRunId, 'SUCCESS'], [deadRunId, 'FAILURE']]);
  t.is(runs[1]!.error, `its process stopped without finishing (lock taken over by run ${nextRunId})`);
  t.truthy(runs[1]!.endedAt);
  const events = JSON.parse((await runCliProcess(['events', deadRunId, '--json'], env)).stdout) as { events: Array<{ type: string }> };
  t.is(events.events.at(-1)!.type, 'RUN_FAILURE');
  t.false(fs.existsSync(lockFile), 'the new run released the lock');
});

test('a dead process\'s lock naming a run that had finished is taken over, and that run is left as it was', async (t) => {
  const env = home();
  const lockFile = path.join(env.SFPIPE_HOME, 'run.lock');
  const first = await runCliProcess(['materialize', '--select', 'sf_raw/sf_user', '--json'], env);
  t.is(first.code, 0, first.stderr);
  const firstRunId = (JSON.parse(first.stdout) as { runId: string }).runId;
  const before = (await listRuns(env))[0]!;
  t.like(before, { runId: firstRunId, status: 'SUCCESS', error: null });
  // A lock left behind by a process that has exited (as if it died after recording its run).
  const gone = spawnSync(process.execPath, ['-e', '']);
  fs.writeFileSync(lockFile, JSON.stringify({ runId: firstRunId, since: new Date().toISOString(), pid: gone.pid, host: os.hostname() }));

  const next = await runCliProcess(['materialize', '--select', 'sf_raw/sf_user'], env);
  t.is(next.code, 0, next.stderr);
  const warnings = logLines(next.stderr).filter((l) => l.level === 'warn').map((l) => l.message);
  t.true(warnings.some((m) => m.startsWith(`took over the run lock from run ${firstRunId} (pid ${gone.pid} on `)), warnings.join('\n'));
  t.false(warnings.some((m) => m.startsWith('recorded run')), warnings.join('\n'));
  const runs = await listRuns(env);
  t.is(runs.length, 2);
  t.deepEqual(runs[1], before, 'the finished run is untouched');
});

test('SIGTERM while waiting for the run lock exits 143 and runs nothing', async (t) => {
  // The first run holds the lock long enough for the second to start and wait, even on a busy machine.
  const env = { ...home(), FIXTURE_SLOW_MS: '8000', FIXTURE_MARKER_FILE: path.join(tempDir(), 'marker') };
  const first = startCli(['materialize', '--select', 'sf_raw/sf_user'], env);
  await waitFor(() => fs.existsSync(env.FIXTURE_MARKER_FILE));
  const waiting = startCli(['materialize', '--select', 'sf_raw/sf_user', '--lock-timeout', '60'], env);
  let said = '';
  waiting.child.stderr!.on('data', (d) => (said += d));
  await waitFor(() => /holds the lock since .*; waiting up to 60 s for it/.test(said));
  waiting.child.kill('SIGTERM');
  const w = await waiting.done;
  t.is(w.code, 143, w.stderr);
  t.regex(w.stderr, /stopped by SIGTERM while waiting for the run lock; nothing ran/);
  t.is((await first.done).code, 0);
  t.is(fs.readFileSync(env.FIXTURE_MARKER_FILE, 'utf8').trim().split('\n').length, 2, 'only the first run worked');
});

test('a second SIGINT stops a step that ignores cancellation at once: the run is CANCELED and the lock is free', async (t) => {
  const env = { ...home(), FIXTURE_SLOW_MS: '20000', FIXTURE_IGNORE_ABORT: '1', FIXTURE_MARKER_FILE: path.join(tempDir(), 'marker') };
  const { child, done } = startCli(['materialize', '--select', 'sf_raw/sf_user'], env);
  await waitFor(() => fs.existsSync(env.FIXTURE_MARKER_FILE));
  child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGINT');
  const r = await done;
  t.is(r.code, 130, r.stderr);
  t.regex(r.stderr, /received SIGINT again: stopping now/);
  t.false(fs.readFileSync(env.FIXTURE_MARKER_FILE, 'utf8').includes('end '), 'the step had not finished');
  const runs = JSON.parse((await runCliProcess(['runs', '--json'], env)).stdout).runs;
  t.like(runs[0], { status: 'CANCELED' });
  const next = await runCliProcess(['materialize', '--select', 'sf_raw/sf_user'], { ...env, FIXTURE_SLOW_MS: '0' });
  t.is(next.code, 0, `the lock was released: ${next.stderr}`);
});

async function waitFor(cond: () => boolean, timeoutMs = 15_000) {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('runs on an empty event log says there are none and how to start one (exit 0)', async (t) => {
  const r = await runCliProcess(['runs'], home());
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'no runs in the event log yet; start one with: sfpipe materialize\n');
  t.deepEqual(JSON.parse((await runCliProcess(['runs', '--json'], home())).stdout), { runs: [] });
});
