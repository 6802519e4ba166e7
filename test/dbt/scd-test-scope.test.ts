/**
 * The data tests of an incremental run read the users it could have recomputed (var
 * SFPIPE_DBT_TEST_SCOPE=touched, dbt/macros/scd_test_scope.sql); scope 'all' reads every row. A
 * corrupted row of a touched user fails the scoped tests as it fails the full ones; one of an
 * untouched user is left to the full test.
 */
import test from 'ava';
import { dbtWithEnv, dbtWorkspace, describeFailures, insertRawRows, loadWithWarehouse, withDuckDb, type DbtCall } from './dbt-helpers.js';
import type { Observation } from './scd-oracle.js';

const SELECT = ['--select', 'stg_sf_user', 'dim_sf_user_scd', '--target', 'dev', '--vars', '{scd_extracted_at_lookback_minutes: 0}'];
type Scope = 'all' | 'touched';

const DAY = 86_400_000;
const T0 = Date.parse('2025-03-01T08:00:00.000Z');

function obs(id: string, day: number, division: string): Observation {
  return { id, name: `User ${id}`, division, audit_phase__c: 'Phase1', isactive: true, isdeleted: null, lastmodifieddate: T0 + day * DAY, systemmodstamp: T0 + day * DAY };
}

/** Failing tests of a dbt call: short name (before the first "_dim"/"_stg" hash part) → failing rows. */
function failing(call: DbtCall): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of call.results) {
    if (!r.unique_id.startsWith('test.') || ['pass', 'success'].includes(r.status)) continue;
    out[r.unique_id.split('.')[2]!.replace(/_[0-9a-f]{10}$/, '')] = r.failures ?? -1;
  }
  return out;
}

test('scoped data tests read the touched users only: a broken touched user fails them, a broken untouched one is left to the full test', async (t) => {
  t.timeout(300_000);
  const { file, stateDir } = dbtWorkspace(t, 'sfpipe-scd-scope-');
  const dbt = (scope: Scope, args: string[]) => dbtWithEnv(stateDir, { SFPIPE_DUCKDB_PATH: file, SFPIPE_DBT_TEST_SCOPE: scope }, args);

  // Three users, loaded days ago and built.
  const past = Date.now() - 10 * DAY;
  await loadWithWarehouse(file, [obs('uA', 0, 'North'), obs('uB', 0, 'South'), obs('uC', 0, 'East'), obs('uC', 1, 'West')], 'r1', new Date(past));
  const built = await dbt('all', ['build', ...SELECT]);
  t.is(built.exitCode, 0, describeFailures(built));

  // uA changes in Salesforce (extracted now); with Division 'Mars', which its accepted_values test warns about.
  await insertRawRows(file, [{ ...obs('uA', 2, 'Mars'), _extracted_at: Date.now(), _extraction_run_id: 'r2' }]);
  const inc = await dbt('touched', ['build', ...SELECT]);
  t.is(inc.exitCode, 0, describeFailures(inc));
  t.deepEqual(failing(inc), { accepted_values_dim_sf_user_scd_division__North__South__East__West__Central: 1 }, 'the touched user\'s bad value is found');

  // uA changes again (loaded, not yet built: `dbt test` alone sees the state between a load and
  // its build), and rows are broken by hand: a second current row for uA and for uB.
  await insertRawRows(file, [{ ...obs('uA', 3, 'North'), _extracted_at: Date.now(), _extraction_run_id: 'r3' }]);
  await withDuckDb(file, async (run) => {
    for (const id of ['uA', 'uB']) {
      await run(
        `INSERT INTO sf_curated.dim_sf_user_scd SELECT * REPLACE (md5(user_key) AS user_key, valid_from + INTERVAL 1 SECOND AS valid_from)
         FROM sf_curated.dim_sf_user_scd WHERE user_id = '${id}' AND is_current`,
      );
    }
  });
  // Scope 'touched': uA only (its raw row is newer than the dimension's watermark).
  const scoped = await dbt('touched', ['test', ...SELECT]);
  t.is(scoped.exitCode, 1);
  const scopedFailures = failing(scoped);
  t.is(scopedFailures['exactly_one_true_per_group_dim_sf_user_scd_is_current__user_id'], 1, JSON.stringify(scopedFailures));
  t.is(scopedFailures['assert_dim_sf_user_scd_integrity'], 2, 'uA: two current rows, two versions overlapping');
  // Every row: uB too.
  const all = await dbt('all', ['test', ...SELECT]);
  t.is(all.exitCode, 1);
  const allFailures = failing(all);
  t.is(allFailures['exactly_one_true_per_group_dim_sf_user_scd_is_current__user_id'], 2, JSON.stringify(allFailures));
  t.is(allFailures['assert_dim_sf_user_scd_integrity'], 4);
  t.is(allFailures['unique_combination_stg_sf_user_user_id__systemmodstamp'], undefined, 'staging has one row per version in both scopes');

  // The scoped staging rows are the staging view's rows of the touched users (its unique test
  // reads the staging logic over their raw rows): a repeat of uA's version in raw is deduped there too.
  await insertRawRows(file, [{ ...obs('uA', 3, 'Central'), _extracted_at: Date.now(), _extraction_run_id: 'r4' }]);
  const repeat = await dbt('touched', ['test', '--select', 'stg_sf_user', '--target', 'dev', '--vars', '{scd_extracted_at_lookback_minutes: 0}']);
  t.is(repeat.exitCode, 0, describeFailures(repeat));
  t.true(repeat.results.filter((r) => r.unique_id.startsWith('test.')).length >= 4);
});
