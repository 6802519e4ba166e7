import type { Metadata } from '../../runtime/definitions.js';

/**
 * What a run's `dbt build` tests.
 *
 * Data tests (SFPIPE_DBT_TEST_SCOPE in dbt's environment, macro scd_test_scope_users): 'touched' on an
 * incremental run, the users it could have recomputed; 'all' on a full refresh and on the
 * periodic full test, so a row changed outside the pipeline is found within `everyMs`.
 *
 * Unit tests check the models' SQL against fixed inputs, so their verdict depends on the
 * project's code and dbt, not on the data: they run when that code changed since they last
 * passed, and on every full refresh and full test.
 */
export type DbtTestScope = 'all' | 'touched';

/** Metadata key: when every row of the model last passed its error-severity tests (ISO time). */
export const FULL_TEST_AT = 'dbt_tests_full_at';
/** Metadata key: the project checksum the model's unit tests last passed on. */
export const UNIT_TESTS_PASSED_FOR = 'dbt_unit_tests_passed_for';

export interface TestPlan {
  scope: DbtTestScope;
  unitTests: boolean;
  /** Why, for the log line. */
  reason: string;
  /**
   * Metadata each model's materialization carries. A full test with an error-severity failure
   * keeps the earlier time, so the next run tests every row again until they pass (warnings do
   * not hold it open); failed unit tests keep the earlier checksum, so they run again.
   */
  metadata(previous: Metadata | null, failed: { errorTest: boolean; unitTest: boolean }): Metadata;
}

export function planDbtTests(opts: {
  fullRefresh: boolean;
  /** The selected models' last materialization metadata (null: never materialized). */
  previous: ReadonlyArray<Metadata | null>;
  everyMs: number;
  now: Date;
  /** Checksum of the dbt project's code and dbt's version (dbtProjectChecksum). */
  codeChecksum: string;
  /** dbt.unit_tests: false never runs them. */
  unitTestsEnabled: boolean;
}): TestPlan {
  const nowIso = opts.now.toISOString();
  const fullReason = fullTestReason(opts);
  const scope: DbtTestScope = fullReason ? 'all' : 'touched';
  const unitTestsStale = opts.previous.some((m) => m?.[UNIT_TESTS_PASSED_FOR] !== opts.codeChecksum);
  const unitTests = opts.unitTestsEnabled && (scope === 'all' || unitTestsStale);
  const unitNote = !opts.unitTestsEnabled
    ? ''
    : unitTests
      ? scope === 'all' ? '' : '; unit tests: the project changed since they last passed'
      : '; unit tests: passed on this project code before';
  const lastFull = oldestFullTest(opts.previous);
  const reason =
    (fullReason ?? `incremental run: the data tests read the users it touched (every row last tested ${new Date(lastFull!).toISOString()})`) + unitNote;
  return {
    scope,
    unitTests,
    reason,
    metadata: (previous, failed) => ({
      dbt_tests: scope === 'all' ? 'all rows' : 'touched users',
      ...(scope === 'all' && !failed.errorTest ? { [FULL_TEST_AT]: nowIso } : carried(previous, FULL_TEST_AT)),
      ...(unitTests && !failed.unitTest ? { [UNIT_TESTS_PASSED_FOR]: opts.codeChecksum } : carried(previous, UNIT_TESTS_PASSED_FOR)),
    }),
  };
}

function fullTestReason(opts: { fullRefresh: boolean; previous: ReadonlyArray<Metadata | null>; everyMs: number; now: Date }): string | null {
  if (opts.fullRefresh) return 'a full refresh tests every row';
  if (opts.everyMs <= 0) return 'dbt.full_test_every is 0: every run tests every row';
  const oldest = oldestFullTest(opts.previous);
  if (oldest == null) return 'no full test of these models is on record';
  if (opts.now.getTime() - oldest >= opts.everyMs) return `every row was last tested ${new Date(oldest).toISOString()}, dbt.full_test_every ago or more`;
  return null;
}

/** The oldest last-full-test time of the models, or null when one has none. */
function oldestFullTest(previous: ReadonlyArray<Metadata | null>): number | null {
  let oldest = Infinity;
  for (const m of previous) {
    const at = m?.[FULL_TEST_AT];
    const t = typeof at === 'string' ? Date.parse(at) : NaN;
    if (!Number.isFinite(t)) return null;
    oldest = Math.min(oldest, t);
  }
  return Number.isFinite(oldest) ? oldest : null;
}

function carried(previous: Metadata | null, key: string): Metadata {
  const v = previous?.[key];
  return typeof v === 'string' ? { [key]: v } : {};
}
