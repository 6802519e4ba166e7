/**
 * Salesforce → raw extraction benchmark: records/s, API calls and peak RSS of the extracting
 * process for N simulated users, REST path and Bulk API 2.0 path. Checks the claim that peak RSS
 * stays flat as N grows (pages are streamed into DuckDB staging).
 *
 * For each (N, path) it spawns a simulator server (bench/extract-sim-server.js) and an extractor
 * (bench/extract-worker.js) as separate processes, so the extractor's RSS is its own. The 5k case
 * of each path runs first as the baseline; ratios are relative to it.
 *
 * The extractor runs as sfpipe runs (the image's entrypoint): with the environment and Node flags
 * of bin/sfpipe.js's first line (bin/launch-settings.ts). BENCH_PLAIN_NODE=1 runs it as plain
 * `node` instead, to see what those settings change.
 *
 * Usage: node dist/bench/extract.js [sizes=5000,100000,1000000] [paths=rest,bulk]
 * Env: BENCH_DUCKDB_PROBE=0 disables the duckdb_memory() probe in the worker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launchSettings } from '../bin/launch-settings.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SIM = path.join(here, 'extract-sim-server.js');
const WORKER = path.join(here, 'extract-worker.js');
const BASELINE_N = 5000;
const launch = process.env.BENCH_PLAIN_NODE === '1' ? { env: {}, nodeFlags: [] } : launchSettings(path.join(here, '..', 'bin', 'sfpipe.js'));

type Path = 'rest' | 'bulk';
const sizes = (process.argv[2] ?? '5000,100000,1000000').split(',').map((s) => Number(s.trim().replace(/_/g, '')));
const paths = (process.argv[3] ?? 'rest,bulk').split(',').map((s) => s.trim()) as Path[];
for (const s of sizes) if (!Number.isInteger(s) || s < 1) throw new Error(`bad size ${s}`);
for (const p of paths) if (p !== 'rest' && p !== 'bulk') throw new Error(`bad path ${p} (rest|bulk)`);

interface WorkerResult {
  n: number;
  path: Path;
  status: string;
  error: string | null;
  actualPath: string | null;
  seconds: number;
  fetchSeconds: number | null;
  commitSeconds: number | null;
  recordsPerSec: number;
  recordsFetched: number | null;
  versionsInserted: number;
  apiCalls: Record<string, number> | null;
  apiCallsTotal: number | null;
  peakRssMb: number;
  sampledPeakRssMb: number;
  rssBeforeRunMb: number;
  fetchPhase: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  commitPhase: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  duckdbMemory: Record<string, unknown>;
  duckdbFileMb: number | null;
  [k: string]: unknown;
}

interface CaseResult extends WorkerResult {
  simStartSeconds: number;
  simRssMb: number;
  simApiCalls: number | null;
}

function firstJsonLine(child: ChildProcess, what: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    const lines: any[] = [];
    rl.on('line', (line) => {
      try {
        lines.push(JSON.parse(line));
      } catch {
        process.stderr.write(`[${what}] ${line}\n`);
      }
      if (lines.length === 1) resolve(lines[0]);
    });
    child.once('exit', (code) => {
      if (lines.length === 0) reject(new Error(`${what} exited ${code} without output`));
    });
    (child as ChildProcess & { jsonLines?: any[] }).jsonLines = lines;
  });
}

async function runCase(n: number, p: Path): Promise<CaseResult> {
  const sim = spawn(process.execPath, [SIM, String(n), '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const ready = (await firstJsonLine(sim, `sim ${n}`)) as { url: string; startSeconds: number; rssMb: number };
    const worker = spawn(process.execPath, [...launch.nodeFlags, WORKER, String(n), p, ready.url], {
      env: { ...process.env, ...launch.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    const res = (await firstJsonLine(worker, `worker ${n} ${p}`)) as WorkerResult;
    await exited;
    const simLines = (sim as ChildProcess & { jsonLines?: any[] }).jsonLines!;
    const simExit = new Promise<void>((resolve) => sim.once('exit', () => resolve()));
    sim.kill('SIGTERM');
    await simExit;
    const stats = simLines.find((l) => l && l.stats)?.stats as { apiCalls: number } | undefined;
    return { ...res, simStartSeconds: ready.startSeconds, simRssMb: ready.rssMb, simApiCalls: stats?.apiCalls ?? null };
  } finally {
    if (sim.exitCode === null && sim.signalCode === null) sim.kill('SIGKILL');
  }
}

const fmt = (x: number | null | undefined, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
const calls = (c: Record<string, number> | null) =>
  c ? Object.entries(c).map(([k, v]) => `${k}:${v}`).join(' ') : '-';

console.log(`Salesforce → raw extraction benchmark  node ${process.version}  ${os.cpus().length} CPU  ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM`);
console.log(`sizes ${sizes.join(',')}  paths ${paths.join(',')}  (simulator and extractor in separate processes; baseline = ${BASELINE_N} users per path)`);
const launchLine = [...Object.entries(launch.env).map(([k, v]) => `${k}=${v}`), 'node', ...launch.nodeFlags].join(' ');
console.log(`extractor runs as sfpipe does: ${launchLine}${process.env.BENCH_PLAIN_NODE === '1' ? ' (BENCH_PLAIN_NODE=1)' : ''}`);

const results: CaseResult[] = [];
for (const p of paths) {
  const order = [BASELINE_N, ...sizes.filter((s) => s !== BASELINE_N)];
  for (const n of order) {
    process.stderr.write(`running n=${n} path=${p} …\n`);
    const r = await runCase(n, p);
    process.stderr.write(
      `  done: ${r.status} ${r.seconds}s ${r.recordsPerSec} rec/s peak RSS ${r.peakRssMb} MB (sampled ${r.sampledPeakRssMb}; fetch ${r.fetchPhase.rss}, commit ${r.commitPhase.rss}); sim start ${fmt(r.simStartSeconds)}s\n`,
    );
    if (r.status !== 'SUCCESS') process.stderr.write(`  error: ${r.error}\n`);
    results.push(r);
  }
}

const baseline = (p: Path) => results.find((r) => r.path === p && r.n === BASELINE_N)!;
const header = [
  'path'.padEnd(5), 'N'.padStart(8), 'status'.padEnd(7), 'secs'.padStart(7), 'fetch s'.padStart(8), 'commit s'.padStart(8),
  'rec/s'.padStart(8), 'x5k'.padStart(5), 'calls'.padStart(5), 'peakRSS'.padStart(8), 'sampled'.padStart(8), 'fetchRSS'.padStart(8),
  'commitRSS'.padStart(9), 'heapMax'.padStart(7), 'RSSx5k'.padStart(6), '  api calls by kind',
].join(' ');
console.log('');
console.log(header);
console.log('-'.repeat(header.length + 20));
for (const r of results) {
  const b = baseline(r.path);
  console.log(
    [
      r.path.padEnd(5), String(r.n).padStart(8), r.status.slice(0, 7).padEnd(7), fmt(r.seconds, 2).padStart(7), fmt(r.fetchSeconds, 2).padStart(8),
      fmt(r.commitSeconds, 2).padStart(8), String(r.recordsPerSec).padStart(8), fmt(r.recordsPerSec / b.recordsPerSec, 2).padStart(5),
      String(r.apiCallsTotal ?? '-').padStart(5), fmt(r.peakRssMb).padStart(8), fmt(r.sampledPeakRssMb).padStart(8), fmt(r.fetchPhase.rss).padStart(8),
      fmt(r.commitPhase.rss).padStart(9), fmt(Math.max(r.fetchPhase.heapUsed, r.commitPhase.heapUsed)).padStart(7),
      fmt(r.peakRssMb / b.peakRssMb, 2).padStart(6), '  ' + calls(r.apiCalls),
    ].join(' '),
  );
}
console.log('');
console.log('RSS figures in MB of the extractor process only. peakRSS = resourceUsage().maxRSS; sampled = max memoryUsage().rss every 50 ms;');
console.log('fetchRSS/commitRSS = sampled peak while paging+staging / while merging staging into raw. rec/s = versions inserted / total secs.');
console.log('');
for (const r of results) {
  const dm = r.duckdbMemory as Record<string, { totalMb?: number; rssMb?: number; byTag?: Array<{ tag: string; mb: number; tempMb: number }> }>;
  const parts = Object.entries(dm).map(
    ([label, v]) => `${label}: duckdb ${fmt(v.totalMb)} MB at RSS ${fmt(v.rssMb)} MB [${(v.byTag ?? []).map((t) => `${t.tag}=${t.mb}${t.tempMb ? `+tmp${t.tempMb}` : ''}`).join(', ')}]`,
  );
  console.log(
    `${r.path} ${String(r.n).padStart(8)}: rss before run ${fmt(r.rssBeforeRunMb)} MB; records fetched ${r.recordsFetched}, inserted ${r.versionsInserted}; ` +
      `server-side API calls ${r.simApiCalls ?? '-'}; duckdb file ${fmt(r.duckdbFileMb)} MB; sim start ${fmt(r.simStartSeconds)} s (sim RSS ${fmt(r.simRssMb, 0)} MB)`,
  );
  for (const part of parts) console.log(`    ${part}`);
}

const summary = {
  bench: 'extract',
  node: process.version,
  results: results.map((r) => {
    const b = baseline(r.path);
    return {
      n: r.n,
      path: r.path,
      status: r.status,
      seconds: r.seconds,
      fetchSeconds: r.fetchSeconds,
      commitSeconds: r.commitSeconds,
      recordsPerSec: r.recordsPerSec,
      apiCalls: r.apiCalls,
      apiCallsTotal: r.apiCallsTotal,
      simApiCalls: r.simApiCalls,
      peakRssMb: r.peakRssMb,
      sampledPeakRssMb: r.sampledPeakRssMb,
      fetchPeakRssMb: r.fetchPhase.rss,
      commitPeakRssMb: r.commitPhase.rss,
      versionsInserted: r.versionsInserted,
      recordsPerSecVs5k: Math.round((r.recordsPerSec / b.recordsPerSec) * 100) / 100,
      peakRssVs5k: Math.round((r.peakRssMb / b.peakRssMb) * 100) / 100,
    };
  }),
};
console.log('');
console.log(JSON.stringify(summary));
