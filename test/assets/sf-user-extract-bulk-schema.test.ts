/**
 * sf_raw/sf_user over real HTTP against the simulator: the Bulk API 2.0 path and its REST fallback,
 * byte-exact text, quarantine, full-refresh tombstones and schema drift.
 */
import test, { type ExecutionContext } from 'ava';

import { startHarness, type Harness } from '../helpers/extract-harness.js';
import { tempDir } from '../helpers/temp.js';
import {
  addColumn,
  assertRawHoldsOrg,
  compose,
  maxStamp,
  orgStamps,
  rawContent,
  rawCount,
  rawVersions,
  setSource,
  stepError,
} from './fixtures/extract-helpers.js';

async function harness(t: ExecutionContext, opts: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const h = await startHarness(opts);
  t.teardown(() => h.close());
  return h;
}

const BULK = setSource('bulk_threshold', 1000);

// ---------------------------------------------------------------- bulk

test('bulk path: at or above bulk_threshold the load goes through Bulk API 2.0 and equals the org', async (t) => {
  const h = await harness(t, { editConfig: BULK });
  t.is(h.config.source.bulkThreshold, 1000);
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(metadata['path'], 'bulk');
  t.is(metadata['mode'], 'full');
  t.is(metadata['bulk_fallback_reason'], undefined);
  t.is(metadata['total_size'], 5000);
  t.is(metadata['versions_inserted'], 5000);
  t.is(metadata['api_calls'].bulkCreate, 1);
  t.true(metadata['api_calls'].bulkResults >= 1);
  t.is(metadata['api_calls'].queryMore ?? 0, 0, 'REST paging stops after the first page');
  t.is(h.sim.stats.callsByKind['bulkCreate'], 1);
  // The first REST page only tells the size: its records are not staged, Bulk returns them all.
  t.is(metadata['records_fetched'], 5000);
  t.is(metadata['duplicates_skipped'], 0);
  t.is(metadata['api_calls'].query, 1);
  await assertRawHoldsOrg(t, h, { exact: true });
});

test('bulk path with Salesforce-format datetimes in the CSV also loads exactly', async (t) => {
  const h = await harness(t, { editConfig: BULK, sim: { bulkDatetimeFormat: 'salesforce' } });
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(metadata['path'], 'bulk');
  t.is(metadata['quarantined'], 0);
  await assertRawHoldsOrg(t, h, { exact: true });
});

test('a failed Bulk job falls back to REST with the reason recorded; raw equals the org', async (t) => {
  const h = await harness(t, { editConfig: BULK });
  h.sim.faults.add({ on: 'bulkPoll', kind: 'bulkJobFailed' });
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(metadata['path'], 'rest');
  t.regex(String(metadata['bulk_fallback_reason']), /Bulk API 2\.0 job \w+ Failed: INTERNAL_ERROR/);
  t.is(h.sim.faults.fired.length, 1);
  t.is(h.sim.stats.callsByKind['bulkResults'] ?? 0, 0);
  t.is(h.sim.stats.callsByKind['query'], 2, 'the REST query is restarted');
  t.is(h.sim.stats.callsByKind['queryMore'], 2);
  t.is(metadata['versions_inserted'], 5000);
  await assertRawHoldsOrg(t, h, { exact: true });

  const control = await harness(t);
  t.is((await control.run()).result.status, 'SUCCESS');
  t.deepEqual(await rawContent(h), await rawContent(control), 'same raw rows as a REST load');
});

test('a Bulk job abandoned mid-read is aborted (PATCH state Aborted) before the REST fallback', async (t) => {
  const h = await harness(t, { editConfig: BULK });
  h.sim.faults.add({ on: 'bulkResults', kind: 'http', status: 400 });
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(metadata['path'], 'rest');
  const patches = h.sim.stats.requests.filter((r) => r.method === 'PATCH');
  t.is(patches.length, 1);
  t.regex(patches[0]!.path, /\/jobs\/query\/\w+$/);
  t.is(patches[0]!.status, 200);
  t.is(metadata['versions_inserted'], 5000);
});

test('a Bulk job create that times out is not retried (it may have made a job): REST instead', async (t) => {
  const h = await harness(t, { editConfig: compose(BULK, setSource('request_timeout', '1s')) });
  h.sim.faults.add({ on: 'bulkCreate', kind: 'slow', delayMs: 2500 });
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(metadata['path'], 'rest');
  t.regex(String(metadata['bulk_fallback_reason']), /REQUEST_TIMEOUT/);
  t.is(h.sim.stats.callsByKind['bulkCreate'], 1, 'one create only');
});

test('an incremental bulk load after a day picks up the changed users', async (t) => {
  const h = await harness(t, { editConfig: BULK });
  t.is((await h.run()).result.status, 'SUCCESS');
  const before = orgStamps(h);
  // Enough changes for the incremental query to reach the threshold.
  let n = 0;
  for (const id of before.keys()) {
    if (n++ >= 1200) break;
    h.sim.org.updateUser(id, { Division: `Bulk ${n % 7}` }, { at: new Date(h.sim.org.nowMs() + 60_000) });
  }
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(metadata['mode'], 'incremental');
  t.is(metadata['path'], 'bulk');
  t.is(metadata['versions_inserted'], 1200);
  t.is(await rawCount(h), 6200);
  await assertRawHoldsOrg(t, h);
});

// ---------------------------------------------------------------- byte-exact text

const NASTY = [
  'O\'Brien "Q" back\\slash 张伟 Анна محمد 🎉',
  'multi\nline\r\nname, with "comma"; and\ttab',
  '  leading and trailing spaces  ',
  '"',
  '""',
  '\\',
  '\'',
  'e\u0301 \u200f\u05e9\u05dc\u05d5\u05dd \u{1F468}\u200D\u{1F469}\u200D\u{1F467} 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ß ﬁ',
  '=SUM(A1:A2),"x"\n\r',
];

async function nastyRoundTrip(t: ExecutionContext, bulk: boolean): Promise<void> {
  const h = await harness(t, bulk ? { editConfig: BULK } : {});
  const ids = [...orgStamps(h).keys()].filter((_, i) => i % 401 === 0).slice(0, NASTY.length);
  t.is(ids.length, NASTY.length);
  ids.forEach((id, i) => h.sim.org.updateUser(id, { LastName: NASTY[i]!, FirstName: i % 2 ? 'Zoë' : null }));
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(metadata['path'], bulk ? 'bulk' : 'rest');
  t.is(metadata['quarantined'], 0);
  const rows = await h.query(
    `SELECT id, name, octet_length(encode(name)) AS bytes FROM sf_raw.sf_user WHERE id IN (${ids.map((id) => `'${id}'`).join(', ')})`,
  );
  t.is(rows.length, ids.length);
  for (const id of ids) {
    const want = String(h.sim.org.get(id)?.['Name']);
    const row = rows.find((r) => r['id'] === id);
    t.is(row?.['name'], want, `name of ${id}`);
    t.is(Number(row?.['bytes']), Buffer.byteLength(want, 'utf8'));
  }
  await assertRawHoldsOrg(t, h, { exact: true });
}

test('names with quotes, backslashes, newlines and non-Latin scripts round-trip byte for byte (REST)', (t) => nastyRoundTrip(t, false));
test('names with quotes, backslashes, newlines and non-Latin scripts round-trip byte for byte (Bulk CSV)', (t) => nastyRoundTrip(t, true));

// ---------------------------------------------------------------- quarantine

/** A datetime field whose stored value is not a datetime (written while it was a text field). */
function badTimestampOrg(h: Harness): { bad: string; good: string } {
  const ids = [...orgStamps(h).keys()];
  const bad = ids[4000]!;
  const good = ids[4001]!;
  h.sim.org.addField('Reviewed_At__c', 'string');
  h.sim.org.updateUser(bad, { Reviewed_At__c: 'not-a-date' });
  h.sim.org.updateUser(good, { Reviewed_At__c: '2025-04-30T10:00:00.000+0000' });
  h.sim.org.changeFieldType('Reviewed_At__c', 'datetime');
  return { bad, good };
}

test('a record with an unparseable timestamp is quarantined with its raw JSON, reason and run id; the rest load', async (t) => {
  const h = await harness(t, { editConfig: addColumn('Reviewed_At__c', 'timestamp') });
  const { bad, good } = badTimestampOrg(h);
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(metadata['quarantined'], 1);
  t.is(metadata['quarantine_rows_inserted'], 1);
  t.is(metadata['versions_inserted'], 4999);
  const q = await h.query('SELECT raw_json, reason, _extraction_run_id AS run, _extracted_at FROM sf_raw.sf_user_quarantine');
  t.is(q.length, 1);
  const json = JSON.parse(String(q[0]?.['raw_json'])) as Record<string, unknown>;
  t.is(json['Id'], bad);
  t.is(json['Reviewed_At__c'], 'not-a-date');
  t.is(json['Name'], h.sim.org.get(bad)?.['Name']);
  t.false('attributes' in json);
  t.is(q[0]?.['reason'], 'unparseable Reviewed_At__c: "not-a-date"');
  t.is(q[0]?.['run'], result.runId);
  t.truthy(q[0]?.['_extracted_at']);
  const [goodRow] = await h.query(`SELECT epoch_ms(reviewed_at__c) AS r FROM sf_raw.sf_user WHERE id = '${good}'`);
  t.is(Number(goodRow?.['r']), Date.parse('2025-04-30T10:00:00.000Z'));
  const [badRows] = await h.query(`SELECT count(*) AS n FROM sf_raw.sf_user WHERE id = '${bad}'`);
  t.is(Number(badRows?.['n']), 0);
  t.is(await rawCount(h), 4999);

  // Seen again by a full refresh: not quarantined twice.
  const again = await h.run({ fullRefresh: true });
  t.is(again.result.status, 'SUCCESS');
  t.is(again.metadata['quarantined'], 1);
  t.is(again.metadata['quarantine_rows_inserted'], 0);
  t.is((await h.query('SELECT * FROM sf_raw.sf_user_quarantine')).length, 1);
});

test('a loaded user whose new version is quarantined by a full refresh still exists: no tombstone', async (t) => {
  const h = await harness(t, { editConfig: addColumn('Reviewed_At__c', 'timestamp') });
  const ids = [...orgStamps(h).keys()];
  const victim = ids[10]!;
  h.sim.org.addField('Reviewed_At__c', 'string');
  h.sim.org.updateUser(victim, { Reviewed_At__c: '2025-04-30T10:00:00.000+0000' });
  h.sim.org.changeFieldType('Reviewed_At__c', 'datetime');
  t.is((await h.run()).metadata['quarantined'], 0);
  // The field's value goes bad (written while it was text): the user's new version cannot load.
  h.sim.org.changeFieldType('Reviewed_At__c', 'string');
  h.sim.org.updateUser(victim, { Reviewed_At__c: 'not-a-date' });
  h.sim.org.changeFieldType('Reviewed_At__c', 'datetime');
  const full = await h.run({ fullRefresh: true });
  t.is(full.result.status, 'SUCCESS', stepError(full));
  t.is(full.metadata['quarantined'], 1);
  t.is(full.metadata['tombstones'], 0, 'a record the refresh saw, even unloadable, is not deleted');
  const rows = await h.query(`SELECT count(*) AS n, count(*) FILTER (WHERE isdeleted) AS deleted FROM sf_raw.sf_user WHERE id = '${victim}'`);
  t.deepEqual([Number(rows[0]?.['n']), Number(rows[0]?.['deleted'])], [1, 0]);
});

test('quarantine through the Bulk CSV path', async (t) => {
  const h = await harness(t, { editConfig: compose(BULK, addColumn('Reviewed_At__c', 'timestamp')) });
  const { bad } = badTimestampOrg(h);
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(metadata['path'], 'bulk');
  t.is(metadata['versions_inserted'], 4999);
  const q = await h.query('SELECT raw_json, reason FROM sf_raw.sf_user_quarantine');
  t.is(q.length, 1, 'the bad record is not in the first REST page, so it is quarantined once');
  t.is((JSON.parse(String(q[0]?.['raw_json'])) as Record<string, unknown>)['Id'], bad);
  t.is(q[0]?.['reason'], 'unparseable Reviewed_At__c: "not-a-date"');
});

// ---------------------------------------------------------------- tombstones

test('full refresh tombstones a hard-deleted user at the server clock; a second full refresh adds nothing', async (t) => {
  const h = await harness(t);
  t.is((await h.run()).result.status, 'SUCCESS');
  const now = h.sim.org.nowMs();
  const [victim] = [...orgStamps(h)].find(([, sm]) => sm < now) ?? [];
  t.truthy(victim);
  const last = h.sim.org.get(victim!)!;
  t.true(h.sim.org.hardDelete(victim!));
  const wmBefore = await maxStamp(h);

  const full = await h.run({ fullRefresh: true });
  t.is(full.result.status, 'SUCCESS', stepError(full));
  t.is(full.metadata['mode'], 'full');
  t.is(full.metadata['tombstones'], 1);
  t.is(full.metadata['versions_inserted'], 0);
  t.is(full.metadata['duplicates_skipped'], 4999);
  const rows = (await rawVersions(h)).filter((r) => r.id === victim);
  t.is(rows.length, 2);
  const tomb = rows[1]!;
  t.is(tomb.isdeleted, true);
  t.is(tomb.systemmodstamp, now, 'stamped with the simulator clock');
  t.is(tomb.run, full.result.runId);
  t.is(tomb.name, last['Name'] as string, 'the tombstone copies the last version');
  t.is(rows[0]?.isdeleted, null);
  t.is(await maxStamp(h), now);
  t.is(full.metadata['watermark_after'], new Date(wmBefore!).toISOString(), 'tombstones do not move the watermark');

  const again = await h.run({ fullRefresh: true });
  t.is(again.result.status, 'SUCCESS');
  t.is(again.metadata['tombstones'], 0);
  t.is(again.metadata['versions_inserted'], 0);
  t.is(await rawCount(h), 5001);
  const incremental = await h.run();
  t.is(incremental.result.status, 'SUCCESS');
  t.is(incremental.metadata['versions_inserted'], 0);
  t.is(await rawCount(h), 5001);
});

test('a full refresh that returns no users is refused instead of tombstoning everything', async (t) => {
  const h = await harness(t, { sim: { users: 300 } });
  t.is((await h.run()).result.status, 'SUCCESS');
  for (const id of [...orgStamps(h).keys()]) h.sim.org.hardDelete(id);
  t.is(h.sim.org.count(), 0);
  const before = await rawContent(h);
  const { result } = await h.run({ fullRefresh: true });
  t.is(result.status, 'FAILURE');
  t.is(result.steps[0]?.attempts, 1, 'not retried');
  t.regex(stepError({ result }), /returned no User records while raw holds 300; refusing to tombstone/);
  t.deepEqual(await rawContent(h), before);
});

// ---------------------------------------------------------------- schema

test('a configured column the org lacks (IsDeleted) is reported missing and stays null', async (t) => {
  const h = await harness(t);
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS');
  t.deepEqual(metadata['missing_fields'], ['IsDeleted']);
  const [r] = await h.query('SELECT count(*) AS n, count(isdeleted) AS nonnull FROM sf_raw.sf_user');
  t.is(Number(r?.['n']), 5000);
  t.is(Number(r?.['nonnull']), 0);
});

test('a configured field the integration user cannot see fails the run naming it and the fix; optional: true lets it be null', async (t) => {
  const h = await harness(t, { editConfig: addColumn('Cost_Center__c', 'string') });
  const { result } = await h.run();
  t.is(result.status, 'FAILURE');
  t.is(result.steps[0]?.attempts, 1, 'not retried');
  t.regex(stepError({ result }), /User has no field Cost_Center__c visible to the integration user \(not in its describe\)\. Fix: grant the integration user read access to Cost_Center__c, correct the name in source\.columns, or mark the column optional: true there/);

  const lenient = await harness(t, { editConfig: addColumn('Cost_Center__c', 'string, optional: true') });
  const ok = await lenient.run();
  t.is(ok.result.status, 'SUCCESS', stepError(ok));
  t.deepEqual(ok.metadata['missing_fields'], ['IsDeleted', 'Cost_Center__c']);
});

test('a new configured column (Department) is added to raw on the next run over the same state dir, keeping every row', async (t) => {
  const stateDir = tempDir('sfpipe-extract-schema-');
  const h1 = await startHarness({ stateDir });
  try {
    t.is((await h1.run()).result.status, 'SUCCESS');
  } finally {
    await h1.close();
  }
  const h2 = await harness(t, { stateDir, editConfig: addColumn('Department', 'string') });
  h2.sim.org.addField('Department', 'string');
  const ids = [...orgStamps(h2).keys()].slice(10, 13);
  for (const id of ids) h2.sim.org.updateUser(id, { Department: `Dept ${id.slice(-3)}` });
  const { result, metadata } = await h2.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(metadata['mode'], 'incremental');
  t.deepEqual(metadata['columns_added'], ['department']);
  t.deepEqual(metadata['missing_fields'], ['IsDeleted']);
  t.is(metadata['versions_inserted'], 3);
  const [c] = await h2.query('SELECT count(*) AS n, count(DISTINCT id) AS ids, count(department) AS dept FROM sf_raw.sf_user');
  t.is(Number(c?.['n']), 5003);
  t.is(Number(c?.['ids']), 5000);
  t.is(Number(c?.['dept']), 3);
  for (const id of ids) {
    const [row] = await h2.query(`SELECT department FROM sf_raw.sf_user WHERE id = '${id}' ORDER BY systemmodstamp DESC LIMIT 1`);
    t.is(row?.['department'], `Dept ${id.slice(-3)}`);
  }
  await assertRawHoldsOrg(t, h2);
});

test('a field whose Salesforce type changed fails the run with an error naming the field; raw unchanged', async (t) => {
  const h = await harness(t);
  t.is((await h.run()).result.status, 'SUCCESS');
  const before = await rawContent(h);
  h.sim.org.changeFieldType('Division', 'boolean');
  const { result } = await h.run();
  t.is(result.status, 'FAILURE');
  const err = stepError({ result });
  t.regex(err, /User\.Division is a Salesforce boolean \(boolean\) but the config says string/);
  t.deepEqual(await rawContent(h), before);
});
