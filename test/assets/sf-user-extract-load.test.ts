/**
 * sf_raw/sf_user over real HTTP against the simulator: the first full load, incremental runs,
 * the lookback and late-committed changes.
 */
import test, { type ExecutionContext } from 'ava';

import { startHarness, type Harness } from '../helpers/extract-harness.js';
import {
  assertRawHoldsOrg,
  maxStamp,
  orgStamps,
  rawCount,
  rawVersions,
} from './fixtures/extract-helpers.js';

const HOUR = 3_600_000;

test('a first full load of 5,000 users: one row per user, mode full, 3 query calls + auth + describe', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  h.sim.resetStats();
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', result.steps[0]?.error ?? '');
  t.is(metadata['mode'], 'full');
  t.is(metadata['path'], 'rest');
  t.is(metadata['total_size'], 5000);
  t.is(metadata['records_fetched'], 5000);
  t.is(metadata['versions_inserted'], 5000);
  t.is(metadata['duplicates_skipped'], 0);
  t.is(metadata['quarantined'], 0);
  t.is(metadata['tombstones'], 0);
  t.is(metadata['watermark_before'], null);
  t.deepEqual(metadata['missing_fields'], ['IsDeleted']);
  t.deepEqual(metadata['api_calls'], { auth: 1, describe: 1, query: 1, queryMore: 2 });
  t.is(metadata['api_calls_total'], 5);

  // The server saw the same: one token, one describe, ceil(5000/2000) = 3 query pages.
  t.is(h.sim.stats.callsByKind['token'], 1);
  t.is(h.sim.stats.callsByKind['describe'], 1);
  t.is(h.sim.stats.callsByKind['query'], 1);
  t.is(h.sim.stats.callsByKind['queryMore'], 2);
  t.is(h.sim.stats.apiCalls, 4, 'auth is not an API call; describe + 3 query pages are');
  t.is(metadata['api_usage']?.used, 4);

  const [counts] = await h.query('SELECT count(*) AS n, count(DISTINCT id) AS ids FROM sf_raw.sf_user');
  t.is(Number(counts?.['n']), 5000);
  t.is(Number(counts?.['ids']), 5000);
  const raw = await assertRawHoldsOrg(t, h, { exact: true });
  t.true(raw.every((r) => r.run === result.runId), 'every row carries the run id');
  const newest = Math.max(...[...orgStamps(h).values()]);
  t.is(new Date(newest).toISOString(), metadata['watermark_after']);
  t.is(await maxStamp(h), newest);
});

test('an incremental run after a simulated day picks up exactly the users whose SystemModstamp moved', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const first = await h.run();
  t.is(first.result.status, 'SUCCESS');
  const wm1 = Date.parse(first.metadata['watermark_after']);

  const before = orgStamps(h);
  const day = h.sim.org.advanceDay();
  const after = orgStamps(h);
  const moved = [...after].filter(([id, sm]) => before.get(id) !== sm).map(([id]) => id).sort();
  t.true(moved.length > 50, `a day changes many users (${moved.length})`);
  t.deepEqual(moved, [...new Set([...day.changed, ...day.created])].sort(), 'the simulator agrees on what changed');
  t.true(day.lateCommitted.length > 0 && day.lateCommitted.every((l) => before.get(l.id) === after.get(l.id)), 'the late change is not visible yet');

  const second = await h.run();
  t.is(second.result.status, 'SUCCESS', second.result.steps[0]?.error ?? '');
  const m = second.metadata;
  t.is(m['mode'], 'incremental');
  t.is(m['watermark_before'], first.metadata['watermark_after']);
  const since = wm1 - HOUR;
  const reread = [...after].filter(([id, sm]) => before.get(id) === sm && sm >= since).length;

  const raw = await rawVersions(h);
  const newIds = raw.filter((r) => r.run === second.result.runId).map((r) => r.id).sort();
  t.deepEqual(newIds, moved, 'the new versions are exactly the moved users, one each');
  t.is(m['versions_inserted'], moved.length);
  t.is(m['duplicates_skipped'], reread, 'unchanged users inside the lookback are re-read and skipped');
  t.is(m['records_fetched'], moved.length + reread);
  t.is(raw.length, 5000 + moved.length);
  await assertRawHoldsOrg(t, h);
  t.is(m['watermark_after'], new Date(Math.max(...after.values())).toISOString());
});

test('the lookback re-reads the last hour without duplicating it; a run with no changes costs at most 3 API calls and inserts nothing', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  t.is((await h.run()).result.status, 'SUCCESS');
  h.sim.org.advanceDay();
  t.is((await h.run()).result.status, 'SUCCESS');
  const rowsBefore = await rawCount(h);
  const wm = await maxStamp(h);
  const [inLookback] = await h.query(
    `SELECT count(*) AS n FROM sf_raw.sf_user WHERE epoch_ms(systemmodstamp) >= ${wm! - HOUR}`,
  );
  const expectedDupes = Number(inLookback?.['n']);
  t.true(expectedDupes > 0, 'a day of changes leaves versions within the last hour');

  h.sim.resetStats();
  const idle = await h.run();
  t.is(idle.result.status, 'SUCCESS');
  const m = idle.metadata;
  t.is(m['mode'], 'incremental');
  t.is(m['versions_inserted'], 0);
  t.is(m['records_fetched'], expectedDupes);
  t.is(m['duplicates_skipped'], expectedDupes);
  t.true(m['api_calls_total'] <= 3, `api calls: ${JSON.stringify(m['api_calls'])}`);
  t.deepEqual(m['api_calls'], { auth: 1, describe: 1, query: 1 });
  t.is(h.sim.stats.apiCalls, 2);
  t.is(m['watermark_after'], m['watermark_before']);
  t.is(await rawCount(h), rowsBefore);
  const [dups] = await h.query('SELECT count(*) AS n FROM (SELECT id, systemmodstamp FROM sf_raw.sf_user GROUP BY ALL HAVING count(*) > 1)');
  t.is(Number(dups?.['n']), 0);
});

test('a late-committed change behind the watermark is caught by the lookback once it becomes visible', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  t.is((await h.run()).result.status, 'SUCCESS');
  const day1 = h.sim.org.advanceDay();
  const late = day1.lateCommitted[0]!;
  t.truthy(late, 'day 1 stages a late commit');
  t.true(h.sim.org.pendingChanges().some((p) => p.id === late.id));
  const r2 = await h.run();
  t.is(r2.result.status, 'SUCCESS');
  const wm2 = Date.parse(r2.metadata['watermark_after']);
  const lateStamp = Date.parse(late.systemModstamp);
  t.true(lateStamp < wm2, 'the late change is stamped behind the watermark of the run before it became visible');
  t.true(wm2 - lateStamp < HOUR, 'but inside the one-hour lookback');
  t.false((await rawVersions(h)).some((r) => r.id === late.id && r.systemmodstamp === lateStamp), 'not in raw before it is visible');

  const day2 = h.sim.org.advanceDay();
  t.true(day2.becameVisible.includes(late.id), 'it becomes visible during day 2');
  t.true(Date.parse(late.visibleAt) <= h.sim.org.nowMs());
  const r3 = await h.run();
  t.is(r3.result.status, 'SUCCESS');
  const row = (await rawVersions(h)).find((r) => r.id === late.id && r.systemmodstamp === lateStamp);
  t.truthy(row, 'the late version is in raw');
  t.is(row?.run, r3.result.runId);
  t.is(row?.division, h.sim.org.get(late.id)?.['Division'] as string);
  await assertRawHoldsOrg(t, h);
});

test('commitLate: a change stamped inside the lookback is caught; one stamped before it is missed by incremental runs but caught by a full refresh', async (t) => {
  const { h, wm, quiet } = await loadedTwoDays(t);
  // Two users last modified long before the watermark.
  const [a, b] = quiet;
  t.truthy(a && b);
  const inside = new Date(wm - 20 * 60_000);
  const outside = new Date(wm - 2 * HOUR);
  h.sim.org.commitLate(a!, { Division: 'Late Inside' }, inside);
  h.sim.org.commitLate(b!, { Division: 'Late Outside' }, outside);

  const r3 = await h.run();
  t.is(r3.result.status, 'SUCCESS');
  t.is(r3.metadata['versions_inserted'], 1);
  let raw = await rawVersions(h);
  t.true(raw.some((r) => r.id === a && r.systemmodstamp === inside.getTime() && r.division === 'Late Inside'));
  t.false(raw.some((r) => r.id === b && r.division === 'Late Outside'), 'a change older than the lookback is not seen incrementally');

  const full = await h.run({ fullRefresh: true });
  t.is(full.result.status, 'SUCCESS');
  t.is(full.metadata['mode'], 'full');
  t.is(full.metadata['versions_inserted'], 1);
  t.is(full.metadata['tombstones'], 0);
  raw = await rawVersions(h);
  t.true(raw.some((r) => r.id === b && r.systemmodstamp === outside.getTime() && r.division === 'Late Outside'));
  await assertRawHoldsOrg(t, h);
});

test('two changes within one SystemModstamp second: the run that sees the second takes its values in place; a rerun changes nothing', async (t) => {
  const { h, wm, quiet } = await loadedTwoDays(t);
  // A user changed inside the lookback, then changed again in the same second after r3 read it.
  const [id] = quiet;
  const second = new Date(wm - 10 * 60_000);
  h.sim.org.commitLate(id!, { Division: 'First' }, second);
  const r3 = await h.run();
  t.is(r3.metadata['versions_inserted'], 1);
  h.sim.org.commitLate(id!, { Division: 'Second' }, second);
  const r4 = await h.run();
  t.is(r4.result.status, 'SUCCESS');
  t.like(r4.metadata, { versions_inserted: 0, versions_rewritten: 1 });
  const atSecond = (await rawVersions(h)).filter((r) => r.id === id && r.systemmodstamp === second.getTime());
  t.is(atSecond.length, 1, 'still one version per (id, systemmodstamp)');
  t.is(atSecond[0]!.division, 'Second', 'the later observation wins');
  t.is(atSecond[0]!.run, r4.result.runId, 'stamped with the run that saw it, so dbt reprocesses the user');
  t.like((await h.run()).metadata, { versions_inserted: 0, versions_rewritten: 0 });
  await assertRawHoldsOrg(t, h);
});

test('a record back after its tombstone with a late change is live again at the next incremental run, not the next full refresh', async (t) => {
  const { h, wm, quiet } = await loadedTwoDays(t);
  const [id] = quiet;
  t.true(h.sim.org.hide(id!));
  const full = await h.run({ fullRefresh: true });
  t.like(full.metadata, { tombstones: 1, revived: 0 });
  // Visible again with a change committed late: stamped inside the lookback, before the tombstone.
  t.true(h.sim.org.reveal(id!));
  const stamp = new Date(wm - 20 * 60_000);
  h.sim.org.commitLate(id!, { Division: 'Back, changed late' }, stamp);
  h.sim.org.setClock(new Date(h.sim.org.now().getTime() + 5 * 60_000)); // the next run, minutes later
  const r = await h.run();
  t.is(r.result.status, 'SUCCESS');
  t.like(r.metadata, { mode: 'incremental', versions_inserted: 1, revived: 1 });
  const mine = (await rawVersions(h)).filter((v) => v.id === id).sort((a, b) => a.systemmodstamp - b.systemmodstamp);
  const latest = mine.at(-1)!;
  t.like(latest, { division: 'Back, changed late', isdeleted: null, run: r.result.runId }, "raw's latest row is the record as Salesforce shows it, not its tombstone");
  t.true(latest.systemmodstamp > mine.find((v) => v.isdeleted === true)!.systemmodstamp, 'stamped after the tombstone');
  t.like((await h.run()).metadata, { versions_inserted: 0, revived: 0 }, 'a rerun adds nothing');
  await assertRawHoldsOrg(t, h);
});

/** A harness after a full load and one simulated day; `quiet`: users unchanged for 3 h before the watermark. */
async function loadedTwoDays(t: ExecutionContext): Promise<{ h: Harness; wm: number; quiet: string[] }> {
  const h = await startHarness();
  t.teardown(() => h.close());
  t.is((await h.run()).result.status, 'SUCCESS');
  h.sim.org.advanceDay();
  const r2 = await h.run();
  const wm = Date.parse(r2.metadata['watermark_after']);
  const quiet = [...orgStamps(h)].filter(([, sm]) => sm < wm - 3 * HOUR).map(([k]) => k);
  return { h, wm, quiet };
}
