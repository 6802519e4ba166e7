import test from 'ava';
import jsforce from 'jsforce';
import { startSimulator, type Simulator } from '../../sim/index.js';
import { api, parseCsv, tokenFor, V } from './helpers.js';

let sim: Simulator;
let token: string;
test.before(async () => {
  sim = await startSimulator({ users: 5000, seed: 42 });
  token = await tokenFor(sim);
});
test.after.always(async () => {
  await sim.close();
});

interface JobInfo { id: string; state: string; operation: string; object: string; apiVersion: number; errorMessage?: string; numberRecordsProcessed?: number }

async function createJob(s: Simulator, tok: string, query: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return api(s, tok, '/jobs/query', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ operation: 'query', query, ...extra }),
  });
}

async function poll(s: Simulator, tok: string, id: string): Promise<JobInfo> {
  return (await (await api(s, tok, `/jobs/query/${id}`)).json()) as JobInfo;
}

const FIELDS = 'Id, Name, FirstName, Division, Audit_Phase__c, IsActive, SystemModstamp';

test('bulk 2.0: create → poll (InProgress, JobComplete) → results with locator paging', async (t) => {
  const created = await createJob(sim, token, `SELECT ${FIELDS} FROM User`);
  t.is(created.status, 200);
  const job = (await created.json()) as JobInfo;
  t.regex(job.id, /^750[A-Za-z0-9]{15}$/);
  t.like(job, { state: 'UploadComplete', operation: 'query', object: 'User', apiVersion: 62 });
  t.is((await poll(sim, token, job.id)).state, 'InProgress');
  const done = await poll(sim, token, job.id);
  t.is(done.state, 'JobComplete');
  t.is(done.numberRecordsProcessed, 5000);

  const rows: Array<Array<string | null>> = [];
  let locator: string | null = null;
  let pages = 0;
  do {
    const res = await api(sim, token, `/jobs/query/${job.id}/results?maxRecords=2000${locator ? `&locator=${locator}` : ''}`);
    t.is(res.status, 200);
    t.regex(res.headers.get('content-type')!, /text\/csv/);
    const n = Number(res.headers.get('sforce-numberofrecords'));
    const parsed = parseCsv(await res.text());
    t.deepEqual(parsed[0], ['Id', 'Name', 'FirstName', 'Division', 'Audit_Phase__c', 'IsActive', 'SystemModstamp']);
    t.is(parsed.length - 1, n);
    rows.push(...parsed.slice(1));
    locator = res.headers.get('sforce-locator');
    pages++;
  } while (locator !== 'null');
  t.is(pages, 3);
  t.is(rows.length, 5000);

  // Round-trip against the org: quotes, commas, newlines, backslashes, non-Latin scripts, nulls.
  const byId = new Map([...sim.org.all()].map((u) => [u.Id, u]));
  for (const r of rows) {
    const u = byId.get(r[0]!)!;
    t.is(r[1], u.Name as string);
    t.is(r[2], u.FirstName as string | null);
    t.is(r[3], u.Division as string | null);
    t.is(r[4], u.Audit_Phase__c as string | null);
    t.is(r[5], String(u.IsActive));
    t.is(r[6], (u.SystemModstamp as string).replace('+0000', 'Z'));
  }
  const names = rows.map((r) => r[1]!);
  t.true(names.some((n) => n.includes('\n')));
  t.true(names.some((n) => n.includes(',')));
  t.true(names.some((n) => n.includes('"')));
  t.true(names.some((n) => /[\u4e00-\u9fff\u0400-\u04ff\u0600-\u06ff]/.test(n)));
  t.true(rows.some((r) => r[3] === null));

  const del = await api(sim, token, `/jobs/query/${job.id}`, { method: 'DELETE' });
  t.is(del.status, 204);
  t.is((await api(sim, token, `/jobs/query/${job.id}`)).status, 404);
});

// Each results page is a complete CSV with its own header row (as Salesforce sends it).
// jsforce 3.10.16 pipes all pages into one CSV parser, so every page after the first
// surfaces its header as a record: extractors should page results themselves.
test('bulk 2.0 via jsforce conn.bulk2.query (follows Sforce-Locator)', async (t) => {
  const s = await startSimulator({ users: 2500, seed: 42, bulkMaxRecords: 1000 });
  try {
    const tok = await tokenFor(s);
    const conn = new jsforce.Connection({ instanceUrl: s.url, accessToken: tok, version: V });
    conn.bulk2.pollInterval = 20;
    const raw = (await (await conn.bulk2.query(`SELECT Id, Name, Division FROM User WHERE IsActive = true`)).toArray()) as Array<Record<string, string>>;
    const records = raw.filter((r) => r.Id !== 'Id');
    t.is(raw.length - records.length, 2, 'jsforce quirk: header rows of pages 2 and 3');
    const expected = [...s.org.all()].filter((u) => u.IsActive);
    t.is(records.length, expected.length);
    t.deepEqual(records.map((r) => r.Name), expected.map((u) => u.Name));
    t.is(s.stats.callsByKind.bulkResults, 3);
  } finally {
    await s.close();
  }
});

// Serial: it mutates the shared org.
test.serial('bulk 2.0: results are a snapshot of job creation time; options; errors', async (t) => {
  const created = (await (await createJob(sim, token, "SELECT Id, Name FROM User WHERE Division = 'North'", { columnDelimiter: 'PIPE', lineEnding: 'CRLF' })).json()) as JobInfo;
  const results = await api(sim, token, `/jobs/query/${created.id}/results`);
  t.is(results.status, 400, 'results before JobComplete');
  const northBefore = [...sim.org.all()].filter((u) => String(u.Division).toLowerCase() === 'north');
  const moved = northBefore[0]!.Id as string;
  const original = northBefore[0]!.Division;
  await poll(sim, token, created.id);
  await poll(sim, token, created.id);
  const text = await (await api(sim, token, `/jobs/query/${created.id}/results`)).text();
  t.true(text.startsWith('"Id"|"Name"\r\n'));
  sim.org.updateUser(moved, { Division: 'South' });
  const parsed = parseCsv(text, '|');
  t.is(parsed.length - 1, northBefore.length);
  sim.org.updateUser(moved, { Division: original });
  const after = parseCsv(await (await api(sim, token, `/jobs/query/${created.id}/results`)).text(), '|');
  t.true(after.some((r) => r[0] === moved), 'rows come from the snapshot taken at job creation');

  const bad = await createJob(sim, token, 'SELECT Id, IsDeleted FROM User');
  t.is(bad.status, 400);
  t.is(((await bad.json()) as Array<{ errorCode: string }>)[0]!.errorCode, 'INVALID_FIELD');
  const count = await createJob(sim, token, 'SELECT COUNT() FROM User');
  t.is(count.status, 400);
  const badLocator = await api(sim, token, `/jobs/query/${created.id}/results?locator=bm9wZQ`);
  t.is(badLocator.status, 400);
});

test('bulk 2.0: queryAll operation and abort', async (t) => {
  const job = (await (await createJob(sim, token, 'SELECT Id FROM User LIMIT 10', { operation: 'queryAll' })).json()) as JobInfo;
  t.is(job.operation, 'queryAll');
  const s = await startSimulator({ users: 5, bulkDatetimeFormat: 'salesforce' });
  try {
    const tok = await tokenFor(s);
    const j = (await (await createJob(s, tok, 'SELECT SystemModstamp FROM User LIMIT 1')).json()) as JobInfo;
    await poll(s, tok, j.id);
    await poll(s, tok, j.id);
    const rows = parseCsv(await (await api(s, tok, `/jobs/query/${j.id}/results`)).text());
    t.regex(rows[1]![0]!, /\.000\+0000$/);
  } finally {
    await s.close();
  }
  const abort = await api(sim, token, `/jobs/query/${job.id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ state: 'Aborted' }) });
  t.is(((await abort.json()) as JobInfo).state, 'Aborted');
  t.is((await poll(sim, token, job.id)).state, 'Aborted');
});
