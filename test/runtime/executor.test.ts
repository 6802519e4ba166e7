import test from 'ava';
import path from 'node:path';
import { defineAsset, defineExternalAsset, type AssetDef, type MaterializeContext } from '../../runtime/definitions.js';
import { DefinitionError, StepError } from '../../runtime/errors.js';
import { SqliteEventLog } from '../../runtime/storage/sqlite-event-log.js';
import { executeRun } from '../../runtime/executor.js';
import { silentLogger } from '../../runtime/logging.js';
import { buildAssetGraph } from '../../runtime/registry.js';
import { abortableSleep } from '../../runtime/retry.js';
import { defineMultiAsset } from '../../runtime/multi-asset.js';
import type { MemberOutcome } from '../../runtime/definitions.js';
import { tempDir } from '../helpers/temp.js';

function openLog() {
  return SqliteEventLog.open(path.join(tempDir(), 'events.sqlite'));
}

async function run(defs: AssetDef<any>[], extra: Partial<Parameters<typeof executeRun>[0]> = {}) {
  const graph = buildAssetGraph(defs);
  const eventLog = openLog();
  const result = await executeRun({
    graph,
    selection: new Set(graph.keys()),
    eventLog,
    resources: {},
    logger: silentLogger(),
    sleep: async () => {},
    ...extra,
  });
  return { result, eventLog, graph };
}

const ok = (log: string[], ms = 0) => async (ctx: MaterializeContext) => {
  log.push(`start ${ctx.assetKey}`);
  if (ms) await abortableSleep(ms, ctx.signal);
  log.push(`end ${ctx.assetKey}`);
  return { metadata: { key: ctx.assetKey } };
};

test('materializes in topological order and records every step', async (t) => {
  const log: string[] = [];
  const defs = [
    defineAsset({ key: 'c', deps: ['b'], materialize: ok(log) }),
    defineAsset({ key: 'b', deps: ['a'], materialize: ok(log) }),
    defineAsset({ key: 'a', materialize: ok(log) }),
  ];
  const { result, eventLog } = await run(defs, { concurrency: 4 });
  t.is(result.status, 'SUCCESS');
  t.deepEqual(log, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  t.deepEqual(result.steps.map((s) => s.key), ['a', 'b', 'c']);
  const m = await eventLog.lastMaterialization('c');
  t.is(m?.runId, result.runId);
  t.deepEqual(m?.metadata, { key: 'c' });
  const types = (await eventLog.runEvents(result.runId)).map((e) => e.type);
  t.is(types[0], 'RUN_START');
  t.is(types.at(-1), 'RUN_SUCCESS');
  t.is(types.filter((x) => x === 'ASSET_MATERIALIZATION').length, 3);
  t.is((await eventLog.getRun(result.runId))?.status, 'SUCCESS');
});

test('independent branches run concurrently, bounded by the concurrency limit', async (t) => {
  let running = 0;
  let peak = 0;
  const tracked = async () => {
    running++;
    peak = Math.max(peak, running);
    await abortableSleep(40);
    running--;
  };
  const defs = ['p', 'q', 'r', 's'].map((key) => defineAsset({ key, materialize: tracked }));
  const two = await run(defs, { concurrency: 2 });
  t.is(two.result.status, 'SUCCESS');
  t.is(peak, 2);
  peak = 0;
  await run(defs, { concurrency: 1 });
  t.is(peak, 1);
  peak = 0;
  await run(defs, { concurrency: 8 });
  t.is(peak, 4);
});

test('a diamond waits for both parents before the join starts', async (t) => {
  const log: string[] = [];
  const defs = [
    defineAsset({ key: 'top', materialize: ok(log) }),
    defineAsset({ key: 'left', deps: ['top'], materialize: ok(log, 30) }),
    defineAsset({ key: 'right', deps: ['top'], materialize: ok(log, 5) }),
    defineAsset({ key: 'join', deps: ['left', 'right'], materialize: ok(log) }),
  ];
  const { result } = await run(defs, { concurrency: 4 });
  t.is(result.status, 'SUCCESS');
  const startJoin = log.indexOf('start join');
  t.true(startJoin > log.indexOf('end left') && startJoin > log.indexOf('end right'));
  t.true(log.indexOf('start right') < log.indexOf('end left'), 'left and right overlap');
});

test('an upstream failure skips its downstream with the reason recorded; other branches go on', async (t) => {
  const log: string[] = [];
  const defs = [
    defineAsset({ key: 'raw', materialize: async () => { throw new StepError('boom', { retryable: false }); } }),
    defineAsset({ key: 'stg', deps: ['raw'], materialize: ok(log) }),
    defineAsset({ key: 'dim', deps: ['stg'], materialize: ok(log) }),
    defineAsset({ key: 'other', materialize: ok(log) }),
  ];
  const { result, eventLog } = await run(defs);
  t.is(result.status, 'FAILURE');
  const byKey = Object.fromEntries(result.steps.map((s) => [s.key, s]));
  t.is(byKey.raw!.status, 'FAILED');
  t.is(byKey.raw!.error, 'boom');
  t.is(byKey.stg!.status, 'SKIPPED');
  t.is(byKey.stg!.reason, 'upstream raw failed');
  t.is(byKey.dim!.status, 'SKIPPED');
  t.is(byKey.dim!.reason, 'upstream stg was skipped');
  t.is(byKey.other!.status, 'SUCCESS');
  t.deepEqual(log, ['start other', 'end other']);
  const skipped = (await eventLog.runEvents(result.runId)).filter((e) => e.type === 'STEP_SKIPPED');
  t.deepEqual(skipped.map((e) => [e.assetKey, e.data.reason]), [
    ['stg', 'upstream raw failed'],
    ['dim', 'upstream stg was skipped'],
  ]);
  t.is(await eventLog.lastMaterialization('stg'), null);
});

test('a failed blocking ERROR check skips downstream; a WARN check does not', async (t) => {
  const log: string[] = [];
  const defs = [
    defineAsset({
      key: 'raw',
      materialize: ok(log),
      checks: [
        { name: 'warn_only', severity: 'WARN', blocking: true, evaluate: async () => ({ passed: false, description: 'meh' }) },
        { name: 'count', severity: 'ERROR', blocking: true, evaluate: async () => ({ passed: false, description: 'too few rows', metadata: { rows: 3 } }) },
      ],
    }),
    defineAsset({ key: 'stg', deps: ['raw'], materialize: ok(log) }),
  ];
  const { result, eventLog } = await run(defs);
  t.is(result.status, 'FAILURE');
  t.is(result.steps[0]!.status, 'SUCCESS');
  t.true(result.steps[0]!.blocked);
  t.is(result.steps[1]!.status, 'SKIPPED');
  t.is(result.steps[1]!.reason, 'blocking check count on raw failed');
  const checks = await eventLog.lastCheckResults('raw');
  t.false(checks.get('count')!.passed);
  t.deepEqual(checks.get('count')!.metadata, { rows: 3 });
  t.false(checks.get('warn_only')!.passed);

  const nonBlocking = [
    defineAsset({ key: 'raw', materialize: ok([]), checks: [{ name: 'count', severity: 'ERROR', blocking: false, evaluate: async () => ({ passed: false }) }] }),
    defineAsset({ key: 'stg', deps: ['raw'], materialize: ok([]) }),
  ];
  const second = await run(nonBlocking);
  t.is(second.result.steps[1]!.status, 'SUCCESS');
});

test('a check that throws counts as failed with the error described', async (t) => {
  const defs = [defineAsset({ key: 'a', materialize: ok([]), checks: [{ name: 'c', severity: 'WARN', blocking: false, evaluate: async () => { throw new Error('no table'); } }] })];
  const { result } = await run(defs);
  t.is(result.status, 'SUCCESS');
  t.false(result.steps[0]!.checks[0]!.passed);
  t.regex(result.steps[0]!.checks[0]!.description!, /no table/);
});

test('retries with exponential backoff and jitter, then succeeds', async (t) => {
  let calls = 0;
  const delays: number[] = [];
  const defs = [
    defineAsset({
      key: 'flaky',
      retry: { maxRetries: 3, baseDelayMs: 100, maxDelayMs: 250, jitter: 0.5 },
      materialize: async (ctx) => {
        calls++;
        if (ctx.attempt < 4) throw new Error(`transient ${ctx.attempt}`);
        return { metadata: { attempt: ctx.attempt } };
      },
    }),
  ];
  const { result, eventLog } = await run(defs, { sleep: async (ms) => { delays.push(ms); }, random: () => 1 });
  t.is(result.status, 'SUCCESS');
  t.is(calls, 4);
  t.is(result.steps[0]!.attempts, 4);
  // base*2^(n-1) capped at 250, minus jitter*random = 50%.
  t.deepEqual(delays, [50, 100, 125]);
  const retries = (await eventLog.runEvents(result.runId)).filter((e) => e.type === 'STEP_RETRY');
  t.deepEqual(retries.map((e) => e.data.error), ['transient 1', 'transient 2', 'transient 3']);
});

test('gives up after max retries, and never retries a non-retryable error', async (t) => {
  let calls = 0;
  const defs = [defineAsset({ key: 'x', retry: { maxRetries: 2 }, materialize: async () => { calls++; throw new Error('still down'); } })];
  const { result } = await run(defs);
  t.is(result.steps[0]!.status, 'FAILED');
  t.is(calls, 3);
  t.is(result.steps[0]!.attempts, 3);

  let fatalCalls = 0;
  const fatal = [defineAsset({ key: 'y', retry: { maxRetries: 5 }, materialize: async () => { fatalCalls++; throw new StepError('REQUEST_LIMIT_EXCEEDED', { retryable: false }); } })];
  const second = await run(fatal);
  t.is(second.result.steps[0]!.status, 'FAILED');
  t.is(fatalCalls, 1);
});

test('abort cancels in-flight work through the signal, starts nothing new, records CANCELED', async (t) => {
  const controller = new AbortController();
  let sawAbort = false;
  const defs = [
    defineAsset({
      key: 'long',
      materialize: async (ctx) => {
        setTimeout(() => controller.abort(), 20);
        try {
          await abortableSleep(10_000, ctx.signal);
        } catch (err) {
          sawAbort = ctx.signal.aborted;
          throw err;
        }
      },
    }),
    defineAsset({ key: 'after', deps: ['long'], materialize: ok([]) }),
  ];
  const { result, eventLog } = await run(defs, { signal: controller.signal, sleep: abortableSleep });
  t.true(sawAbort);
  t.is(result.status, 'CANCELED');
  t.is(result.steps[0]!.status, 'CANCELED');
  t.is(result.steps[1]!.status, 'CANCELED');
  t.is((await eventLog.getRun(result.runId))?.status, 'CANCELED');
  t.is(await eventLog.lastMaterialization('after'), null);
});

test('external assets in the selection are observed only; the previous materialization reaches the context', async (t) => {
  const seen: (string | null)[] = [];
  const defs = [
    defineExternalAsset({ key: 'src/x' }),
    defineAsset({ key: 'y', deps: ['src/x'], materialize: async (ctx) => { seen.push(ctx.previous?.runId ?? null); return {}; } }),
  ];
  const graph = buildAssetGraph(defs);
  const eventLog = openLog();
  const base = { graph, selection: new Set(graph.keys()), eventLog, resources: {}, logger: silentLogger() };
  const first = await executeRun(base);
  const second = await executeRun(base);
  t.deepEqual(first.steps.map((s) => s.key), ['y']);
  t.deepEqual(seen, [null, first.runId]);
  t.is(second.status, 'SUCCESS');
});

test('only the selected subgraph runs; unselected upstreams are not required', async (t) => {
  const log: string[] = [];
  const defs = [
    defineAsset({ key: 'a', materialize: ok(log) }),
    defineAsset({ key: 'b', deps: ['a'], materialize: ok(log) }),
  ];
  const { result } = await run(defs, { selection: new Set(['b']) });
  t.is(result.status, 'SUCCESS');
  t.deepEqual(log, ['start b', 'end b']);
});

test('a multi-asset runs once per run for its selected members, with reported check results', async (t) => {
  const calls: string[][] = [];
  const log: string[] = [];
  const members = defineMultiAsset({
    name: 'dbt',
    assets: [
      { key: 'stg', deps: ['raw'] },
      { key: 'dim', deps: ['stg'], checks: [{ name: 'scd_integrity', severity: 'ERROR', blocking: true }] },
    ],
    run: async (ctx) => {
      calls.push(ctx.selectedKeys);
      const out: Record<string, MemberOutcome> = {};
      for (const k of ctx.selectedKeys) out[k] = { status: 'SUCCESS', metadata: { rows: 3 }, checks: { scd_integrity: { passed: true } } };
      return out;
    },
  });
  const defs = [defineAsset({ key: 'raw', materialize: ok(log) }), ...members, defineAsset({ key: 'report', deps: ['dim'], materialize: ok(log) })];
  const { result, eventLog } = await run(defs);
  t.is(result.status, 'SUCCESS');
  t.deepEqual(calls, [['stg', 'dim']]);
  t.deepEqual(log, ['start raw', 'end raw', 'start report', 'end report']);
  t.deepEqual((await eventLog.lastMaterialization('dim'))?.metadata, { rows: 3 });
  t.true((await eventLog.lastCheckResults('dim')).get('scd_integrity')!.passed);

  calls.length = 0;
  await run(defs, { selection: new Set(['dim']) });
  t.deepEqual(calls, [['dim']]);
});

test('a multi-asset member whose blocking check fails blocks its downstream; a failed member fails the run', async (t) => {
  const log: string[] = [];
  const members = defineMultiAsset({
    name: 'dbt',
    assets: [
      { key: 'stg' },
      { key: 'dim', deps: ['stg'], checks: [{ name: 'scd_integrity', severity: 'ERROR', blocking: true }] },
      { key: 'other' },
    ],
    run: async () => ({
      stg: { status: 'SUCCESS' },
      dim: { status: 'SUCCESS', checks: { scd_integrity: { passed: false, description: '2 overlapping versions' } } },
      other: { status: 'FAILED', error: 'Database Error in model other' },
    }),
  });
  const defs = [...members, defineAsset({ key: 'report', deps: ['dim'], materialize: ok(log) })];
  const { result } = await run(defs);
  t.is(result.status, 'FAILURE');
  const byKey = Object.fromEntries(result.steps.map((s) => [s.key, s]));
  t.true(byKey.dim!.blocked);
  t.is(byKey.report!.status, 'SKIPPED');
  t.is(byKey.report!.reason, 'blocking check scd_integrity on dim failed');
  t.is(byKey.other!.status, 'FAILED');
  t.is(byKey.other!.error, 'Database Error in model other');
  t.deepEqual(log, []);
});

test('members of a multi-asset whose upstream failed are skipped, the others still run', async (t) => {
  const calls: string[][] = [];
  const members = defineMultiAsset({
    name: 'dbt',
    assets: [{ key: 'stg', deps: ['raw'] }, { key: 'dim', deps: ['stg'] }, { key: 'side' }],
    run: async (ctx) => {
      calls.push(ctx.selectedKeys);
      return Object.fromEntries(ctx.selectedKeys.map((k) => [k, { status: 'SUCCESS' as const }]));
    },
  });
  const defs = [defineAsset({ key: 'raw', materialize: async () => { throw new StepError('down', { retryable: false }); } }), ...members];
  const { result } = await run(defs);
  const byKey = Object.fromEntries(result.steps.map((s) => [s.key, s]));
  t.is(byKey.stg!.reason, 'upstream raw failed');
  t.is(byKey.dim!.reason, 'upstream stg was skipped');
  t.is(byKey.side!.status, 'SUCCESS');
  t.deepEqual(calls, [['side']]);
});

test('a multi-asset member its runner skips is recorded once; an asset between two members is refused by the registry', async (t) => {
  const members = defineMultiAsset({
    name: 'dbt',
    assets: [{ key: 'stg' }, { key: 'dim', deps: ['stg'] }],
    run: async () => ({ stg: { status: 'FAILED', error: 'boom' }, dim: { status: 'SKIPPED', error: 'dbt skipped dim' } }),
  });
  const { result, eventLog } = await run([...members]);
  t.is(result.status, 'FAILURE');
  const skipped = (await eventLog.runEvents(result.runId)).filter((e) => e.type === 'STEP_SKIPPED');
  t.deepEqual(skipped.map((e) => e.assetKey), ['dim'], 'one STEP_SKIPPED for dim');

  const split = defineMultiAsset({
    name: 'dbt',
    assets: [{ key: 'dbt/a' }, { key: 'dbt/b', deps: ['py/p'] }],
    run: async () => ({}),
  });
  const err = t.throws(() => buildAssetGraph([...split, defineAsset({ key: 'py/p', deps: ['dbt/a'], materialize: ok([]) })]), { instanceOf: DefinitionError });
  t.is(
    err!.message,
    'multi-asset "dbt": asset "py/p" depends on its member "dbt/a" and feeds its member "dbt/b"; a multi-asset runs as one step, so nothing outside it may sit between two of its members',
  );
});

test('a cancel that arrives after every step finished leaves the run as its steps are', async (t) => {
  const controller = new AbortController();
  const defs = [defineAsset({ key: 'a', materialize: async () => { return {}; } })];
  const { result } = await run(defs, { onStep: () => controller.abort(), signal: controller.signal });
  t.is(result.steps[0]!.status, 'SUCCESS');
  t.is(result.status, 'SUCCESS');
});

test('metadata with bigints and dates is recorded as plain JSON, not a failed step', async (t) => {
  const defs = [
    defineAsset({
      key: 'a',
      materialize: async () => ({ metadata: { rows: 5000n, huge: 2n ** 70n, at: new Date('2026-01-01T00:00:00Z'), nested: { n: 3n } } }),
      checks: [{ name: 'c', severity: 'WARN', blocking: false, evaluate: async () => ({ passed: true, metadata: { seen: 7n } }) }],
    }),
  ];
  const { result, eventLog } = await run(defs);
  t.is(result.status, 'SUCCESS', result.steps[0]!.error ?? '');
  const expected = { rows: 5000, huge: '1180591620717411303424', at: '2026-01-01T00:00:00.000Z', nested: { n: 3 } };
  t.deepEqual(result.steps[0]!.metadata, expected);
  t.deepEqual((await eventLog.lastMaterialization('a'))?.metadata, expected);
  t.deepEqual((await eventLog.lastCheckResults('a')).get('c')?.metadata, { seen: 7 });
});

test('a failed step names its attempts once: none for a step without retries, "after N attempts" after retries', async (t) => {
  const { captureLogger } = await import('../helpers/capture-logger.js');
  const failing = (message: string) => async () => {
    throw new StepError(message, { retryable: true });
  };
  const errorsOf = async (def: AssetDef<any>) => {
    const cap = captureLogger();
    await run([def], { logger: cap.log });
    await cap.flush();
    return cap.lines.map((l) => JSON.parse(l) as { level: string; message: string }).filter((l) => l.level === 'error' && l.message.startsWith('failed')).map((l) => l.message);
  };
  t.deepEqual(await errorsOf(defineAsset({ key: 'once', retry: { maxRetries: 0 }, materialize: failing('Salesforce SERVER_UNAVAILABLE (HTTP 503): down (gave up after 6 attempts)') })), [
    'failed: Salesforce SERVER_UNAVAILABLE (HTTP 503): down (gave up after 6 attempts)',
  ]);
  t.deepEqual(await errorsOf(defineAsset({ key: 'twice', retry: { maxRetries: 1 }, materialize: failing('boom') })), ['failed after 2 attempts: boom']);
});
