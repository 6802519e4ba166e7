/**
 * Random Salesforce User histories for the SCD property tests (test/dbt/scd-property.test.ts on
 * DuckDB, test/trino/scd-property-trino.test.ts on Trino): per user a random run of tracked and
 * untracked changes, system-only changes, tombstones and returns, spread over load batches with
 * out-of-order arrival and exact repeats (through the loader and in raw itself). Deterministic
 * for a seed.
 */
import type { ExecutionContext } from 'ava';
import { formatObservation, type Observation } from './scd-oracle.js';

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Batch {
  /** Given to the loader, in this order (repeats included: the loader drops them). */
  loaderRows: Observation[];
  /** Exact repeats written with plain SQL after the load (rows already in raw). */
  sqlRepeats: Observation[];
}

export interface Generated {
  batches: Batch[];
  /** Observation -> its batch, for repro output. */
  batchOf: Map<Observation, number>;
  lateArrivals: number;
  stats: Record<string, number>;
}

export interface GenerateOptions {
  /** How many users (one random history each); default 520. */
  users?: number;
  /** How many load batches; default 4. */
  batches?: number;
  /** The user ids are `<idPrefix><8-digit number>`; default 005P. */
  idPrefix?: string;
}

/** Random user histories over `batches` loads, deterministic for a seed (see the file comment). */
export function generate(seed: number, opts: GenerateOptions = {}): Generated {
  const userCount = opts.users ?? 520;
  const batchCount = opts.batches ?? 4;
  const idPrefix = opts.idPrefix ?? '005P';
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const NAMES = ['Ann', 'Bob', 'Cy', null] as const;
  const DIVISIONS = ['North', 'South', null] as const;
  const PHASES = ['Phase1', 'Complete', null] as const;
  const BASE = Date.UTC(2025, 0, 1);
  const HOUR = 3_600_000;
  const stats: Record<string, number> = { observations: 0, tombstones: 0, returns: 0, trackedChanges: 0, untrackedOnly: 0, equalLmd: 0, loaderRepeats: 0, sqlRepeatsSame: 0, sqlRepeatsLater: 0 };

  const batches: Batch[] = Array.from({ length: batchCount }, () => ({ loaderRows: [], sqlRepeats: [] }));
  const batchOf = new Map<Observation, number>();

  for (let u = 0; u < userCount; u++) {
    const id = `${idPrefix}${String(u).padStart(8, '0')}`;
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
      if (rnd() < 0.3) b = int(batchCount);
      else b = Math.min(batchCount - 1, Math.floor((k * batchCount) / n) + (rnd() < 0.25 ? 1 : 0));
      batchOf.set(o, b);
      batches[b]!.loaderRows.push(o);
      stats.observations!++;
      // Repeats through the loader: twice in the same batch, or re-extracted later.
      if (rnd() < 0.05) {
        batches[b]!.loaderRows.push({ ...o });
        stats.loaderRepeats!++;
      }
      if (b < batchCount - 1 && rnd() < 0.05) {
        batches[b + 1 + int(batchCount - 1 - b)]!.loaderRows.push({ ...o });
        stats.loaderRepeats!++;
      }
      // Exact repeats in raw itself (plain SQL), in the same batch and in a later one.
      if (rnd() < 0.06) {
        batches[b]!.sqlRepeats.push(o);
        if (rnd() < 0.3) batches[b]!.sqlRepeats.push(o);
        stats.sqlRepeatsSame!++;
      }
      if (b < batchCount - 1 && rnd() < 0.06) {
        batches[b + 1 + int(batchCount - 1 - b)]!.sqlRepeats.push(o);
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
export function repro(gen: Generated, users: string[], limit = 2): string {
  const lines: string[] = [];
  for (const user of users.slice(0, limit)) {
    lines.push(`observations of ${user} (batch: observation), in stamp order:`);
    const all = [...gen.batchOf.entries()].filter(([o]) => o.id === user).sort(([a], [b]) => a.systemmodstamp - b.systemmodstamp);
    for (const [o, b] of all) lines.push(`  batch ${b + 1}: ${formatObservation(o)}`);
  }
  return lines.join('\n');
}

/**
 * user_key is unique in `rows` and stable: the same (user_id, valid_from) keeps the key `keys`
 * recorded for it at an earlier step (`keys` is updated).
 */
export function checkKeys(t: ExecutionContext, rows: readonly { user_key: string; user_id: string; valid_from: number }[], keys: Map<string, string>, where: string, seed: number): void {
  const seen = new Set<string>();
  for (const r of rows) {
    if (seen.has(r.user_key)) t.fail(`${where}: user_key ${r.user_key} appears twice (seed ${seed})`);
    seen.add(r.user_key);
    const version = `${r.user_id}|${r.valid_from}`;
    const before = keys.get(version);
    if (before !== undefined && before !== r.user_key) {
      t.fail(`${where}: user_key of ${r.user_id} at ${new Date(r.valid_from).toISOString()} changed from ${before} to ${r.user_key} (seed ${seed})`);
    }
    keys.set(version, r.user_key);
  }
}


/**
 * After an incremental step that loaded `batch` (the last rows of `arrived`): users without a new
 * (id, systemmodstamp) in it keep their rows exactly, _dbt_updated_at included (recomputed-identical
 * rows keep it too), and some row got a new _dbt_updated_at.
 */
export function checkUntouched<R extends { user_id: string; _dbt_updated_at: number }>(
  t: ExecutionContext,
  batch: Batch,
  arrived: readonly Observation[],
  previous: R[],
  last: R[],
  where: string,
): void {
  const known = new Set(arrived.slice(0, arrived.length - batch.loaderRows.length - batch.sqlRepeats.length).map((o) => `${o.id}|${o.systemmodstamp}`));
  const touched = new Set([...batch.loaderRows, ...batch.sqlRepeats].filter((o) => !known.has(`${o.id}|${o.systemmodstamp}`)).map((o) => o.id));
  const untouched = (rows: R[]) => rows.filter((r) => !touched.has(r.user_id));
  t.deepEqual(untouched(last), untouched(previous), `${where}: rows of users without new raw versions changed`);
  const before = Math.max(...previous.map((r) => r._dbt_updated_at));
  t.true(last.some((r) => r._dbt_updated_at > before), `${where}: no row got a new _dbt_updated_at`);
}
