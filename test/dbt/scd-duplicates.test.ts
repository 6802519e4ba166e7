/**
 * Several raw rows of one version (same id and systemmodstamp, other values): the later observation
 * wins — the latest `_extracted_at`, then the greatest run id (docs/data-model.md) — in
 * staging, in the dimension on full and incremental builds, and in the TypeScript oracle. The rows
 * are written with plain SQL, as another loader or a person could, in an order that differs from
 * the rule; the production loader's own rewrite of a version is the incremental step.
 */
import test from 'ava';
import path from 'node:path';
import { content, copyDuckDb, dbt, dbtWorkspace, describeFailures, insertRawRows, loadWithWarehouse, readDim } from './dbt-helpers.js';
import { diffScd, expectedScd, type Observation } from './scd-oracle.js';

const SELECT = ['--select', 'stg_sf_user', 'dim_sf_user_scd', '--target', 'dev'];
const LOOKBACK_0 = ['--vars', '{scd_extracted_at_lookback_minutes: 0}'];

type Extracted = Observation & { _extracted_at: number; _extraction_run_id: string };

const ms = (iso: string) => Date.parse(iso);
const T1 = '2025-03-01T08:00:00.000Z';
const T2 = '2025-03-02T08:00:00.000Z';
const E1 = ms('2025-03-03T00:00:00.000Z');
const E2 = ms('2025-03-04T00:00:00.000Z');
const E3 = ms('2025-03-05T00:00:00.000Z');

function obs(id: string, stamp: string, division: string | null, name: string, extractedAt: number, runId: string): Extracted {
  return {
    id,
    name,
    division,
    audit_phase__c: 'Phase1',
    isactive: true,
    isdeleted: null,
    lastmodifieddate: ms(stamp),
    systemmodstamp: ms(stamp),
    _extracted_at: extractedAt,
    _extraction_run_id: runId,
  };
}

/** What the loader wrote first (one row per version, run r1 at E1). */
const LOADED: Extracted[] = [
  obs('uTwo', T1, 'North', 'Ann', E1, 'r1'),
  obs('uTwo', T2, 'South', 'Ann', E1, 'r1'),
  obs('uThree', T1, 'East', 'Bo', E1, 'r1'),
  obs('uOnly', T1, 'North', 'Cy', E1, 'r1'),
];

/** Rows another writer appended, in this order. */
const WRITTEN: Extracted[] = [
  // Two rows of uTwo's second version: the later one says North, so it merges into the first.
  obs('uTwo', T2, 'North', 'Ann B', E2, 'r2'),
  // Three rows of uThree's second version, appended latest-first: E3 beats E2, and at E3 run r-b beats r-a.
  obs('uThree', T2, 'West', 'Bo W', E3, 'r-b'),
  obs('uThree', T2, 'Central', 'Bo C', E3, 'r-a'),
  obs('uThree', T2, 'North', 'Bo N', E2, 'r-z'),
  // A second row of uOnly's only version, and an older observation of it appended after both.
  obs('uOnly', T1, 'South', 'Cy S', E2, 'r2'),
  obs('uOnly', T1, 'West', 'Cy W', ms('2025-03-02T12:00:00.000Z'), 'r0'),
];

interface Shown {
  user_id: string;
  name: string | null;
  division: string | null;
  valid_from: string;
  valid_to: string | null;
}

const shown = (rows: Awaited<ReturnType<typeof readDim>>): Shown[] =>
  rows.map((r) => ({
    user_id: r.user_id,
    name: r.name,
    division: r.division,
    valid_from: new Date(r.valid_from).toISOString(),
    valid_to: r.valid_to === null ? null : new Date(r.valid_to).toISOString(),
  }));

test('two or three raw rows of one version, or of a user\'s only version: the later observation wins, on full and incremental builds alike', async (t) => {
  t.timeout(300_000);
  const { dir, file, stateDir } = dbtWorkspace(t, 'sfpipe-scd-dup-');

  await loadWithWarehouse(file, LOADED, 'r1', new Date(E1));
  await insertRawRows(file, WRITTEN);
  const full = await dbt(stateDir, file, ['build', ...SELECT]);
  t.is(full.exitCode, 0, describeFailures(full));

  const first = await readDim(file);
  t.deepEqual(shown(first), [
    { user_id: 'uOnly', name: 'Cy S', division: 'South', valid_from: T1, valid_to: null },
    { user_id: 'uThree', name: 'Bo', division: 'East', valid_from: T1, valid_to: T2 },
    { user_id: 'uThree', name: 'Bo W', division: 'West', valid_from: T2, valid_to: null },
    { user_id: 'uTwo', name: 'Ann B', division: 'North', valid_from: T1, valid_to: null },
  ]);
  const arrived: Observation[] = [...LOADED, ...WRITTEN];
  t.is(diffScd(content(first), expectedScd(arrived))?.text ?? null, null, 'the oracle follows the same rule');

  // Incremental: the loader sees uOnly's version with other values again (it rewrites raw's rows of
  // that version), and another writer adds a fourth, latest row of uThree's second version.
  const now = Date.now();
  const seenAgain = obs('uOnly', T1, 'East', 'Cy E', now, 'r3');
  await loadWithWarehouse(file, [seenAgain], 'r3', new Date(now));
  const fourth = obs('uThree', T2, 'Central', 'Bo C2', now, 'r4');
  await insertRawRows(file, [fourth]);
  arrived.push(seenAgain, fourth);
  const inc = await dbt(stateDir, file, ['build', ...SELECT, ...LOOKBACK_0]);
  t.is(inc.exitCode, 0, describeFailures(inc));
  const second = await readDim(file);
  t.deepEqual(shown(second), [
    { user_id: 'uOnly', name: 'Cy E', division: 'East', valid_from: T1, valid_to: null },
    { user_id: 'uThree', name: 'Bo', division: 'East', valid_from: T1, valid_to: T2 },
    { user_id: 'uThree', name: 'Bo C2', division: 'Central', valid_from: T2, valid_to: null },
    { user_id: 'uTwo', name: 'Ann B', division: 'North', valid_from: T1, valid_to: null },
  ]);
  t.is(diffScd(content(second), expectedScd(arrived))?.text ?? null, null, 'the oracle follows the same rule');

  // A full refresh over the same raw gives the same rows.
  const fullFile = path.join(dir, 'full.duckdb');
  copyDuckDb(file, fullFile);
  const rebuilt = await dbt(path.join(dir, 'state-full'), fullFile, ['build', ...SELECT, '--full-refresh']);
  t.is(rebuilt.exitCode, 0, describeFailures(rebuilt));
  t.deepEqual(content(await readDim(fullFile)), content(second));
});
