import test from 'ava';
import { FULL_TEST_AT, planDbtTests, UNIT_TESTS_PASSED_FOR } from '../../assets/dbt/test-scope.js';

const DAY = 86_400_000;
const now = new Date('2026-03-10T00:00:00.000Z');
const base = { fullRefresh: false, everyMs: 7 * DAY, now, codeChecksum: 'c1', unitTestsEnabled: true };
const tested = (daysAgo: number, checksum = 'c1') => ({ [FULL_TEST_AT]: new Date(now.getTime() - daysAgo * DAY).toISOString(), [UNIT_TESTS_PASSED_FOR]: checksum });
const ok = { errorTest: false, unitTest: false };

test('an incremental run tests the touched users and skips unit tests that passed on this code', (t) => {
  const plan = planDbtTests({ ...base, previous: [tested(1), tested(2)] });
  t.like(plan, { scope: 'touched', unitTests: false });
  t.regex(plan.reason, /every row last tested 2026-03-08/);
  // It carries the last full test and unit test pass forward.
  t.deepEqual(plan.metadata(tested(1), ok), { dbt_tests: 'touched users', ...tested(1) });
});

test('every row is tested on a full refresh, with no full test on record, or when the last is full_test_every old', (t) => {
  for (const [why, opts] of [
    ['full refresh', { ...base, fullRefresh: true, previous: [tested(1)] }],
    ['never tested', { ...base, previous: [null] }],
    ['one model never tested in full', { ...base, previous: [tested(1), {}] }],
    ['a week old', { ...base, previous: [tested(1), tested(7)] }],
    ['full_test_every 0', { ...base, everyMs: 0, previous: [tested(0)] }],
  ] as const) {
    const plan = planDbtTests(opts);
    t.like(plan, { scope: 'all', unitTests: true }, why);
    t.deepEqual(plan.metadata(tested(3), ok), { dbt_tests: 'all rows', [FULL_TEST_AT]: now.toISOString(), [UNIT_TESTS_PASSED_FOR]: 'c1' }, why);
  }
  t.like(planDbtTests({ ...base, previous: [tested(6.9)] }), { scope: 'touched' });
});

test('a failed error-severity test or unit test keeps the earlier record, so the next run tests again', (t) => {
  const plan = planDbtTests({ ...base, previous: [tested(8, 'old')] });
  t.like(plan, { scope: 'all', unitTests: true });
  t.deepEqual(plan.metadata(tested(8, 'old'), { errorTest: true, unitTest: true }), { dbt_tests: 'all rows', ...tested(8, 'old') });
  // Warnings do not count as failed (the caller passes errorTest: false): the full test is recorded.
  t.is(plan.metadata(tested(8, 'old'), ok)[FULL_TEST_AT], now.toISOString());
});

test('unit tests run when the project changed since they passed, and never when disabled', (t) => {
  const changed = planDbtTests({ ...base, codeChecksum: 'c2', previous: [tested(1, 'c1')] });
  t.like(changed, { scope: 'touched', unitTests: true });
  t.regex(changed.reason, /unit tests: the project changed since they last passed/);
  t.is(changed.metadata(tested(1, 'c1'), ok)[UNIT_TESTS_PASSED_FOR], 'c2');
  t.like(planDbtTests({ ...base, unitTestsEnabled: false, fullRefresh: true, previous: [null] }), { scope: 'all', unitTests: false });
});
