/**
 * The DuckDB raw load's commit paths at N users, under the default memory_limit (DEFAULT_MEMORY_LIMIT):
 * a first load into an empty table (the baseline), an incremental load (1% of users changed),
 * a full refresh that re-reads everything (all duplicates, with the tombstone / revival pass),
 * and a full refresh in which 1% of users come back with other values under the same
 * SystemModstamp (the rewrite path). Prints seconds, rows/s, the commit's share and peak RSS;
 * ratios are to the first load in this process.
 *
 * Usage: node dist/bench/raw-commit.js [users=1000000]
 */
// First, as in bin/sfpipe.ts: DuckDB's allocator settings are read when the library loads.
import '../assets/warehouse/duckdb-allocator.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { embeddedConfigPath, loadPipelineConfig } from '../assets/config/load-config.js';
import { DEFAULT_MEMORY_LIMIT, DuckDbRawWarehouse } from '../assets/warehouse/duckdb-raw-warehouse.js';
import type { ColumnSpec, RawRow } from '../assets/warehouse/raw-warehouse.js';

const N = Number((process.argv[2] ?? '1000000').replace(/_/g, ''));
if (!Number.isInteger(N) || N < 1000) throw new Error(`bad user count ${process.argv[2]}`);
const BATCH = 20_000;
// The raw columns of the embedded default's config, as the extraction makes them.
const COLUMNS: ColumnSpec[] = loadPipelineConfig(embeddedConfigPath()).source.columns.map((c) => ({ name: c.name.toLowerCase(), type: c.type }));
const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);

function row(i: number, day: number, division: string): RawRow {
  const stamp = new Date(T0 + day * DAY + (i % 86_000) * 1000);
  return {
    id: `005${String(i).padStart(15, '0')}`,
    name: `User ${i} O'Brien`,
    division,
    audit_phase__c: i % 3 ? 'Phase1' : null,
    isactive: i % 7 !== 0,
    lastmodifieddate: stamp,
    systemmodstamp: stamp,
  };
}

let peakRss = 0;
const probe = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 25);

async function timed(label: string, wh: DuckDbRawWarehouse, rows: (i: number) => RawRow | null, opts: { tombstonesAt?: Date; observedAt?: Date } = {}) {
  peakRss = process.memoryUsage().rss;
  const started = performance.now();
  const load = await wh.beginLoad(label, new Date());
  let staged = 0;
  for (let from = 0; from < N; from += BATCH) {
    const batch: RawRow[] = [];
    for (let i = from; i < Math.min(N, from + BATCH); i++) {
      const r = rows(i);
      if (r) batch.push(r);
    }
    if (batch.length) await load.append(batch);
    staged += batch.length;
  }
  const commitStart = performance.now();
  process.stderr.write(`${label}: staged ${staged} rows, committing…\n`);
  const summary = await load.commit(opts);
  const ended = performance.now();
  process.stderr.write(`${label}: done in ${((ended - started) / 1000).toFixed(2)} s\n`);
  return { label, staged, seconds: (ended - started) / 1000, commitSeconds: (ended - commitStart) / 1000, peakMb: Math.round(peakRss / 1e6), summary };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sfpipe-bench-raw-'));
try {
  const wh = await DuckDbRawWarehouse.open(path.join(dir, 'warehouse.duckdb'));
  await wh.ensureRawTables(COLUMNS);
  const results = [];
  // As the extraction commits: every load says when the source was read (observedAt).
  results.push(await timed('first load', wh, (i) => row(i, 0, 'North'), { observedAt: new Date(T0 + DAY) }));
  results.push(await timed('incremental, 1% changed', wh, (i) => (i % 100 === 0 ? row(i, 1, 'South') : null), { observedAt: new Date(T0 + 2 * DAY) }));
  const day2 = (i: number) => (i % 100 === 0 ? row(i, 1, 'South') : row(i, 0, 'North'));
  results.push(await timed('full refresh, all seen before', wh, day2, { tombstonesAt: new Date(T0 + 3 * DAY) }));
  results.push(
    await timed('full refresh, 1% rewritten in place', wh, (i) => (i % 100 === 50 ? { ...row(i, 0, 'Same second') } : day2(i)), { tombstonesAt: new Date(T0 + 4 * DAY) }),
  );
  await wh.close();
  const base = results[0]!;
  console.log(`raw commit paths, ${N.toLocaleString('en')} users, DuckDB memory_limit ${DEFAULT_MEMORY_LIMIT} (node ${process.version}, ${os.cpus().length} cores)`);
  console.log('| load | rows staged | seconds | rows/s | commit s | commit share | peak RSS | time vs first load | summary |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const s = r.summary;
    console.log(
      `| ${r.label} | ${r.staged.toLocaleString('en')} | ${r.seconds.toFixed(2)} | ${Math.round(r.staged / r.seconds).toLocaleString('en')} | ${r.commitSeconds.toFixed(2)} | ${Math.round((100 * r.commitSeconds) / r.seconds)}% | ${r.peakMb} MB | ${(r.seconds / base.seconds).toFixed(2)}× | +${s.inserted} new, ${s.rewritten} rewritten, ${s.duplicates} dup, ${s.tombstones} tomb, ${s.revived} revived |`,
    );
  }
} finally {
  clearInterval(probe);
  fs.rmSync(dir, { recursive: true, force: true });
}
