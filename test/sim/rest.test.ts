import test from 'ava';
import jsforce from 'jsforce';
import { startSimulator, type Simulator } from '../../sim/index.js';
import { api, q, tokenFor, V, type QueryPage } from './helpers.js';

let sim: Simulator;
let token: string;
test.before(async () => {
  sim = await startSimulator({ users: 5000 });
  token = await tokenFor(sim);
});
test.after.always(async () => {
  await sim.close();
});

const conn = (): jsforce.Connection => new jsforce.Connection({ instanceUrl: sim.url, accessToken: token, version: V });

test('versions list and version gating', async (t) => {
  const res = await fetch(`${sim.url}/services/data/`);
  const versions = (await res.json()) as Array<{ version: string; url: string }>;
  t.is(versions.at(-1)!.version, '62.0');
  t.is(versions.at(-1)!.url, '/services/data/v62.0');
  t.is((await api(sim, token, '/services/data/v63.0/limits')).status, 404);
  t.is((await api(sim, token, '/services/data/v58.0/limits')).status, 200);
});

test('describe: User fields, custom flag, no IsDeleted', async (t) => {
  const d = await conn().sobject('User').describe();
  const names = d.fields.map((f) => f.name);
  for (const f of ['Id', 'Username', 'Name', 'FirstName', 'LastName', 'Email', 'Division', 'Audit_Phase__c', 'IsActive', 'LastModifiedDate', 'SystemModstamp', 'CreatedDate']) {
    t.true(names.includes(f), f);
  }
  t.false(names.includes('IsDeleted'));
  const phase = d.fields.find((f) => f.name === 'Audit_Phase__c')!;
  t.true(phase.custom);
  t.is(phase.type, 'picklist');
  t.is(d.fields.find((f) => f.name === 'SystemModstamp')!.type, 'datetime');
  t.is(d.fields.find((f) => f.name === 'IsActive')!.type, 'boolean');
  t.is(d.fields.find((f) => f.name === 'Id')!.type, 'id');
  t.false(d.fields.find((f) => f.name === 'Id')!.nillable);
  t.is(d.fields.find((f) => f.name === 'ProfileId')!.type, 'reference');
});

test('describe reflects schema evolution', async (t) => {
  const s = await startSimulator({ users: 10 });
  try {
    const tok = await tokenFor(s);
    s.org.addField('Cost_Center__c', 'string');
    s.org.changeFieldType('Division', 'picklist');
    const d = (await (await api(s, tok, '/sobjects/User/describe')).json()) as { fields: Array<{ name: string; type: string; custom: boolean }> };
    t.like(d.fields.find((f) => f.name === 'Cost_Center__c'), { type: 'string', custom: true });
    t.is(d.fields.find((f) => f.name === 'Division')!.type, 'picklist');
    const page = (await (await api(s, tok, q('SELECT Id, Cost_Center__c FROM User LIMIT 1'))).json()) as QueryPage;
    t.is(page.records[0]!.Cost_Center__c, null);
  } finally {
    await s.close();
  }
});

test('query paging: 5000 users → 3 pages via nextRecordsUrl', async (t) => {
  const first = (await (await api(sim, token, q('SELECT Id, Name, SystemModstamp FROM User'))).json()) as QueryPage;
  t.is(first.totalSize, 5000);
  t.false(first.done);
  t.is(first.records.length, 2000);
  t.regex(first.nextRecordsUrl!, /^\/services\/data\/v62\.0\/query\/01g[A-Za-z0-9]{15}-2000$/);
  t.deepEqual(first.records[0]!.attributes, { type: 'User', url: `/services/data/v62.0/sobjects/User/${String(first.records[0]!.Id)}` });
  t.regex(first.records[0]!.SystemModstamp as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$/);
  const second = (await (await api(sim, token, first.nextRecordsUrl!)).json()) as QueryPage;
  t.is(second.records.length, 2000);
  t.truthy(second.nextRecordsUrl);
  const third = (await (await api(sim, token, second.nextRecordsUrl!)).json()) as QueryPage;
  t.is(third.records.length, 1000);
  t.true(third.done);
  t.is(third.nextRecordsUrl, undefined);
  const ids = new Set([...first.records, ...second.records, ...third.records].map((r) => r.Id));
  t.is(ids.size, 5000);
  const bad = await api(sim, token, '/query/01gXXXXXXXXXXXXXXX-2000');
  t.is(bad.status, 400);
  t.is(((await bad.json()) as Array<{ errorCode: string }>)[0]!.errorCode, 'INVALID_QUERY_LOCATOR');
});

test('jsforce autoFetch follows the pages; queryAll (scanAll) works', async (t) => {
  const res = await conn().query('SELECT Id FROM User', { autoFetch: true, maxFetch: 10_000 });
  t.is(res.records.length, 5000);
  const all = await conn().query('SELECT Id FROM User', { scanAll: true, autoFetch: false });
  t.is(all.totalSize, 5000);
  t.true(sim.stats.requests.some((r) => r.path.startsWith('/services/data/v62.0/queryAll?')));
});

test('Sforce-Query-Options batchSize', async (t) => {
  const res = await api(sim, token, q('SELECT Id FROM User'), { headers: { 'Sforce-Query-Options': 'batchSize=500' } });
  const page = (await res.json()) as QueryPage;
  t.is(page.records.length, 500);
  t.true(page.nextRecordsUrl!.endsWith('-500'));
  const next = (await (await api(sim, token, page.nextRecordsUrl!)).json()) as QueryPage;
  t.is(next.records.length, 500, 'the cursor keeps its batch size');
  const tiny = (await (await api(sim, token, q('SELECT Id FROM User'), { headers: { 'Sforce-Query-Options': 'batchSize=10' } })).json()) as QueryPage;
  t.is(tiny.records.length, 200, 'clamped to the minimum of 200');
});

test('paging is a consistent snapshot taken when the query starts', async (t) => {
  const s = await startSimulator({ users: 2500, seed: 3 });
  try {
    const tok = await tokenFor(s);
    const first = (await (await api(s, tok, q('SELECT Id, Division FROM User'))).json()) as QueryPage;
    const lastId = [...s.org.all()].at(-1)!.Id as string;
    s.org.updateUser(lastId, { Division: 'Changed-After-Start' });
    s.org.createUser({ LastName: 'Late' });
    const second = (await (await api(s, tok, first.nextRecordsUrl!)).json()) as QueryPage;
    t.is(first.totalSize, 2500);
    t.is(second.records.length, 500);
    t.not(second.records.at(-1)!.Division, 'Changed-After-Start');
  } finally {
    await s.close();
  }
});

test('WHERE SystemModstamp >= datetime, ORDER BY, COUNT()', async (t) => {
  const cutoff = '2025-01-01T00:00:00Z';
  const expected = [...sim.org.all()].filter((u) => (u.SystemModstamp as string) >= '2025-01-01T00:00:00.000+0000');
  const cnt = (await (await api(sim, token, q(`SELECT COUNT() FROM User WHERE SystemModstamp >= ${cutoff}`))).json()) as QueryPage;
  t.deepEqual(cnt, { totalSize: expected.length, done: true, records: [] });
  const res = await conn().query<{ Id: string; SystemModstamp: string }>(
    `SELECT Id, SystemModstamp FROM User WHERE SystemModstamp >= 2025-01-01T00:00:00.000+0000 ORDER BY SystemModstamp ASC, Id`,
    { autoFetch: true, maxFetch: 10_000 },
  );
  const rows = res.records;
  t.is(rows.length, expected.length);
  for (let i = 1; i < rows.length; i++) t.true(rows[i - 1]!.SystemModstamp <= rows[i]!.SystemModstamp);
  const names = (await (await api(sim, token, q("SELECT Name FROM User WHERE LastName = 'O\\'Brien' LIMIT 1"))).json()) as QueryPage;
  t.regex(names.records[0]!.Name as string, /O'Brien$/);
});

test('INVALID_FIELD and MALFORMED_QUERY error shapes', async (t) => {
  const res = await api(sim, token, q('SELECT Id, IsDeleted FROM User'));
  t.is(res.status, 400);
  const body = (await res.json()) as Array<{ message: string; errorCode: string }>;
  t.is(body.length, 1);
  t.is(body[0]!.errorCode, 'INVALID_FIELD');
  t.regex(body[0]!.message, /No such column 'IsDeleted' on entity 'User'/);
  const mal = await api(sim, token, q('SELECT FROM User'));
  t.is(mal.status, 400);
  t.is(((await mal.json()) as Array<{ errorCode: string }>)[0]!.errorCode, 'MALFORMED_QUERY');
  const err = await t.throwsAsync(conn().query('SELECT Id, IsDeleted FROM User'));
  t.is((err as Error & { errorCode?: string }).errorCode, 'INVALID_FIELD');
});

test('Sforce-Limit-Info counts authenticated calls; token calls are free', async (t) => {
  const s = await startSimulator({ users: 50, dailyApiLimit: 5 });
  try {
    const tok = await tokenFor(s);
    const usage = async (path: string): Promise<[number, string | null]> => {
      const r = await api(s, tok, path);
      return [r.status, r.headers.get('sforce-limit-info')];
    };
    t.deepEqual(await usage('/limits'), [200, 'api-usage=1/5']);
    t.deepEqual(await usage('/sobjects/User/describe'), [200, 'api-usage=2/5']);
    await tokenFor(s);
    t.deepEqual(await usage(q('SELECT COUNT() FROM User')), [200, 'api-usage=3/5']);
    const limits = (await (await api(s, tok, '/limits')).json()) as { DailyApiRequests: { Max: number; Remaining: number } };
    t.deepEqual(limits.DailyApiRequests, { Max: 5, Remaining: 1 });
    t.deepEqual(await usage('/limits'), [200, 'api-usage=5/5']);
    const over = await api(s, tok, '/limits');
    t.is(over.status, 403);
    t.deepEqual(await over.json(), [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }]);
    t.is(over.headers.get('sforce-limit-info'), 'api-usage=5/5');
    const err = await t.throwsAsync(new jsforce.Connection({ instanceUrl: s.url, accessToken: tok, version: V }).query('SELECT Id FROM User'));
    t.is((err as Error & { errorCode?: string }).errorCode, 'REQUEST_LIMIT_EXCEEDED');
    t.is(s.stats.apiCalls, 5);
    // The daily counter resets when the simulated clock crosses midnight.
    s.org.advanceDay();
    t.deepEqual(await usage('/limits'), [200, 'api-usage=1/5']);
  } finally {
    await s.close();
  }
});

test('stats count requests by kind; resetStats clears them', async (t) => {
  const s = await startSimulator({ users: 20 });
  try {
    const tok = await tokenFor(s);
    await api(s, tok, '/sobjects/User/describe');
    await api(s, tok, q('SELECT Id FROM User'));
    t.like(s.stats.callsByKind, { token: 1, describe: 1, query: 1 });
    t.is(s.stats.apiCalls, 2);
    t.deepEqual(s.stats.requests.map((r) => r.status), [200, 200, 200]);
    s.resetStats();
    t.deepEqual(s.stats, { apiCalls: 0, callsByKind: {}, requests: [] });
  } finally {
    await s.close();
  }
});

test('late-committed change is invisible to queries until the clock passes visibleAt', async (t) => {
  const s = await startSimulator({ users: 1500, seed: 11 });
  try {
    const tok = await tokenFor(s);
    const d1 = s.org.advanceDay();
    const late = d1.lateCommitted[0]!;
    const since = late.systemModstamp.replace('.000+0000', 'Z');
    const fetchIds = async (): Promise<Array<{ Id: string; SystemModstamp: string }>> =>
      ((await (await api(s, tok, q(`SELECT Id, SystemModstamp FROM User WHERE SystemModstamp >= ${since}`))).json()) as QueryPage).records as never;
    const run1 = await fetchIds();
    t.false(run1.some((r) => r.Id === late.id && r.SystemModstamp === late.systemModstamp));
    const watermark = run1.map((r) => r.SystemModstamp).sort().at(-1)!;
    t.true(watermark > late.systemModstamp, 'the late change lands behind the watermark of a run in between');
    s.org.advanceDay();
    const run2 = await fetchIds();
    t.true(run2.some((r) => r.Id === late.id && r.SystemModstamp === late.systemModstamp));
    const noLookback = ((await (await api(s, tok, q(`SELECT Id FROM User WHERE SystemModstamp > ${watermark.replace('+0000', 'Z')}`))).json()) as QueryPage).records;
    t.false(noLookback.some((r) => r.Id === late.id), 'a cursor without lookback misses it');
  } finally {
    await s.close();
  }
});

test('retrieve one user and unknown routes', async (t) => {
  const u = [...sim.org.all()][0]!;
  const r = (await (await api(sim, token, `/sobjects/User/${String(u.Id)}`)).json()) as Record<string, unknown>;
  t.is(r.Name, u.Name);
  const nf = await api(sim, token, '/sobjects/Account/describe');
  t.is(nf.status, 404);
  t.is(((await nf.json()) as Array<{ errorCode: string }>)[0]!.errorCode, 'NOT_FOUND');
});
