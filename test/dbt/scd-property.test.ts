/**
 * Property test of dim_sf_user_scd (docs/data-model.md): random user histories loaded into one raw
 * table in K batches with out-of-order arrival and exact repeats; after each batch a dbt build
 * (the first one full, then incremental, with and without the _extracted_at lookback).
 * Checked: after each step the dimension equals an independent TypeScript oracle over the
 * batches loaded so far; a rerun changes nothing; the final incremental dimension equals a
 * --full-refresh build over the same raw; user_key is unique and stable.
 *
 * Seed: SFPIPE_PROPERTY_SEED (default below); every failure message names it.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/temp.js';
import {
  content,
  copyDuckDb,
  dbt,
  describeFailures,
  insertExactRepeats,
  loadWithWarehouse,
  readDim,
  type DimRow,
} from './dbt-helpers.js';
import { diffScd, expectedScd, formatObservation, type Observation } from './scd-oracle.js';

const SEED = Number(process.env.SFPIPE_PROPERTY_SEED ?? 20250917);
const USERS = 520;
const BATCHES = 4;
const SELECT = ['--select', 'stg_sf_user', 'dim_sf_user_scd', '--target', 'local'];
const LOOKBACK_0 = ['--vars', '{scd_extracted_at_lookback_minutes: 0}'];

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Batch {
  /** Given to the loader, in this order (repeats included: the loader drops them). */
  loaderRows: Observation[];
  /** Exact repeats written with plain SQL after the load (rows already in raw). */
  sqlRepeats: Observation[];
}

interface Generated {
  batches: Batch[];
  /** Observation -> its batch, for repro output. */
  batchOf: Map<Observation, number>;
  lateArrivals: number;
  stats: Record<string, number>;
}

function generate(seed: number): Generated {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const NAMES = ['Ann', 'Bob', 'Cy', null] as const;
  const DIVISIONS = ['North', 'South', null] as const;
  const PHASES = ['Phase1', 'Complete', null] as const;
  const BASE = Date.UTC(2025, 0, 1);
  const HOUR = 3_600_000;
  const stats: Record<string, number> = { observations: 0, tombstones: 0, returns: 0, trackedChanges: 0, untrackedOnly: 0, equalLmd: 0, loaderRepeats: 0, sqlRepeatsSame: 0, sqlRepeatsLater: 0 };

  const batches: Batch[] = Array.from({ length: BATCHES }, () => ({ loaderRows: [], sqlRepeats: [] }));
  const batchOf = new Map<Observation, number>();

  for (let u = 0; u < USERS; u++) {
    const id = `005P${String(u).padStart(8, '0')}`;
    let t = BASE + int(30 * 24 * HOUR);
    let lmd = t - int(24 * HOUR);
    let name: string | null = pick(NAMES);
    let division: string | null = pick(DIVISIONS);
    let phase: string | null = pick(PHASES);
    let active: boolean | null = rnd() < 0.05 ? null : rnd() < 0.8;
    let deleted = false;
    const n = 1 + int(12);
    const history: Observation[] = [];
    for (let k = 0; k < n; k++) {
      if (k > 0) {
        // Strictly increasing systemmodstamp, millisecond precision.
        const gap = 1 + int(rnd() < 0.2 ? 1000 : 48 * HOUR);
        t += gap;
        const touch = () => {
          // A user edit moves LastModifiedDate (<= SystemModstamp), or leaves it equal sometimes.
          if (rnd() < 0.25) {
            stats.equalLmd!++;
            return;
          }
          lmd = Math.max(lmd, t - int(Math.min(gap, HOUR)));
        };
        if (deleted) {
          // A record that comes back after a tombstone, sometimes with other values.
          deleted = false;
          stats.returns!++;
          if (rnd() < 0.4) division = pick(DIVISIONS);
          if (rnd() < 0.3) name = pick(NAMES);
          touch();
        } else {
          const r = rnd();
          if (r < 0.2) {
            division = pick(DIVISIONS);
            touch();
          } else if (r < 0.38) {
            phase = pick(PHASES);
            touch();
          } else if (r < 0.45) {
            division = pick(DIVISIONS);
            phase = pick(PHASES);
            touch();
          } else if (r < 0.6) {
            name = pick(NAMES);
            touch();
          } else if (r < 0.72) {
            active = rnd() < 0.1 ? null : !active;
            touch();
          } else if (r < 0.84) {
            // A system-only change: SystemModstamp moves, LastModifiedDate does not.
            stats.equalLmd!++;
          } else {
            // Tombstone: the last known values, isdeleted = true, at a later stamp.
            deleted = true;
            stats.tombstones!++;
          }
        }
      }
      const prev = history[history.length - 1];
      const o: Observation = { id, name, division, audit_phase__c: phase, isactive: active, isdeleted: deleted ? true : null, lastmodifieddate: lmd, systemmodstamp: t };
      if (prev) {
        const trackedChange = prev.division !== o.division || prev.audit_phase__c !== o.audit_phase__c || prev.isdeleted !== o.isdeleted;
        if (trackedChange) stats.trackedChanges!++;
        else if (prev.name !== o.name || prev.isactive !== o.isactive) stats.untrackedOnly!++;
      }
      history.push(o);
    }

    // Arrival: mostly in stamp order across the batches, often out of order.
    history.forEach((o, k) => {
      let b: number;
      if (rnd() < 0.3) b = int(BATCHES);
      else b = Math.min(BATCHES - 1, Math.floor((k * BATCHES) / n) + (rnd() < 0.25 ? 1 : 0));
      batchOf.set(o, b);
      batches[b]!.loaderRows.push(o);
      stats.observations!++;
      // Repeats through the loader: twice in the same batch, or re-extracted later.
      if (rnd() < 0.05) {
        batches[b]!.loaderRows.push({ ...o });
        stats.loaderRepeats!++;
      }
      if (b < BATCHES - 1 && rnd() < 0.05) {
        batches[b + 1 + int(BATCHES - 1 - b)]!.loaderRows.push({ ...o });
        stats.loaderRepeats!++;
      }
      // Exact repeats in raw itself (plain SQL), in the same batch and in a later one.
      if (rnd() < 0.06) {
        batches[b]!.sqlRepeats.push(o);
        if (rnd() < 0.3) batches[b]!.sqlRepeats.push(o);
        stats.sqlRepeatsSame!++;
      }
      if (b < BATCHES - 1 && rnd() < 0.06) {
        batches[b + 1 + int(BATCHES - 1 - b)]!.sqlRepeats.push(o);
        stats.sqlRepeatsLater!++;
      }
    });
  }

  // Shuffle each batch's loader rows: arrival order inside a batch must not matter.
  for (const batch of batches) {
    const rows = batch.loaderRows;
    for (let i = rows.length - 1; i > 0; i--) {
      const j = int(i + 1);
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
  }

  // Late arrivals: observations older than one of the same user's loaded in an earlier batch.
  let lateArrivals = 0;
  const newestLoaded = new Map<string, number>();
  for (const batch of batches) {
    for (const o of batch.loaderRows) if ((newestLoaded.get(o.id) ?? -Infinity) > o.systemmodstamp) lateArrivals++;
    for (const o of batch.loaderRows) newestLoaded.set(o.id, Math.max(newestLoaded.get(o.id) ?? -Infinity, o.systemmodstamp));
  }
  return { batches, batchOf, lateArrivals, stats };
}

/** The histories of the given users, with their batches: a repro for a bug report. */
function repro(gen: Generated, users: string[], limit = 2): string {
  const lines: string[] = [];
  for (const user of users.slice(0, limit)) {
    lines.push(`observations of ${user} (batch: observation), in stamp order:`);
    const all = [...gen.batchOf.entries()].filter(([o]) => o.id === user).sort(([a], [b]) => a.systemmodstamp - b.systemmodstamp);
    for (const [o, b] of all) lines.push(`  batch ${b + 1}: ${formatObservation(o)}`);
  }
  return lines.join('\n');
}

function checkKeys(t: import('ava').ExecutionContext, rows: DimRow[], keys: Map<string, string>, where: string): void {
  const seen = new Set<string>();
  for (const r of rows) {
    if (seen.has(r.user_key)) t.fail(`${where}: user_key ${r.user_key} appears twice (seed ${SEED})`);
    seen.add(r.user_key);
    const version = `${r.user_id}|${r.valid_from}`;
    const before = keys.get(version);
    if (before !== undefined && before !== r.user_key) {
      t.fail(`${where}: user_key of ${r.user_id} at ${new Date(r.valid_from).toISOString()} changed from ${before} to ${r.user_key} (seed ${SEED})`);
    }
    keys.set(version, r.user_key);
  }
}

test('dim_sf_user_scd: incremental steps == oracle == full refresh over random histories', async (t) => {
  t.timeout(240_000);
  const gen = generate(SEED);
  t.log(`seed ${SEED} (override with SFPIPE_PROPERTY_SEED); ${JSON.stringify(gen.stats)}; late arrivals ${gen.lateArrivals}`);
  // The generator really produces what the property is about.
  t.true(gen.stats.observations! >= 2000, `seed ${SEED}: too few observations`);
  t.true(gen.lateArrivals > 50, `seed ${SEED}: too few late arrivals (${gen.lateArrivals})`);
  t.true(gen.stats.tombstones! > 50 && gen.stats.returns! > 20, `seed ${SEED}: too few tombstones/returns`);
  t.true(gen.stats.sqlRepeatsSame! > 20 && gen.stats.sqlRepeatsLater! > 20, `seed ${SEED}: too few repeats`);

  const dir = tempDir('sfpipe-scd-prop-');
  // Kept when the test fails, for a look at the DuckDB files and dbt logs.
  t.teardown(() => {
    if (t.passed) fs.rmSync(dir, { recursive: true, force: true });
  });
  const file = path.join(dir, 'warehouse.duckdb');
  const stateDir = path.join(dir, 'state');
  const keys = new Map<string, string>();
  const arrived: Observation[] = [];
  let last: DimRow[] = [];

  for (let i = 0; i < BATCHES; i++) {
    const batch = gen.batches[i]!;
    const runId = `prop-${SEED}-b${i + 1}`;
    // _extracted_at: the real UTC time of the load, after the previous dbt run started.
    const extractedAt = new Date();
    await loadWithWarehouse(file, batch.loaderRows, runId, extractedAt);
    await insertExactRepeats(file, batch.sqlRepeats, runId, extractedAt);
    arrived.push(...batch.loaderRows, ...batch.sqlRepeats);

    // Step 1 builds the table; 2 and 4 select users by _extracted_at only (lookback 0);
    // 3 keeps the default lookback (every user is recomputed).
    const args = ['build', ...SELECT, ...(i === 1 || i === 3 ? LOOKBACK_0 : [])];
    const call = await dbt(stateDir, file, args);
    if (call.exitCode !== 0) return t.fail(`seed ${SEED}, step ${i + 1} (dbt ${args.join(' ')}) failed: ${describeFailures(call)}`);

    const previous = last;
    last = await readDim(file);
    checkKeys(t, last, keys, `step ${i + 1}`);
    const diff = diffScd(content(last), expectedScd(arrived));
    if (diff) {
      return t.fail(`seed ${SEED}: after step ${i + 1} (batches 1..${i + 1}) the dimension differs from the oracle: ${diff.text}\n${repro(gen, diff.users)}`);
    }
    if (i > 0) {
      // Users without a new (id, systemmodstamp) in this batch keep their rows exactly,
      // _dbt_updated_at included (recomputed-identical rows keep it too).
      const known = new Set(arrived.slice(0, arrived.length - batch.loaderRows.length - batch.sqlRepeats.length).map((o) => `${o.id}|${o.systemmodstamp}`));
      const touched = new Set([...batch.loaderRows, ...batch.sqlRepeats].filter((o) => !known.has(`${o.id}|${o.systemmodstamp}`)).map((o) => o.id));
      const untouched = (rows: DimRow[]) => rows.filter((r) => !touched.has(r.user_id));
      t.deepEqual(untouched(last), untouched(previous), `seed ${SEED}, step ${i + 1}: rows of users without new raw versions changed`);
      const before = Math.max(...previous.map((r) => r._dbt_updated_at));
      t.true(last.some((r) => r._dbt_updated_at > before), `seed ${SEED}, step ${i + 1}: no row got a new _dbt_updated_at`);
    }
  }
  t.pass(`seed ${SEED}: oracle holds after each of ${BATCHES} steps`);

  // A rerun without new raw rows (default lookback: it recomputes every user) changes nothing,
  // not even _dbt_updated_at.
  const rerun = await dbt(stateDir, file, ['build', ...SELECT]);
  if (rerun.exitCode !== 0) return t.fail(`seed ${SEED}: rerun failed: ${describeFailures(rerun)}`);
  t.deepEqual(await readDim(file), last, `seed ${SEED}: a rerun without new raw rows changed the dimension`);

  // --full-refresh over the same raw, on a copy of the file.
  const fullFile = path.join(dir, 'full.duckdb');
  copyDuckDb(file, fullFile);
  const full = await dbt(path.join(dir, 'state-full'), fullFile, ['build', ...SELECT, '--full-refresh']);
  if (full.exitCode !== 0) return t.fail(`seed ${SEED}: full refresh failed: ${describeFailures(full)}`);
  const fullRows = await readDim(fullFile);
  const fullDiff = diffScd(content(last), content(fullRows));
  if (fullDiff) {
    return t.fail(`seed ${SEED}: incremental (actual) != full refresh (expected): ${fullDiff.text}\n${repro(gen, fullDiff.users)}`);
  }
  checkKeys(t, fullRows, keys, 'full refresh');
  t.deepEqual(
    fullRows.map((r) => r.user_key),
    last.map((r) => r.user_key),
    `seed ${SEED}: user_key differs between the full refresh and the incremental build`,
  );
  t.is(new Set(fullRows.map((r) => r.user_id)).size, USERS, `seed ${SEED}: every user has rows`);
});
