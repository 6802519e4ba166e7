/**
 * Extractor child of bench/extract.ts: ONE full materialization of sf_raw/sf_user through the
 * runtime's programmatic API (like test/helpers/extract-harness.ts) against a simulator in another process,
 * into a fresh temp state dir. Prints one JSON line on stdout with the figures.
 * Usage: node dist/bench/extract-worker.js <n> <rest|bulk> <simulator url>
 * Env: BENCH_DUCKDB_MEMORY_LIMIT=256MB caps DuckDB (experiment); BENCH_DUCKDB_SET='name=value;…' sets other
 * DuckDB settings (experiment, e.g. allocator_flush_threshold=8MB); BENCH_DUCKDB_PROBE=0 skips duckdb_memory().
 *
 * Peak RSS: process.resourceUsage().maxRSS (kernel high-water mark, whole process life) and the
 * max of process.memoryUsage().rss sampled every 50 ms (split into the fetch/stage phase and the
 * commit phase, which starts when the load's commit() is called).
 */
// First, as in bin/sfpipe.ts: DuckDB's allocator settings are read when the library loads.
import '../assets/warehouse/duckdb-allocator.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import { embeddedConfigPath, parsePipelineConfig } from '../assets/config/load-config.js';
import { salesforceUser } from '../assets/sf-user-pipeline.js';
import { sfUserAsset } from '../assets/raw/sf-user-asset.js';
import { createResources } from '../assets/resources.js';
import type { RawWarehouse } from '../assets/warehouse/raw-warehouse.js';
import { materialize, PipelineInstance } from '../runtime/api/index.js';
import { SqliteEventLog } from '../runtime/storage/sqlite-event-log.js';
import { DEFAULT_CREDENTIALS } from '../sim/index.js';

const MB = 2 ** 20;
const n = Number(process.argv[2]);
const mode = process.argv[3];
const url = process.argv[4];
if (!Number.isInteger(n) || (mode !== 'rest' && mode !== 'bulk') || !url) {
  throw new Error('usage: extract-worker.js <n> <rest|bulk> <simulator url>');
}
const probeDuckDb = process.env.BENCH_DUCKDB_PROBE !== '0';

// ---- memory sampling -------------------------------------------------------------------
interface Peaks {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}
const zero = (): Peaks => ({ rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 });
const fetchPeak = zero();
const commitPeak = zero();
let phase: 'fetch' | 'commit' = 'fetch';
let fetchDoneAt: number | null = null;
function sample(): void {
  const m = process.memoryUsage();
  const p = phase === 'fetch' ? fetchPeak : commitPeak;
  p.rss = Math.max(p.rss, m.rss);
  p.heapUsed = Math.max(p.heapUsed, m.heapUsed);
  p.external = Math.max(p.external, m.external);
  p.arrayBuffers = Math.max(p.arrayBuffers, m.arrayBuffers);
}

// ---- DuckDB memory probe (bench-only peek at the warehouse's main connection) ----------
let warehouse: RawWarehouse | null = null;
const duckdbMemory: Record<string, unknown> = {};
async function probe(label: string): Promise<void> {
  if (!probeDuckDb || !warehouse) return;
  const conn = (warehouse as unknown as { conn?: { runAndReadAll(sql: string): Promise<{ getRowsJS(): unknown[][] }> } }).conn;
  if (!conn) return;
  try {
    const r = await conn.runAndReadAll(
      `SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0 OR temporary_storage_bytes > 0`,
    );
    const rows = r.getRowsJS().map(([tag, mem, tmp]) => ({ tag: String(tag), mb: round(Number(mem) / MB), tempMb: round(Number(tmp) / MB) }));
    const total = rows.reduce((a, x) => a + x.mb, 0);
    duckdbMemory[label] = { totalMb: round(total), rssMb: round(process.memoryUsage().rss / MB), byTag: rows };
  } catch (err) {
    duckdbMemory[label] = { error: (err as Error).message };
  }
}

// ---- logger: JSON lines; warnings to stderr ------------------
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    const line = chunk.toString();
    try {
      const rec = JSON.parse(line) as { level?: string; message?: string };
      if (rec.level === 'warn' || rec.level === 'error') process.stderr.write(`[worker ${n} ${mode}] ${rec.level}: ${rec.message}\n`);
    } catch {
      // not JSON
    }
    cb();
  },
});
const logger = winston.createLogger({
  level: 'info',
  format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
  transports: [new winston.transports.Stream({ stream: sink })],
});

// ---- config, state dir, resources --------------------------------------------------------
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), `sfpipe-bench-extract-${n}-${mode}-`));
let yaml = fs.readFileSync(embeddedConfigPath(), 'utf8');
const edits: Array<[RegExp, string]> = [
  [/^(\s*bulk_threshold:\s*)\d+/m, `$1${mode === 'bulk' ? 1 : 100_000_000}`],
  [/^(\s*api_budget_share:\s*)[\d.]+/m, '$11'],
];
for (const [re, to] of edits) {
  if (!re.test(yaml)) throw new Error(`embedded.yaml: no match for ${re}`);
  yaml = yaml.replace(re, to);
}
const config = parsePipelineConfig('bench-extract.yaml', yaml);
const eventLog = SqliteEventLog.open(path.join(stateDir, 'events.sqlite'));
const base = createResources({
  config,
  stateDir,
  logger,
  endpoint: async () => ({ loginUrl: url, credentials: { clientId: DEFAULT_CREDENTIALS.clientId, clientSecret: DEFAULT_CREDENTIALS.clientSecret } }),
});
const resources: typeof base = {
  ...base,
  async rawWarehouse() {
    const wh = await base.rawWarehouse();
    warehouse = wh;
    // Experiments only: global settings of the instance (memory_limit caps DuckDB's buffer manager).
    const settings = (process.env.BENCH_DUCKDB_SET ?? '').split(';').map((s) => s.trim()).filter(Boolean);
    if (process.env.BENCH_DUCKDB_MEMORY_LIMIT) settings.push(`memory_limit=${process.env.BENCH_DUCKDB_MEMORY_LIMIT}`);
    const conn = (wh as unknown as { conn: { run(sql: string): Promise<unknown> } }).conn;
    for (const setting of settings) {
      const eq = setting.indexOf('=');
      const name = setting.slice(0, eq).trim();
      if (eq < 1 || !/^[a-z_]+$/.test(name)) throw new Error(`BENCH_DUCKDB_SET: bad setting ${setting} (name=value)`);
      await conn.run(`SET ${name} = '${setting.slice(eq + 1).trim().replace(/'/g, "''")}'`);
    }
    // The fetch/stage phase ends when the load's commit (the merge into raw) starts.
    const beginLoad = wh.beginLoad.bind(wh);
    wh.beginLoad = async (runId, extractedAt) => {
      const load = await beginLoad(runId, extractedAt);
      const commit = load.commit.bind(load);
      load.commit = async (opts) => {
        sample();
        phase = 'commit';
        fetchDoneAt = performance.now();
        await probe('afterFetch');
        return commit(opts);
      };
      return load;
    };
    const close = wh.close.bind(wh);
    wh.close = async () => {
      phase = 'commit';
      await probe('beforeClose');
      return close();
    };
    return wh;
  },
};

const instance = new PipelineInstance(
  { name: 'bench-extract', definitions: [salesforceUser, sfUserAsset(config)], openResources: async () => ({ resources, close: () => resources.close() }) },
  { stateDir, logger },
);

const rssBeforeMb = process.memoryUsage().rss / MB;
const maxRssBeforeMb = process.resourceUsage().maxRSS / 1024;
const timer = setInterval(sample, 50);
sample();
const t0 = performance.now();
const outcome = await materialize(instance, { selection: 'sf_raw/sf_user', eventLog, retrySleep: async () => {} });
const seconds = (performance.now() - t0) / 1000;
sample();
clearInterval(timer);
await eventLog.close();
if (outcome.kind !== 'ran') throw new Error(`the run did not run: ${JSON.stringify(outcome)}`);
const { result } = outcome;

const step = result.steps[0];
const md = (step?.metadata ?? {}) as Record<string, any>;
const versionsInserted = Number(md.versions_inserted ?? 0);
const fetchSeconds = fetchDoneAt === null ? null : (fetchDoneAt - t0) / 1000;
const out = {
  n,
  path: mode,
  status: result.status,
  error: step?.error ?? null,
  actualPath: md.path ?? null,
  seconds: round(seconds, 3),
  fetchSeconds: fetchSeconds === null ? null : round(fetchSeconds, 3),
  commitSeconds: fetchSeconds === null ? null : round(seconds - fetchSeconds, 3),
  recordsPerSec: round(versionsInserted / seconds, 0),
  recordsFetched: md.records_fetched ?? null,
  totalSize: md.total_size ?? null,
  versionsInserted,
  duplicatesSkipped: md.duplicates_skipped ?? null,
  apiCalls: md.api_calls ?? null,
  apiCallsTotal: md.api_calls_total ?? null,
  peakRssMb: round(process.resourceUsage().maxRSS / 1024),
  sampledPeakRssMb: round(Math.max(fetchPeak.rss, commitPeak.rss) / MB),
  rssBeforeRunMb: round(rssBeforeMb),
  maxRssBeforeRunMb: round(maxRssBeforeMb),
  fetchPhase: mbPeaks(fetchPeak),
  commitPhase: mbPeaks(commitPeak),
  duckdbMemory,
  duckdbFileMb: fileMb(path.join(stateDir, config.warehouse.duckdb.path)),
  stateDir,
};
process.stdout.write(JSON.stringify(out) + '\n');
if (process.env.BENCH_KEEP_STATE !== '1') fs.rmSync(stateDir, { recursive: true, force: true });
process.exit(result.status === 'SUCCESS' ? 0 : 1);

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
function mbPeaks(p: Peaks): Record<keyof Peaks, number> {
  return { rss: round(p.rss / MB), heapUsed: round(p.heapUsed / MB), external: round(p.external / MB), arrayBuffers: round(p.arrayBuffers / MB) };
}
function fileMb(file: string): number | null {
  try {
    return round(fs.statSync(file).size / MB);
  } catch {
    return null;
  }
}
