/**
 * runDbt's reading of dbt's JSON log lines, with a stand-in executable that prints lines in the
 * shape dbt-core 1.11 and dbt-athena 1.11 print them (the real dbt runs in test/dbt and, on the
 * Athena target, in test/aws/athena-graph.test.ts): which lines reach which logger, and how each
 * Athena statement is paired with its query execution id when dbt's threads interleave.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';

import test from 'ava';

import { runDbt, type DbtAthenaQuery, type DbtProgress } from '../../assets/dbt/run-dbt.js';
import { LiveTerminal } from '../../runtime/live-terminal.js';
import { createLogger } from '../../runtime/logging.js';
import { captureLogger, settleLogs } from '../helpers/capture-logger.js';
import { tempDir } from '../helpers/temp.js';

const line = (name: string, level: string, msg: string, thread: string, data: Record<string, unknown> = {}) =>
  JSON.stringify({ info: { name, level, msg, thread, invocation_id: 'x', ts: '2026-01-01T00:00:00Z' }, data });
const athena = (baseMsg: string, thread: string, uid?: string) =>
  line('AdapterEventDebug', 'debug', `Athena adapter: ${baseMsg}`, thread, { name: 'Athena', base_msg: baseMsg, args: [], ...(uid ? { node_info: { unique_id: uid } } : {}) });

const STG = 'model.p.stg_sf_user';
const DIM = 'model.p.dim_sf_user_scd';
const LINES = [
  line('MainReportVersion', 'info', 'Running with dbt=1.11.16', 'MainThread'),
  line('Formatting', 'info', '', 'MainThread'),
  // Two threads interleave: each statement pairs with the id started on its own thread.
  athena('Execute: -- /* {"app": "dbt"} */\ncreate or replace view "sf_staging"."stg_sf_user" as select 1', 'Thread-1', STG),
  athena('Execute: -- /* {"app": "dbt"} */\ncreate table "sf_curated"."dim_sf_user_scd__dbt_tmp" as select 2', 'Thread-2', DIM),
  athena('Athena query 11111111-1111-4111-8111-111111111111 started', 'Thread-2', DIM),
  athena('Athena query 11111111-1111-4111-8111-111111111111 has state SUCCEEDED', 'Thread-2', DIM),
  athena('Athena query 22222222-2222-4222-8222-222222222222 started', 'Thread-1', STG),
  // A retried start (Iceberg commit conflict) logs the same statement again under its new id.
  athena('Athena query 33333333-3333-4333-8333-333333333333 started', 'Thread-1', STG),
  // dbt-athena's legacy cursor words it differently; a catalog query belongs to no node.
  athena('Execute: show tables in sf_raw', 'MainThread'),
  athena('Athena query ID 44444444-4444-4444-8444-444444444444', 'MainThread'),
  line('LogTestResult', 'warn', 'WARN 3 accepted_values_x', 'Thread-1', { node_info: { unique_id: 'test.p.accepted_values_x' } }),
  line('RunResultError', 'error', 'Database Error in model dim_sf_user_scd', 'Thread-2', { node_info: { unique_id: DIM } }),
  'not json at all',
];

type LogLine = { level: string; message: string; [k: string]: unknown };
const parsed = (lines: string[]): LogLine[] => lines.map((l) => JSON.parse(l) as LogLine);

function fakeDbt(dir: string, lines = LINES): string {
  const file = path.join(dir, 'dbt');
  const out = path.join(dir, 'lines.txt');
  fs.writeFileSync(out, `${lines.join('\n')}\n`);
  fs.writeFileSync(path.join(dir, 'argv.json'), '');
  fs.writeFileSync(file, `#!/usr/bin/env node\nconst fs = require('fs');\nfs.writeFileSync(${JSON.stringify(path.join(dir, 'argv.json'))}, JSON.stringify(process.argv.slice(2)));\nprocess.stdout.write(fs.readFileSync(${JSON.stringify(out)}, 'utf8'));\nprocess.exit(1);\n`, { mode: 0o755 });
  return file;
}

async function invoke(level: string, withAthena: boolean) {
  const dir = tempDir('sfpipe-rundbt-');
  const { log, lines: raw, flush } = captureLogger(level);
  const stg = log.child({ assetKey: 'sf_staging/stg_sf_user' });
  const dim = log.child({ assetKey: 'sf_curated/dim_sf_user_scd' });
  const queries: DbtAthenaQuery[] = [];
  const outcome = await runDbt({
    project: { projectDir: dir, executable: fakeDbt(dir), targetPath: dir, logPath: dir },
    args: ['build'],
    env: {},
    log,
    loggerForNode: (uid) => (uid === STG || uid === 'test.p.accepted_values_x' ? stg : uid === DIM ? dim : undefined),
    ...(withAthena ? { onAthenaQuery: (q: DbtAthenaQuery) => queries.push(q) } : {}),
  });
  await flush();
  const argv = JSON.parse(fs.readFileSync(path.join(dir, 'argv.json'), 'utf8')) as string[];
  fs.rmSync(dir, { recursive: true, force: true });
  return { outcome, lines: parsed(raw), queries, argv };
}

test('Athena statements are paired with their query execution ids per dbt thread and node', async (t) => {
  const { queries, argv } = await invoke('info', true);
  t.true(argv.join(' ').includes('--log-level debug'), 'debug events are asked for');
  t.deepEqual(
    queries.map((q) => [q.queryExecutionId, q.sql.split('\n')[1] ?? q.sql, q.uniqueId ?? null]),
    [
      ['11111111-1111-4111-8111-111111111111', 'create table "sf_curated"."dim_sf_user_scd__dbt_tmp" as select 2', DIM],
      ['22222222-2222-4222-8222-222222222222', 'create or replace view "sf_staging"."stg_sf_user" as select 1', STG],
      ['33333333-3333-4333-8333-333333333333', 'create or replace view "sf_staging"."stg_sf_user" as select 1', STG],
      ['44444444-4444-4444-8444-444444444444', 'show tables in sf_raw', null],
    ],
  );
});

test('log lines reach the logger of their node at their level; blank ones are dropped; errors are kept for the message', async (t) => {
  const { outcome, lines, argv } = await invoke('info', false);
  t.false(argv.includes('--log-level'), 'no debug events when nothing reads them');
  t.is(outcome.exitCode, 1);
  t.deepEqual(outcome.errors, ['Database Error in model dim_sf_user_scd']);
  const shown = lines.map((l) => [l.level, l.message, (l['assetKey'] as string | undefined) ?? null]);
  t.deepEqual(shown, [
    ['info', 'dbt: Running with dbt=1.11.16', null],
    ['warn', 'dbt: WARN 3 accepted_values_x', 'sf_staging/stg_sf_user'],
    ['error', 'dbt: Database Error in model dim_sf_user_scd', 'sf_curated/dim_sf_user_scd'],
    ['info', 'dbt: not json at all', null],
  ]);
});

test('at our debug level dbt\'s debug events are asked for and logged at debug', async (t) => {
  const { lines, argv } = await invoke('debug', false);
  t.true(argv.join(' ').includes('--log-level debug'));
  const debug = lines.filter((l) => l.level === 'debug');
  t.is(debug.length, 8);
  t.true(debug.some((l) => l.message.includes('Athena query 11111111') && l['assetKey'] === 'sf_curated/dim_sf_user_scd'));
});

test('a canceled run interrupts dbt with SIGINT (dbt then cancels its queries); one that ignores it is killed', async (t) => {
  const dir = tempDir('sfpipe-rundbt-cancel-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const got = path.join(dir, 'signals.txt');
  const stubborn = path.join(dir, 'stubborn');
  // Prints a line, then waits; records each signal; exits on SIGINT unless told to be stubborn.
  const dbt = path.join(dir, 'dbt');
  fs.writeFileSync(
    dbt,
    `#!/usr/bin/env node
const fs = require('fs');
process.on('SIGINT', () => { fs.appendFileSync(${JSON.stringify(got)}, 'SIGINT\\n'); if (!fs.existsSync(${JSON.stringify(stubborn)})) process.exit(130); });
process.on('SIGTERM', () => { fs.appendFileSync(${JSON.stringify(got)}, 'SIGTERM\\n'); });
process.stdout.write(JSON.stringify({ info: { name: 'MainReportVersion', level: 'info', msg: 'running' } }) + '\\n');
setInterval(() => {}, 1000);
`,
    { mode: 0o755 },
  );
  const run = async () => {
    const controller = new AbortController();
    const { log, lines } = captureLogger('info');
    const done = runDbt({
      project: { projectDir: dir, executable: dbt, targetPath: dir, logPath: dir },
      args: ['build'],
      env: {},
      log,
      signal: controller.signal,
      killAfterMs: 500,
    });
    // Its first line arrived: its signal handlers are in place.
    while (!parsed(lines).some((l) => l.message === 'dbt: running')) await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    return done;
  };
  t.is((await run()).exitCode, 130);
  t.is(fs.readFileSync(got, 'utf8'), 'SIGINT\n');

  fs.writeFileSync(stubborn, '');
  fs.rmSync(got);
  const killed = await run();
  t.not(killed.exitCode, 0);
  t.is(fs.readFileSync(got, 'utf8'), 'SIGINT\n', 'killed without another catchable signal');
});

test('dbt\'s progress: each node as it starts, and dbt\'s own info lines; a live terminal shows only the lines no asset outcome says', async (t) => {
  const dir = tempDir('sfpipe-rundbt-progress-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const start = (uid: string, index: number, description: string) => line('LogStartLine', 'info', `${index} of 3 START ${description} [RUN]`, 'Thread-1', { node_info: { unique_id: uid }, description, index, total: 3 });
  const lines = [
    line('MainReportVersion', 'info', 'Running with dbt=1.11.16', 'MainThread'),
    start(STG, 1, 'sql view model sf_staging.stg_sf_user'),
    start('test.p.accepted_values_x', 2, 'test accepted_values_x'),
    start('test.p.on_a_source', 3, 'test on_a_source'),
    line('LogTestResult', 'warn', '2 of 3 WARN 3 accepted_values_x', 'Thread-1', { node_info: { unique_id: 'test.p.accepted_values_x' } }),
    line('LogTestResult', 'warn', '3 of 3 WARN 1 on_a_source', 'Thread-1', { node_info: { unique_id: 'test.p.on_a_source' } }),
    line('Deprecation', 'warn', 'a deprecated config in dbt_project.yml', 'MainThread'),
  ];
  // What a live terminal prints: the terminal's output through a fake TTY.
  let shown = '';
  const tty = Object.assign(new Writable({ write: (c: Buffer, _e, cb) => ((shown += c.toString('utf8')), cb()) }), { isTTY: true, columns: 200 });
  const terminal = new LiveTerminal(tty as unknown as NodeJS.WriteStream);
  const log = createLogger({ terminal, level: 'info' });
  const progress: DbtProgress[] = [];
  await runDbt({
    project: { projectDir: dir, executable: fakeDbt(dir, lines), targetPath: dir, logPath: dir },
    args: ['build'],
    env: {},
    log,
    loggerForNode: (uid) => (uid === STG || uid === 'test.p.accepted_values_x' ? log.child({ assetKey: 'sf_staging/stg_sf_user' }) : undefined),
    onProgress: (p) => progress.push(p),
  });
  await settleLogs();
  terminal.close();
  t.deepEqual(progress, [
    { text: 'Running with dbt=1.11.16' },
    { uniqueId: STG, text: 'node 1/3 sql view model sf_staging.stg_sf_user' },
    { uniqueId: 'test.p.accepted_values_x', text: 'node 2/3 test accepted_values_x' },
    { uniqueId: 'test.p.on_a_source', text: 'node 3/3 test on_a_source' },
  ]);
  // The asset's test is its check's line on the terminal; a node of no asset and dbt's own warning are shown.
  t.deepEqual(shown.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').trim().split('\n'), ['⚠ dbt: 3 of 3 WARN 1 on_a_source', '⚠ dbt: a deprecated config in dbt_project.yml']);
});
