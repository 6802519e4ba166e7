/**
 * sf_raw/sf_user under injected API faults (over real HTTP through jsforce): transient faults are
 * retried and the load equals an undisturbed one; fatal ones fail the run with raw and the watermark
 * untouched, and a rerun catches up without duplicates or lost versions.
 */
import test, { type ExecutionContext } from 'ava';

import type { FaultSpec } from '../../sim/index.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { startHarness, type Harness } from '../helpers/extract-harness.js';
import {
  assertRawHoldsOrg,
  maxStamp,
  rawContent,
  rawCount,
  setSource,
  stepError,
} from './fixtures/extract-helpers.js';

/** Raw content of the undisturbed control: seed 42, a full load, a day, an incremental run. */
let control: Promise<{ afterFirst: string[]; afterSecond: string[] }> | undefined;
function controlContent(): Promise<{ afterFirst: string[]; afterSecond: string[] }> {
  control ??= (async () => {
    const h = await startHarness();
    try {
      if ((await h.run()).result.status !== 'SUCCESS') throw new Error('control run 1 failed');
      const afterFirst = await rawContent(h);
      h.sim.org.advanceDay();
      if ((await h.run()).result.status !== 'SUCCESS') throw new Error('control run 2 failed');
      return { afterFirst, afterSecond: await rawContent(h) };
    } finally {
      await h.close();
    }
  })();
  return control;
}

async function harness(t: ExecutionContext, opts: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const h = await startHarness(opts);
  t.teardown(() => h.close());
  return h;
}

/** A transient fault during the first full load: retried, success, raw equals the control. */
function transientOnFullLoad(title: string, faults: FaultSpec[], check?: (t: ExecutionContext, h: Harness, metadata: Record<string, any>) => void) {
  test(title, async (t) => {
    const h = await harness(t);
    for (const f of faults) h.sim.faults.add(f);
    const { result, metadata } = await h.run();
    t.is(result.status, 'SUCCESS', stepError({ result }));
    t.is(result.steps[0]?.attempts, 1, 'the API layer absorbed the fault; the step was not retried');
    t.deepEqual(h.sim.faults.pending(), [], 'every injected fault fired');
    t.is(h.sim.faults.fired.length, faults.reduce((n, f) => n + (f.times ?? 1), 0));
    t.is(metadata['versions_inserted'], 5000);
    t.is(metadata['records_fetched'], 5000);
    await assertRawHoldsOrg(t, h, { exact: true });
    t.deepEqual(await rawContent(h), (await controlContent()).afterFirst);
    check?.(t, h, metadata);
  });
}

transientOnFullLoad('a 503 burst on queryMore is retried', [{ on: 'queryMore', kind: 'http', status: 503, times: 2 }], (t, h, m) => {
  t.is(h.sim.stats.callsByKind['queryMore'], 4, '2 pages + 2 retries');
  t.is(m['api_calls'].queryMore, 4, 'failed attempts are counted as API calls');
});

transientOnFullLoad('a 429 burst on queryMore is retried (its body says REQUEST_LIMIT_EXCEEDED, as Salesforce\'s does)', [{ on: 'queryMore', kind: 'http', status: 429, times: 2, after: 1 }], (t, h) => {
  t.is(h.sim.stats.callsByKind['queryMore'], 4);
});

transientOnFullLoad('QUERY_TIMEOUT on the first query page is retried', [{ on: 'query', kind: 'queryTimeout' }], (t, h, m) => {
  t.is(h.sim.stats.callsByKind['query'], 2);
  t.is(m['api_calls'].query, 2);
});

transientOnFullLoad('a slow page (300 ms) is simply waited for', [{ on: 'queryMore', kind: 'slow', delayMs: 300 }], (t, h) => {
  t.is(h.sim.stats.callsByKind['queryMore'], 2, 'no retry');
});

// jsforce never settles a request whose body breaks off (it pipes the body without forwarding
// the error), so SalesforceApi bounds every call with source.request_timeout and retries.
test('a connection reset mid-body on queryMore hits the request deadline and is retried', async (t) => {
  const h = await harness(t, { editConfig: (y) => y.replace('request_timeout: 120s', 'request_timeout: 2s') });
  h.sim.faults.add({ on: 'queryMore', kind: 'resetMidBody' });
  const { result, metadata } = await h.run();
  t.is(h.sim.faults.fired.length, 1, 'the reset fired');
  t.is(result.status, 'SUCCESS');
  t.is(h.sim.stats.callsByKind['queryMore'], 3);
  t.is(metadata['api_calls'].queryMore, 3);
  await assertRawHoldsOrg(t, h, { exact: true });
});

test('a call with no answer by the request deadline is retried, and its connection is closed, not left open', async (t) => {
  const h = await harness(t, { editConfig: (y) => y.replace('request_timeout: 120s', 'request_timeout: 2s') });
  h.sim.faults.add({ on: 'queryMore', kind: 'slow', delayMs: 600_000 });
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(h.sim.stats.callsByKind['queryMore'], 3, 'the stalled page was asked for again');
  t.is(metadata['api_calls'].queryMore, 3);
  await assertRawHoldsOrg(t, h, { exact: true });
  // The simulator logs a request when its answer is sent or its client leaves. The stalled one
  // would only be answered after 10 minutes: it reaches the log (within 10 s here, a second after
  // the 2 s deadline) only because the client closed its connection.
  const logged = () => h.sim.stats.requests.filter((r) => r.path.includes('/query/')).length;
  for (let i = 0; i < 100 && logged() < 3; i++) await new Promise((r) => setTimeout(r, 100));
  t.is(logged(), 3);
});

test('aborting the run cancels a call stuck on a broken connection', async (t) => {
  const h = await harness(t);
  h.sim.faults.add({ on: 'queryMore', kind: 'resetMidBody' });
  const controller = new AbortController();
  const running = h.run({ signal: controller.signal });
  while (h.sim.faults.fired.length === 0) await new Promise((r) => setTimeout(r, 20));
  controller.abort();
  const { result } = await running;
  t.is(result.status, 'CANCELED');
  t.deepEqual(await h.query('select count(*)::int as n from sf_raw.sf_user'), [{ n: 0 }]);
});

transientOnFullLoad('INVALID_SESSION_ID in the middle of paging re-authenticates and resumes at the same page', [{ on: 'queryMore', kind: 'invalidSession', after: 1 }], (t, h, m) => {
  t.is(m['api_calls'].auth, 2, 're-authenticated once');
  t.is(h.sim.stats.callsByKind['token'], 2);
  t.is(h.sim.stats.callsByKind['query'], 1, 'paging was not restarted');
  t.is(h.sim.stats.callsByKind['queryMore'], 3, 'the failed page was repeated once');
  const qm = h.sim.stats.requests.filter((r) => r.path.includes('/query/'));
  t.is(qm.length, 3);
  t.is(qm[1]?.status, 401);
  t.is(qm[1]?.path, qm[2]?.path, 'the same page was asked again after re-authenticating');
});

test('an expired session: one info line, and the refused call is counted like the repeated one', async (t) => {
  const cap = captureLogger('info');
  const h = await harness(t, { logger: cap.log });
  h.sim.faults.add({ on: 'queryMore', kind: 'invalidSession', after: 1 });
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(h.sim.stats.callsByKind['queryMore'], 3, '2 pages, the refused one sent again');
  t.is(metadata['api_calls'].queryMore, 3, 'the refused call spent quota too');
  t.is(metadata['api_calls'].auth, h.sim.stats.callsByKind['token']);
  await cap.flush();
  const notes = cap.lines.map((l) => JSON.parse(l) as { level: string; message: string }).filter((l) => /session expired/i.test(l.message));
  t.deepEqual(notes.map((l) => [l.level, l.message]), [['info', 'Salesforce session expired during the queryMore call: re-authenticated, sending it again']]);
});

test('transient faults during an incremental run: retried, and raw equals the undisturbed control', async (t) => {
  const h = await harness(t);
  t.is((await h.run()).result.status, 'SUCCESS');
  h.sim.org.advanceDay();
  h.sim.faults.add({ on: 'query', kind: 'http', status: 503 });
  h.sim.faults.add({ on: 'describe', kind: 'http', status: 500 });
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.is(metadata['mode'], 'incremental');
  t.is(h.sim.faults.fired.length, 2);
  t.deepEqual(await rawContent(h), (await controlContent()).afterSecond);
  await assertRawHoldsOrg(t, h);
});

test('REQUEST_LIMIT_EXCEEDED fails the run at once: one attempt, raw and watermark unchanged; a rerun catches up', async (t) => {
  const h = await harness(t);
  t.is((await h.run()).result.status, 'SUCCESS');
  h.sim.org.advanceDay();
  const rowsBefore = await rawCount(h);
  const wmBefore = await maxStamp(h);
  const contentBefore = await rawContent(h);
  h.sim.resetStats();
  h.sim.faults.add({ on: 'queryMore', kind: 'requestLimit' });
  h.sim.faults.add({ on: 'query', kind: 'requestLimit' });
  const { result } = await h.run();
  t.is(result.status, 'FAILURE');
  t.is(result.steps[0]?.status, 'FAILED');
  t.is(result.steps[0]?.attempts, 1, 'not retried at the step level');
  t.regex(stepError({ result }), /REQUEST_LIMIT_EXCEEDED/);
  t.is(h.sim.stats.callsByKind['query'], 1, 'not retried at the API level');
  t.is(h.sim.stats.callsByKind['queryMore'] ?? 0, 0);
  t.is(await rawCount(h), rowsBefore);
  t.is(await maxStamp(h), wmBefore);
  t.deepEqual(await rawContent(h), contentBefore);

  h.sim.faults.clear();
  const rerun = await h.run();
  t.is(rerun.result.status, 'SUCCESS');
  t.is(rerun.metadata['watermark_before'], new Date(wmBefore!).toISOString());
  t.deepEqual(await rawContent(h), (await controlContent()).afterSecond);
});

test('REQUEST_LIMIT_EXCEEDED on a middle page of a full load leaves raw empty', async (t) => {
  const h = await harness(t);
  h.sim.faults.add({ on: 'queryMore', kind: 'requestLimit', after: 1 });
  const { result } = await h.run();
  t.is(result.status, 'FAILURE');
  t.is(result.steps[0]?.attempts, 1);
  t.regex(stepError({ result }), /REQUEST_LIMIT_EXCEEDED/);
  t.is(h.sim.stats.callsByKind['queryMore'], 2);
  t.is(await rawCount(h), 0, 'two staged pages were not committed');
  t.is(await maxStamp(h), null);
  t.is((await h.run()).result.status, 'SUCCESS');
  t.deepEqual(await rawContent(h), (await controlContent()).afterFirst);
});

test('a persistent 503 fails the run with raw unchanged; after the outage a rerun equals the control', async (t) => {
  t.timeout(90_000);
  const h = await harness(t);
  t.is((await h.run()).result.status, 'SUCCESS');
  h.sim.org.advanceDay();
  const contentBefore = await rawContent(h);
  const wmBefore = await maxStamp(h);
  h.sim.resetStats();
  h.sim.faults.add({ on: 'query', kind: 'http', status: 503, times: 50 });
  const { result } = await h.run();
  t.is(result.status, 'FAILURE');
  t.is(result.steps[0]?.status, 'FAILED');
  const attempts = result.steps[0]?.attempts ?? 0;
  t.true(attempts >= 1 && attempts <= 2, `step attempts: ${attempts}`);
  t.regex(stepError({ result }), /SERVER_UNAVAILABLE[\s\S]*gave up after 6 attempts/);
  t.is(h.sim.faults.fired.length, 6 * attempts, '1 try + 5 API-level retries per step attempt');
  t.is(h.sim.stats.callsByKind['queryMore'] ?? 0, 0);
  t.is(h.sim.stats.callsByKind['query'], 6 * attempts);
  t.deepEqual(await rawContent(h), contentBefore);
  t.is(await maxStamp(h), wmBefore);

  h.sim.faults.clear();
  const rerun = await h.run();
  t.is(rerun.result.status, 'SUCCESS');
  t.deepEqual(await rawContent(h), (await controlContent()).afterSecond);
  await assertRawHoldsOrg(t, h);
});

test('the API budget guard fails before paging, naming the budget; raw unchanged', async (t) => {
  const h = await harness(t, { sim: { dailyApiLimit: 200 }, editConfig: setSource('api_budget_share', 0.01) });
  t.is(h.config.source.apiBudgetShare, 0.01);
  h.sim.resetStats();
  const { result } = await h.run();
  t.is(result.status, 'FAILURE');
  t.is(result.steps[0]?.attempts, 1, 'the budget error is not retried');
  const err = stepError({ result });
  t.regex(err, /API budget guard/);
  t.regex(err, /needs about 2 more API call\(s\) but only 0 remain/);
  t.regex(err, /api_budget_share/);
  t.is(h.sim.stats.callsByKind['query'], 1);
  t.is(h.sim.stats.callsByKind['queryMore'] ?? 0, 0, 'no page after the first was requested');
  t.is(await rawCount(h), 0);
  t.is(await maxStamp(h), null);
});

test('the API budget guard lets a run through when the budget covers it', async (t) => {
  // 0.05 × (200 − 1) = 9 calls after the describe: the 3 query pages fit.
  const h = await harness(t, { sim: { dailyApiLimit: 200 }, editConfig: setSource('api_budget_share', 0.05) });
  const { result, metadata } = await h.run();
  t.is(result.status, 'SUCCESS', stepError({ result }));
  t.deepEqual(metadata['api_usage'], { used: 4, limit: 200, remaining: 196 });
  await assertRawHoldsOrg(t, h, { exact: true });
});
