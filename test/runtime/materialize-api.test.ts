/**
 * The programmatic API (runtime/api): materialize owns the run lock, the run's record and its
 * resources; sweepFreshness records and reports. The CLI tests prove the commands that call it;
 * these drive it directly, as an embedding program would.
 */
import test from 'ava';
import { materialize, PipelineInstance, sweepFreshness } from '../../runtime/api/index.js';
import { defineAsset } from '../../runtime/definitions.js';
import { SqliteEventLog } from '../../runtime/storage/sqlite-event-log.js';
import { silentLogger } from '../../runtime/logging.js';
import type { Pipeline } from '../../runtime/pipeline.js';
import { FileRunLock } from '../../runtime/storage/file-run-lock.js';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/temp.js';

/** A two-asset pipeline whose first asset waits for `gate` (when given) and counts its runs. */
function gatedPipeline(opts: { gate?: Promise<void>; started?: () => void; openFails?: boolean } = {}) {
  const materialized: string[] = [];
  let closed = 0;
  const pipeline: Pipeline<{ tag: string }> = {
    name: 'api-test',
    definitions: [
      defineAsset({
        key: 'a/first',
        freshness: { kind: 'time_window', failAfterMs: 3_600_000 },
        materialize: async (ctx) => {
          opts.started?.();
          await opts.gate;
          materialized.push(`${ctx.assetKey} ${ctx.resources.tag}`);
          return { metadata: { rows: 1 } };
        },
      }),
      defineAsset({ key: 'a/second', deps: ['a/first'], materialize: async (ctx) => (materialized.push(ctx.assetKey), { metadata: {} }) }),
    ],
    async openResources({ runId }) {
      if (opts.openFails) throw new Error('the warehouse is unreachable');
      return { resources: { tag: runId.slice(0, 4) }, close: async () => void closed++ };
    },
  };
  return { pipeline, materialized, closedCount: () => closed };
}

test('materialize runs the selection in order under the run lock, closes the resources and records the run', async (t) => {
  const stateDir = tempDir('sfpipe-api-');
  const { pipeline, materialized, closedCount } = gatedPipeline();
  const instance = new PipelineInstance(pipeline, { stateDir, logger: silentLogger() });
  const outcome = await materialize(instance, { selection: '+a/second', trigger: 'test' });
  if (outcome.kind !== 'ran') return t.fail(`did not run: ${outcome.kind}`);
  t.is(outcome.result.status, 'SUCCESS');
  t.is(outcome.lostLock, null);
  t.deepEqual(materialized, [`a/first ${outcome.result.runId.slice(0, 4)}`, 'a/second']);
  t.is(closedCount(), 1);
  t.is(await new FileRunLock(path.join(stateDir, 'run.lock')).holder(), null, 'the lock is free again');
  const log = SqliteEventLog.open(path.join(stateDir, 'events.sqlite'));
  t.like(await log.getRun(outcome.result.runId), { status: 'SUCCESS', trigger: 'test', selection: '+a/second' });
  await log.close();
});

test('a second materialize while one runs is refused with the holder; nothing of it is recorded', async (t) => {
  const stateDir = tempDir('sfpipe-api-');
  let open!: () => void;
  let started!: () => void;
  const isStarted = new Promise<void>((r) => (started = r));
  const gate = new Promise<void>((r) => (open = r));
  const { pipeline } = gatedPipeline({ gate, started });
  const instance = new PipelineInstance(pipeline, { stateDir, logger: silentLogger() });
  const first = materialize(instance, { selection: 'a/first' });
  await isStarted;
  const second = await materialize(instance, { selection: 'a/first' });
  open();
  const done = await first;
  if (done.kind !== 'ran' || second.kind !== 'locked') return t.fail(`${done.kind} / ${second.kind}`);
  t.is(second.holder.runId, done.result.runId);
  t.regex(second.message, new RegExp(`run ${done.result.runId} holds the lock`));
  const log = SqliteEventLog.open(path.join(stateDir, 'events.sqlite'));
  t.is((await log.recentRuns(10)).length, 1, 'only the first run is in the event log');
  await log.close();
});

test('a run id runs once: a known one is refused before the lock is taken', async (t) => {
  const stateDir = tempDir('sfpipe-api-');
  const { pipeline, materialized } = gatedPipeline();
  const instance = new PipelineInstance(pipeline, { stateDir, logger: silentLogger() });
  const runId = 'sensor-run-0001';
  t.is((await materialize(instance, { selection: 'a/first', runId, trigger: 'sensor:changes' })).kind, 'ran');
  const again = await materialize(instance, { selection: 'a/first', runId });
  t.deepEqual(again, { kind: 'duplicate-run-id', runId, status: 'SUCCESS', trigger: 'sensor:changes' });
  t.is(materialized.length, 1);
});

test('resources that cannot be opened: the run is recorded as FAILURE with the reason, and nothing ran', async (t) => {
  const stateDir = tempDir('sfpipe-api-');
  const { pipeline, materialized } = gatedPipeline({ openFails: true });
  const instance = new PipelineInstance(pipeline, { stateDir, logger: silentLogger() });
  const outcome = await materialize(instance, {});
  if (outcome.kind !== 'resources-failed') return t.fail(outcome.kind);
  t.is(outcome.error, 'the warehouse is unreachable');
  t.deepEqual(materialized, []);
  const log = SqliteEventLog.open(path.join(stateDir, 'events.sqlite'));
  t.like(await log.getRun(outcome.runId), { status: 'FAILURE', error: 'could not open resources: the warehouse is unreachable' });
  await log.close();
});

test('a selection that matches nothing throws the CLI\'s error before anything is opened', async (t) => {
  const stateDir = tempDir('sfpipe-api-');
  const instance = new PipelineInstance(gatedPipeline().pipeline, { stateDir, logger: silentLogger() });
  await t.throwsAsync(materialize(instance, { selection: 'a/nope' }), { message: 'no asset matches key:a/nope; list the assets, groups and owners with: sfpipe lineage' });
  t.false(fs.existsSync(path.join(stateDir, 'events.sqlite')), 'no event log was opened');
});

test('sweepFreshness judges each asset from the event log, records the evaluation and returns it', async (t) => {
  const stateDir = tempDir('sfpipe-api-');
  const instance = new PipelineInstance(gatedPipeline().pipeline, { stateDir, logger: silentLogger() });
  const never = await sweepFreshness(instance, { selection: 'a/first' });
  t.like(never.evaluations[0], { key: 'a/first', state: 'UNKNOWN', previousState: null, changed: true, lastRunId: null });
  const ran = await materialize(instance, { selection: 'a/first' });
  if (ran.kind !== 'ran') return t.fail(ran.kind);
  const now = new Date(Date.parse(ran.result.endedAt) + 60_000);
  const sweep = await sweepFreshness(instance, { now });
  t.is(sweep.evaluatedAt, now.toISOString());
  t.like(sweep.evaluations.find((e) => e.key === 'a/first'), { state: 'PASS', previousState: 'UNKNOWN', changed: true, lastRunId: ran.result.runId });
  t.like(sweep.evaluations.find((e) => e.key === 'a/second'), { state: 'NOT_APPLICABLE' });
  const log = SqliteEventLog.open(path.join(stateDir, 'events.sqlite'));
  t.like(await log.lastFreshness('a/first'), { state: 'PASS', previousState: 'UNKNOWN' });
  await log.close();
});
