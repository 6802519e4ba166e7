import test from 'ava';
import jsforce from 'jsforce';
import { startSimulator, type Simulator } from '../../sim/index.js';
import { FaultInjector } from '../../sim/faults.js';
import { api, parseCsv, postForm, q, tokenFor, V, type QueryPage } from './helpers.js';
import { DEFAULT_CREDENTIALS as C } from '../../sim/index.js';

// Each test gets its own simulator: faults are global to a simulator.
async function withSim(fn: (sim: Simulator, token: string) => Promise<void>): Promise<void> {
  const sim = await startSimulator({ users: 4500 });
  try {
    await fn(sim, await tokenFor(sim));
  } finally {
    await sim.close();
  }
}

async function errorCode(res: Response): Promise<string | undefined> {
  return ((await res.json()) as Array<{ errorCode: string }>)[0]?.errorCode;
}

test('FaultInjector: matching, times, after, any, clear', (t) => {
  const f = new FaultInjector();
  f.add({ on: 'query', kind: 'http', status: 503, times: 2, after: 1 });
  t.is(f.take('describe'), undefined);
  t.is(f.take('query'), undefined, 'after: 1 lets the first one through');
  t.like(f.take('query'), { kind: 'http', status: 503 });
  t.like(f.take('query'), { kind: 'http', status: 503 });
  t.is(f.take('query'), undefined);
  f.add({ on: 'any', kind: 'slow', delayMs: 1 });
  t.like(f.take('limits'), { kind: 'slow' });
  f.add({ on: 'any', kind: 'requestLimit', times: 5 });
  f.clear();
  t.is(f.take('query'), undefined);
  t.deepEqual(f.pending(), []);
});

test('http 503/429/500 with Salesforce error bodies; jsforce retries GETs through them', async (t) => {
  await withSim(async (sim, token) => {
    for (const status of [503, 429, 500]) {
      sim.faults.add({ on: 'describe', kind: 'http', status });
      const res = await api(sim, token, '/sobjects/User/describe');
      t.is(res.status, status);
      t.truthy(await errorCode(res));
    }
    t.is((await api(sim, token, '/sobjects/User/describe')).status, 200);

    const first = (await (await api(sim, token, q('SELECT Id FROM User'))).json()) as QueryPage;
    sim.faults.add({ on: 'queryMore', kind: 'http', status: 503, times: 2 });
    const conn = new jsforce.Connection({ instanceUrl: sim.url, accessToken: token, version: V });
    const more = await conn.queryMore(first.nextRecordsUrl!);
    t.is(more.records.length, 2000);
    t.deepEqual(sim.stats.requests.filter((r) => r.path.includes('/query/')).map((r) => r.status), [503, 503, 200]);
  });
});

test('token endpoint faults', async (t) => {
  await withSim(async (sim) => {
    sim.faults.add({ on: 'token', kind: 'http', status: 503 });
    const res = await postForm(sim, { grant_type: 'client_credentials', client_id: C.clientId, client_secret: C.clientSecret });
    t.is(res.status, 503);
    t.is(((await res.json()) as { error: string }).error, 'server_error');
  });
});

test('invalidSession: 401 INVALID_SESSION_ID and the token is really dead', async (t) => {
  await withSim(async (sim, token) => {
    sim.faults.add({ on: 'query', kind: 'invalidSession' });
    const res = await api(sim, token, q('SELECT Id FROM User LIMIT 1'));
    t.is(res.status, 401);
    t.deepEqual(await res.json(), [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]);
    t.is((await api(sim, token, '/limits')).status, 401);
    const fresh = await tokenFor(sim);
    t.is((await api(sim, fresh, '/limits')).status, 200);
  });
});

test('requestLimit and queryTimeout', async (t) => {
  await withSim(async (sim, token) => {
    sim.faults.add({ on: 'limits', kind: 'requestLimit' });
    const rl = await api(sim, token, '/limits');
    t.is(rl.status, 403);
    t.is(await errorCode(rl), 'REQUEST_LIMIT_EXCEEDED');
    sim.faults.add({ on: 'query', kind: 'queryTimeout' });
    const qt = await api(sim, token, q('SELECT Id FROM User'));
    t.is(qt.status, 400);
    t.is(await errorCode(qt), 'QUERY_TIMEOUT');
    t.is((await api(sim, token, q('SELECT Id FROM User LIMIT 1'))).status, 200);
  });
});

test('slow responses', async (t) => {
  await withSim(async (sim, token) => {
    sim.faults.add({ on: 'any', kind: 'slow', delayMs: 300 });
    const start = Date.now();
    const res = await api(sim, token, '/limits');
    t.is(res.status, 200);
    t.true(Date.now() - start >= 290);
  });
});

test('resetMidBody: headers and part of the body, then the socket dies (JSON and CSV)', async (t) => {
  await withSim(async (sim, token) => {
    sim.faults.add({ on: 'query', kind: 'resetMidBody' });
    const res = await api(sim, token, q('SELECT Id, Name FROM User'));
    t.is(res.status, 200);
    await t.throwsAsync(res.text());
    t.is((await api(sim, token, q('SELECT Id FROM User LIMIT 1'))).status, 200, 'the next request is fine');

    const job = (await (await api(sim, token, '/jobs/query', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ operation: 'query', query: 'SELECT Id, Name FROM User' }),
    })).json()) as { id: string };
    await api(sim, token, `/jobs/query/${job.id}`);
    await api(sim, token, `/jobs/query/${job.id}`);
    sim.faults.add({ on: 'bulkResults', kind: 'resetMidBody' });
    const csv = await api(sim, token, `/jobs/query/${job.id}/results`);
    t.is(csv.status, 200);
    await t.throwsAsync(csv.text());
    const again = await api(sim, token, `/jobs/query/${job.id}/results`);
    t.is(parseCsv(await again.text()).length, 4500 + 1, 'a retry with the same locator gets the full page');
  });
});

test('bulkJobFailed: on create or on poll, the job ends Failed with an errorMessage', async (t) => {
  await withSim(async (sim, token) => {
    const conn = new jsforce.Connection({ instanceUrl: sim.url, accessToken: token, version: V });
    conn.bulk2.pollInterval = 20;
    sim.faults.add({ on: 'bulkCreate', kind: 'bulkJobFailed' });
    await t.throwsAsync(conn.bulk2.query('SELECT Id FROM User'), { message: /failed/ });

    sim.faults.add({ on: 'bulkPoll', kind: 'bulkJobFailed', after: 1 });
    const job = (await (await api(sim, token, '/jobs/query', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ operation: 'query', query: 'SELECT Id FROM User' }),
    })).json()) as { id: string };
    const p1 = (await (await api(sim, token, `/jobs/query/${job.id}`)).json()) as { state: string };
    t.is(p1.state, 'InProgress');
    const p2 = (await (await api(sim, token, `/jobs/query/${job.id}`)).json()) as { state: string; errorMessage: string };
    t.is(p2.state, 'Failed');
    t.truthy(p2.errorMessage);
  });
});
