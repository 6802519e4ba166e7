import test from 'ava';
import type { FreshnessPolicy } from '../../runtime/definitions.js';
import { effectiveUpdateTime, evaluateAssetFreshness, evaluateFreshness, lastCompletedTick } from '../../runtime/freshness.js';

const H = 3_600_000;
const at = (iso: string) => new Date(iso);
const windowPolicy: FreshnessPolicy = { kind: 'time_window', warnAfterMs: 26 * H, failAfterMs: 50 * H };

test('time_window: PASS, WARN after warn, FAIL after fail, UNKNOWN when never materialized', (t) => {
  const last = at('2025-05-01T00:00:00Z');
  const state = (now: string) => evaluateFreshness(windowPolicy, last, at(now)).state;
  t.is(state('2025-05-01T12:00:00Z'), 'PASS');
  t.is(state('2025-05-02T02:00:00Z'), 'PASS', 'exactly 26 h is not yet late');
  t.is(state('2025-05-02T02:00:01Z'), 'WARN');
  t.is(state('2025-05-03T02:00:00Z'), 'WARN');
  t.is(state('2025-05-03T02:00:01Z'), 'FAIL');
  t.is(evaluateFreshness(windowPolicy, null, at('2025-05-01T00:00:00Z')).state, 'UNKNOWN');
  t.is(evaluateFreshness(undefined, last, at('2025-06-01T00:00:00Z')).state, 'NOT_APPLICABLE');
  const noWarn: FreshnessPolicy = { kind: 'time_window', failAfterMs: 2 * H };
  t.is(evaluateFreshness(noWarn, last, at('2025-05-01T01:59:00Z')).state, 'PASS');
  t.is(evaluateFreshness(noWarn, last, at('2025-05-01T02:01:00Z')).state, 'FAIL');
  const fail = evaluateFreshness(windowPolicy, last, at('2025-05-04T00:00:00Z'));
  t.is(fail.lagMs, 72 * H);
  t.is(fail.deadline, '2025-05-03T02:00:00.000Z');
  t.regex(fail.reason, /last update 3d ago, more than 2d2h/);
});

test('cron: at 08:59 a 0 9 * * * deadline still judges yesterday\'s tick; from 09:00 today\'s', (t) => {
  const policy: FreshnessPolicy = { kind: 'cron', deadlineCron: '0 9 * * *', lowerBoundDeltaMs: 1 * H };
  const last = at('2025-05-01T08:30:00Z'); // before yesterday's tick, inside its 1 h window
  t.is(lastCompletedTick('0 9 * * *', at('2025-05-02T08:59:00Z')).toISOString(), '2025-05-01T09:00:00.000Z');
  t.is(evaluateFreshness(policy, last, at('2025-05-02T08:59:00Z')).state, 'PASS');
  t.is(lastCompletedTick('0 9 * * *', at('2025-05-02T09:00:00Z')).toISOString(), '2025-05-02T09:00:00.000Z');
  const late = evaluateFreshness(policy, last, at('2025-05-02T09:00:00Z'));
  t.is(late.state, 'FAIL');
  t.regex(late.reason, /not updated since 2025-05-02T08:00:00.000Z/);
  t.is(evaluateFreshness(policy, at('2025-05-02T08:00:00Z'), at('2025-05-02T09:00:00Z')).state, 'PASS', 'the lower bound is inclusive');
  t.is(evaluateFreshness(policy, null, at('2025-05-02T09:00:00Z')).state, 'UNKNOWN');
});

test('cron in a timezone other than UTC: 09:00 in Europe/Berlin is 07:00 UTC in summer', (t) => {
  const policy: FreshnessPolicy = { kind: 'cron', deadlineCron: '0 9 * * *', lowerBoundDeltaMs: 0, timezone: 'Europe/Berlin' };
  t.is(lastCompletedTick('0 9 * * *', at('2025-07-02T06:59:00Z'), 'Europe/Berlin').toISOString(), '2025-07-01T07:00:00.000Z');
  t.is(lastCompletedTick('0 9 * * *', at('2025-07-02T07:00:00Z'), 'Europe/Berlin').toISOString(), '2025-07-02T07:00:00.000Z');
  const last = at('2025-07-02T06:30:00Z');
  t.is(evaluateFreshness(policy, last, at('2025-07-02T06:59:00Z')).state, 'PASS');
  t.is(evaluateFreshness(policy, last, at('2025-07-02T07:00:00Z')).state, 'FAIL', 'in UTC this would still pass until 09:00');
  // Winter: 09:00 in Berlin is 08:00 UTC.
  t.is(lastCompletedTick('0 9 * * *', at('2025-01-15T08:30:00Z'), 'Europe/Berlin').toISOString(), '2025-01-15T08:00:00.000Z');
});

test('data time: a run that fetched nothing new for days goes stale by its data', (t) => {
  const policy: FreshnessPolicy = { ...windowPolicy, dataTime: { metadataKey: 'watermark_after', sourceTimeKey: 'source_time' } } as FreshnessPolicy;
  const fresh = { timestamp: '2025-05-10T00:00:00.000Z', metadata: { watermark_after: '2025-05-09T23:50:00.000Z', source_time: '2025-05-10T00:00:00.000Z' } };
  const stalled = { timestamp: '2025-05-10T00:00:00.000Z', metadata: { watermark_after: '2025-05-07T00:00:00.000Z', source_time: '2025-05-10T00:00:00.000Z' } };
  const now = at('2025-05-10T01:00:00Z');
  t.is(evaluateAssetFreshness(policy, fresh, now).state, 'PASS');
  const ev = evaluateAssetFreshness(policy, stalled, now);
  t.is(ev.state, 'FAIL');
  t.is(ev.lagMs, 73 * H);
  t.regex(ev.reason, /by data time \(newest data trails the source by 3d at the last run\)/);
  t.is(evaluateAssetFreshness(windowPolicy, stalled, now).state, 'PASS', 'run time alone would pass');
  t.deepEqual(effectiveUpdateTime(policy, { timestamp: fresh.timestamp, metadata: {} }), { time: at(fresh.timestamp), basis: 'run' });
});
