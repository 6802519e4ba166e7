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
import { checkKeys, checkUntouched, generate, repro } from './scd-histories.js';
import { diffScd, expectedScd, type Observation } from './scd-oracle.js';

const SEED = Number(process.env.SFPIPE_PROPERTY_SEED ?? 20250917);
const USERS = 520;
const BATCHES = 4;
const SELECT = ['--select', 'stg_sf_user', 'dim_sf_user_scd', '--target', 'dev'];
const LOOKBACK_0 = ['--vars', '{scd_extracted_at_lookback_minutes: 0}'];

test('dim_sf_user_scd: incremental steps == oracle == full refresh over random histories', async (t) => {
  t.timeout(240_000);
  const gen = generate(SEED, { users: USERS, batches: BATCHES });
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
    checkKeys(t, last, keys, `step ${i + 1}`, SEED);
    const diff = diffScd(content(last), expectedScd(arrived));
    if (diff) {
      return t.fail(`seed ${SEED}: after step ${i + 1} (batches 1..${i + 1}) the dimension differs from the oracle: ${diff.text}\n${repro(gen, diff.users)}`);
    }
    // Users without a new raw version keep their rows, _dbt_updated_at included.
    if (i > 0) checkUntouched(t, batch, arrived, previous, last, `seed ${SEED}, step ${i + 1}`);
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
  checkKeys(t, fullRows, keys, 'full refresh', SEED);
  t.deepEqual(
    fullRows.map((r) => r.user_key),
    last.map((r) => r.user_key),
    `seed ${SEED}: user_key differs between the full refresh and the incremental build`,
  );
  t.is(new Set(fullRows.map((r) => r.user_id)).size, USERS, `seed ${SEED}: every user has rows`);
});
