/**
 * Whole-run benchmark of the dbt assets at scale: `sfpipe materialize --select kind:dbt`
 * incremental vs full refresh, and against a bare `dbt build` of the same models, on the
 * embedded default (DuckDB, dbt-duckdb). Then the verdicts of the incremental run's scoped
 * tests and of a full audit on corrupted rows planted inside and outside the touched users.
 *
 * Set-up, in a fresh state dir: raw `sf_raw.sf_user` generated with SQL (bench/synthetic-raw.ts):
 * U users, D days in which P% of the users change per day (default 100k users, 90 days, 10%:
 * 1M raw rows), extracted in the past; an untimed full build; then one more day in which 1% of
 * the users change, extracted now. That database file is the snapshot every measured run
 * starts from:
 *   inc     `sfpipe materialize --select kind:dbt`                  (models, scoped tests, statistics)
 *   bare    the same `dbt build` command line and test scope, without the pipeline
 *   full    `sfpipe materialize --select kind:dbt --full-refresh`   (models, all tests, statistics)
 * Every run reuses dbt's partial parse (same profile, no vars), interleaved over BENCH_REPEAT
 * rounds (default 3); medians are reported. The bare build is the pipeline's own `dbt build`
 * command line (from its log), run without the pipeline.
 *
 * Usage: node dist/bench/incremental-run.js [users=100000] [days=90] [changed_pct_per_day=10]
 * Env: BENCH_REPEAT=3, BENCH_KEEP=1 keeps the state dir.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateDbtProject } from '../assets/dbt/dbt-project.js';
import { baseDay, createRaw, insertDays, scalar, tsLiteral, withDuck } from './synthetic-raw.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SFPIPE = path.join(here, '..', 'bin', 'sfpipe.js');
const users = Number((process.argv[2] ?? '100000').replace(/_/g, ''));
const days = Number(process.argv[3] ?? '90');
const pct = Number(process.argv[4] ?? '10');
for (const [name, v] of Object.entries({ users, days, pct })) if (!Number.isInteger(v) || v < 1) throw new Error(`bad ${name} ${v}`);
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? '3'));
const KEEP = process.env.BENCH_KEEP === '1';
const DIM = 'sf_curated.dim_sf_user_scd';

const fmt = (x: number, d = 2) => x.toFixed(d);
const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), `incremental-run-bench-${users}-`));
const db = path.join(stateDir, 'warehouse.duckdb');
const snapshot = path.join(stateDir, 'snapshot.duckdb');
const project = locateDbtProject(stateDir);
const env = { ...process.env, SFPIPE_HOME: stateDir, SFPIPE_DUCKDB_PATH: db, DBT_SEND_ANONYMOUS_USAGE_STATS: 'false' };
const dbtDirs = ['--project-dir', project.projectDir, '--profiles-dir', project.projectDir, '--target-path', project.targetPath, '--log-path', project.logPath];

interface Exit {
  code: number;
  seconds: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], extraEnv: Record<string, string> = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-200_000)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, seconds: Number(process.hrtime.bigint() - t0) / 1e9, stdout, stderr }));
  });
}

const sfpipe = (args: string[], extraEnv: Record<string, string> = {}) => run(process.execPath, [SFPIPE, '--log-format', 'json', ...args], extraEnv);
const dbt = (args: string[], extraEnv: Record<string, string> = {}) => run(project.executable, [...args, ...dbtDirs], extraEnv);

/** The pipeline's `dbt build` command line and test scope (from its log lines), so the bare build runs the same. */
function pipelineDbtCommand(stderr: string): { args: string[]; env: Record<string, string> } {
  const messages = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { message: string }).message);
  const build = messages.find((m) => m.startsWith('dbt build '));
  const scope = messages.map((m) => /SFPIPE_DBT_TEST_SCOPE=(\w+)/.exec(m)?.[1]).find(Boolean);
  if (!build) throw new Error('the pipeline logged no dbt build command: update this bench');
  // (A pipeline from before scoped tests logs no scope: the bench then measures it as it is.)
  return { args: build.replace(/ \(project .*\)$/, '').split(' ').slice(1), env: scope ? { SFPIPE_DBT_TEST_SCOPE: scope } : {} };
}

async function measure(label: string, before: () => Promise<void>, go: () => Promise<Exit>): Promise<Exit> {
  await before();
  const out = await go();
  process.stderr.write(`  [${label}] exit ${out.code} in ${fmt(out.seconds)} s\n`);
  return out;
}

const restore = () => fs.copyFileSync(snapshot, db);

interface Verdict {
  blocking: string[];
  warnings: string[];
}

/** Which checks failed in a run result (sfpipe --json), by severity. */
function verdictOf(result: Exit): Verdict {
  const parsed = JSON.parse(result.stdout) as { steps: Array<{ checks?: Array<{ checkName: string; passed: boolean; severity: string; description?: string }> }> };
  const failed = parsed.steps.flatMap((s) => s.checks ?? []).filter((c) => !c.passed);
  const show = (c: { checkName: string; description?: string }) => `${c.checkName.replace(/__.*$/, '')}${c.description ? ` (${c.description.split(':')[0]})` : ''}`;
  return { blocking: failed.filter((c) => c.severity === 'ERROR').map(show), warnings: failed.filter((c) => c.severity !== 'ERROR').map(show) };
}

async function main(): Promise<void> {
  process.stderr.write(`users ${users}, days ${days} at ${pct}%/day, then 1%: state dir ${stateDir}\n`);
  const base = baseDay(days);
  const rawRows = await withDuck(db, async (c) => {
    await createRaw(c);
    await insertDays(c, users, 0, days, base, `${tsLiteral(base)} + to_days(CAST(d + 1 AS INTEGER)) + INTERVAL 2 HOUR`, pct);
    return scalar(c, 'SELECT count(*) FROM sf_raw.sf_user');
  });
  process.stderr.write(`  raw: ${rawRows} rows\n`);
  const built = await sfpipe(['materialize', '--select', 'kind:dbt', '--full-refresh', '--json']);
  if (built.code !== 0) throw new Error(`the initial build failed (exit ${built.code}): ${built.stderr.slice(-2000)}`);
  const { newRows, touched } = await withDuck(db, async (c) => {
    const before = await scalar(c, 'SELECT count(*) FROM sf_raw.sf_user');
    await insertDays(c, users, days + 1, days + 1, base, tsLiteral(new Date()), 1);
    const after = await scalar(c, 'SELECT count(*) FROM sf_raw.sf_user');
    return { newRows: after - before, touched: await scalar(c, `SELECT count(DISTINCT id) FROM sf_raw.sf_user WHERE _extraction_run_id = 'bench-day-${days + 1}'`) };
  });
  process.stderr.write(`  day ${days + 1}: ${newRows} new raw rows of ${touched} users\n`);
  fs.copyFileSync(db, snapshot);

  // The command the pipeline runs incrementally, from a first incremental run (untimed).
  restore();
  const probe = await sfpipe(['materialize', '--select', 'kind:dbt', '--json']);
  if (probe.code !== 0) throw new Error(`the incremental run failed (exit ${probe.code}): ${probe.stderr.slice(-2000)}`);
  const incCommand = pipelineDbtCommand(probe.stderr);
  process.stderr.write(`  the pipeline's incremental build: dbt ${incCommand.args.join(' ')} (SFPIPE_DBT_TEST_SCOPE=${incCommand.env.SFPIPE_DBT_TEST_SCOPE ?? 'unset'})\n`);
  const start = async () => restore();

  const times = { inc: [] as number[], bare: [] as number[], full: [] as number[] };
  for (let r = 0; r < REPEAT; r++) {
    const inc = await measure(`inc #${r + 1}`, start, () => sfpipe(['materialize', '--select', 'kind:dbt', '--json']));
    const bare = await measure(`bare #${r + 1}`, start, () => dbt(incCommand.args, incCommand.env));
    const full = await measure(`full #${r + 1}`, start, () => sfpipe(['materialize', '--select', 'kind:dbt', '--full-refresh', '--json']));
    for (const [k, e] of [['inc', inc], ['bare', bare], ['full', full]] as const) {
      if (e.code !== 0) throw new Error(`${k} failed (exit ${e.code}): ${(e.stderr || e.stdout).slice(-2000)}`);
      times[k].push(e.seconds);
    }
  }

  // Verdicts: corrupted rows planted inside the touched users (a raw row with an unknown Division,
  // extracted now: the run recomputes that user from it) and outside them (written straight into
  // the dimension: a second current row, an unknown Division), then the incremental run's
  // scoped tests and a full audit (the run's dbt build with every test over every row).
  restore();
  const planted = await withDuck(db, async (c) => {
    const inside = (await c.runAndReadAll(`SELECT min(id) FROM sf_raw.sf_user WHERE _extraction_run_id = 'bench-day-${days + 1}'`)).getRowsJS()[0]![0] as string;
    const outside = (
      await c.runAndReadAll(`SELECT min(user_id) FROM ${DIM} WHERE user_id NOT IN (SELECT id FROM sf_raw.sf_user WHERE _extraction_run_id = 'bench-day-${days + 1}')`)
    ).getRowsJS()[0]![0] as string;
    await c.run(
      `INSERT INTO sf_raw.sf_user SELECT id, name, 'Mars', audit_phase__c, isactive, isdeleted, lastmodifieddate + INTERVAL 1 SECOND, ` +
        `systemmodstamp + INTERVAL 1 SECOND, ${tsLiteral(new Date())}, 'bench-planted' FROM sf_raw.sf_user WHERE id = '${inside}' ` +
        `ORDER BY systemmodstamp DESC LIMIT 1`,
    );
    await c.run(`UPDATE ${DIM} SET division = 'Mars' WHERE user_id = '${outside}'`);
    await c.run(`INSERT INTO ${DIM} SELECT * REPLACE (md5(user_key) AS user_key, valid_from + INTERVAL 1 SECOND AS valid_from) FROM ${DIM} WHERE user_id = '${outside}' AND is_current`);
    return { inside, outside };
  });
  fs.copyFileSync(db, snapshot);
  const scoped = verdictOf(await sfpipe(['materialize', '--select', 'kind:dbt', '--json']));
  restore();
  // The periodic full audit, due now: the embedded config with dbt.full_test_every 0s.
  const auditConfig = path.join(stateDir, 'audit.yaml');
  const embedded = fs.readFileSync(path.join(here, '..', '..', 'assets', 'config', 'embedded.yaml'), 'utf8');
  const withAudit = embedded.replace(/^  full_test_every: .*$/m, '  full_test_every: 0s');
  fs.writeFileSync(auditConfig, withAudit);
  // (A pipeline from before scoped tests has no such setting: its every run tests every row.)
  const audit = verdictOf(await sfpipe(['materialize', '--select', 'kind:dbt', '--json'], withAudit === embedded ? {} : { SFPIPE_CONFIG: auditConfig }));

  const inc = median(times.inc);
  const bare = median(times.bare);
  const full = median(times.full);
  const lines = [
    `# incremental vs full refresh, ${users} users, ${rawRows + newRows} raw rows (${touched} users changed), ${REPEAT} rounds (medians)`,
    '',
    '| run | seconds | samples |',
    '|---|---|---|',
    `| full refresh (sfpipe materialize --select kind:dbt --full-refresh) | ${fmt(full)} | ${times.full.map((x) => fmt(x)).join(', ')} |`,
    `| incremental (sfpipe materialize --select kind:dbt) | ${fmt(inc)} | ${times.inc.map((x) => fmt(x)).join(', ')} |`,
    `| bare dbt build, the same command line | ${fmt(bare)} | ${times.bare.map((x) => fmt(x)).join(', ')} |`,
    '',
    `incremental / full refresh: ${fmt((100 * inc) / full, 1)} %`,
    `sfpipe materialize / bare dbt build: ${fmt(inc / bare, 2)}x`,
    '',
    `planted: inside the touched users ${planted.inside} (raw row, Division 'Mars'); outside ${planted.outside} (dimension: Division 'Mars', a second current row)`,
    `  incremental run, scoped tests: blocking [${scoped.blocking.join('; ')}] warnings [${scoped.warnings.join('; ')}]`,
    `  full audit:                   blocking [${audit.blocking.join('; ')}] warnings [${audit.warnings.join('; ')}]`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (!KEEP) fs.rmSync(stateDir, { recursive: true, force: true });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n(state dir kept: ${stateDir})\n`);
  process.exit(1);
});
