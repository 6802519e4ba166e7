/**
 * The SCD-integrity singular test (dbt/tests/assert_dim_sf_user_scd_integrity.sql) catches a
 * corrupted dimension, and through the runtime it blocks everything downstream of the dimension.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { embeddedConfigPath, parsePipelineConfig } from '../../assets/config/load-config.js';
import { dbtProfileEnv } from '../../assets/dbt/dbt-env.js';
import { loadDbtAssets } from '../../assets/dbt/load-dbt-assets.js';
import type { PipelineResources } from '../../assets/resources.js';
import { defineAsset, defineExternalAsset, type AssetDef } from '../../runtime/definitions.js';
import { SqliteEventLog } from '../../runtime/storage/sqlite-event-log.js';
import { executeRun } from '../../runtime/executor.js';
import { silentLogger } from '../../runtime/logging.js';
import { buildAssetGraph } from '../../runtime/registry.js';
import { tempDir } from '../helpers/temp.js';
import { dbt, describeFailures, loadWithWarehouse, readDim, withDuckDb } from './dbt-helpers.js';
import type { Observation } from './scd-oracle.js';

const INTEGRITY = 'assert_dim_sf_user_scd_integrity';
const INTEGRITY_ID = `test.sf_user_pipeline.${INTEGRITY}`;
const DIM = 'sf_curated/dim_sf_user_scd';
const REPORT = 'reports/user_counts';
/** Raw rows extracted long ago: an incremental run (default 60 min lookback) selects none of these users. */
const LONG_AGO = new Date(Date.UTC(2020, 0, 1));

const ms = (iso: string) => Date.parse(iso);
const obs = (id: string, stamp: string, division: string | null, phase: string | null, extra: Partial<Observation> = {}): Observation => ({
  id,
  name: `name-${id}`,
  division,
  audit_phase__c: phase,
  isactive: true,
  isdeleted: null,
  lastmodifieddate: ms(stamp),
  systemmodstamp: ms(stamp),
  ...extra,
});

/** u1: three versions; u2: live then deleted; u3: one version. */
const HISTORY: Observation[] = [
  obs('005I00000001', '2025-01-01T00:00:00.000Z', 'North', 'Phase1'),
  obs('005I00000001', '2025-01-02T00:00:00.000Z', 'South', 'Phase1'),
  obs('005I00000001', '2025-01-03T00:00:00.000Z', 'South', 'Phase1', { name: 'renamed' }),
  obs('005I00000001', '2025-01-04T00:00:00.000Z', 'South', 'Complete'),
  obs('005I00000002', '2025-01-01T00:00:00.000Z', null, 'Phase1'),
  obs('005I00000002', '2025-01-05T00:00:00.000Z', null, 'Phase1', { isdeleted: true, lastmodifieddate: ms('2025-01-01T00:00:00.000Z') }),
  obs('005I00000003', '2025-01-01T00:00:00.000Z', 'North', null),
];
const USERS = 3;

async function integrityTest(stateDir: string, file: string) {
  const call = await dbt(stateDir, file, ['test', '--select', INTEGRITY, '--target', 'dev']);
  const result = call.results.find((r) => r.unique_id === INTEGRITY_ID);
  return { call, result };
}

test.serial('the SCD-integrity test passes on a built dimension and fails on corrupted ones', async (t) => {
  t.timeout(180_000);
  const dir = tempDir('sfpipe-scd-integrity-');
  t.teardown(() => {
    if (t.passed) fs.rmSync(dir, { recursive: true, force: true });
  });
  const file = path.join(dir, 'warehouse.duckdb');
  const stateDir = path.join(dir, 'state');
  await loadWithWarehouse(file, HISTORY, 'integrity-1', LONG_AGO);
  const build = await dbt(stateDir, file, ['build', '--select', 'stg_sf_user', 'dim_sf_user_scd', '--target', 'dev']);
  t.is(build.exitCode, 0, describeFailures(build));

  const clean = await integrityTest(stateDir, file);
  t.is(clean.call.exitCode, 0, describeFailures(clean.call));
  t.is(clean.result?.status, 'pass');
  t.is(clean.result?.failures, 0);

  // Corruption 1: a duplicated version (another key) whose interval overlaps the original's.
  await withDuckDb(file, (run) =>
    run(`INSERT INTO sf_curated.dim_sf_user_scd
         SELECT * REPLACE (md5('dup') AS user_key, valid_from + INTERVAL 1 HOUR AS valid_from)
         FROM sf_curated.dim_sf_user_scd
         WHERE user_id = '005I00000001' AND valid_from = TIMESTAMP '2025-01-02 00:00:00'`),
  );
  const dup = await integrityTest(stateDir, file);
  t.not(dup.call.exitCode, 0, 'dbt test must fail on an overlapping duplicate version');
  t.is(dup.result?.status, 'fail', describeFailures(dup.call));
  t.true((dup.result?.failures ?? 0) > 0, `failures: ${dup.result?.failures}`);

  // Corruption 2: undo 1; two current rows for one user (a closed version reopened).
  await withDuckDb(file, async (run) => {
    await run(`DELETE FROM sf_curated.dim_sf_user_scd WHERE user_key = md5('dup')`);
    await run(`UPDATE sf_curated.dim_sf_user_scd SET valid_to = NULL, is_current = true
               WHERE user_id = '005I00000002' AND NOT is_deleted`);
  });
  const twoCurrent = await integrityTest(stateDir, file);
  t.is(twoCurrent.result?.status, 'fail', describeFailures(twoCurrent.call));
  t.true((twoCurrent.result?.failures ?? 0) > 0);
});

test.serial('through the runtime, a failing SCD-integrity check blocks the dimension and skips its downstream', async (t) => {
  t.timeout(180_000);
  const stateDir = tempDir('sfpipe-scd-integrity-rt-');
  t.teardown(() => {
    if (t.passed) fs.rmSync(stateDir, { recursive: true, force: true });
  });
  // Every run tests every row (dbt.full_test_every: 0s): the corruption below is of a user no run
  // touches, which an incremental run's scoped tests leave to the periodic full test.
  const embedded = fs.readFileSync(embeddedConfigPath(), 'utf8');
  const config = parsePipelineConfig('x.yaml', embedded.replace(/^  full_test_every: .*$/m, '  full_test_every: 0s'));
  t.is(config.dbt.fullTestEveryMs, 0);
  const file = path.resolve(stateDir, config.warehouse.duckdb.path);
  await loadWithWarehouse(file, HISTORY, 'integrity-rt-1', LONG_AGO);

  const dbtDefs = await loadDbtAssets(stateDir, dbtProfileEnv(config, stateDir));
  const dimDef = dbtDefs.find((d) => d.key === DIM);
  t.truthy(dimDef, `the dbt assets include ${DIM}: ${dbtDefs.map((d) => d.key).join(', ')}`);
  const check = dimDef!.checks.find((c) => c.name === INTEGRITY);
  t.like(check, { severity: 'ERROR', blocking: true });

  const reportRuns: number[] = [];
  const report = defineAsset<PipelineResources>({
    key: REPORT,
    deps: [DIM],
    materialize: async () => {
      const rows = await withDuckDb(file, (run) =>
        run(`SELECT count(*) FILTER (WHERE is_current AND NOT is_deleted) AS live, count(*) AS versions FROM sf_curated.dim_sf_user_scd`),
      );
      const live = Number(rows[0]!.live);
      reportRuns.push(live);
      return { metadata: { live_users: live, versions: Number(rows[0]!.versions) } };
    },
  });
  const defs: AssetDef<PipelineResources>[] = [defineExternalAsset({ key: 'sf_raw/sf_user' }), ...dbtDefs, report];
  const graph = buildAssetGraph(defs);
  const eventLog = SqliteEventLog.open(path.join(stateDir, 'events.sqlite'));
  t.teardown(() => eventLog.close());
  const resources = { config, stateDir } as unknown as PipelineResources;
  const runAssets = (keys: string[]) =>
    executeRun({ graph, selection: new Set(keys), selectionText: keys.join(' or '), eventLog, resources, logger: silentLogger(), sleep: async () => {} });

  // Run 1: raw -> staging -> dimension -> report, all green.
  const first = await runAssets(['sf_staging/stg_sf_user', DIM, REPORT]);
  t.is(first.status, 'SUCCESS', JSON.stringify(first.steps.map((s) => [s.key, s.status, s.error, s.reason])));
  t.deepEqual(reportRuns, [2], 'u1 and u3 are live, u2 is deleted');
  const clean = await readDim(file);
  t.is(clean.length, 6);

  // Corrupt u1's current version: its valid_from moves into the previous version's interval.
  await withDuckDb(file, (run) =>
    run(`UPDATE sf_curated.dim_sf_user_scd SET valid_from = TIMESTAMP '2025-01-02 12:00:00'
         WHERE user_id = '005I00000001' AND is_current`),
  );

  // Run 2: no new raw rows, so the incremental dbt build touches no user and the corruption
  // survives into the build's tests.
  const second = await runAssets([DIM, REPORT]);
  const byKey = new Map(second.steps.map((s) => [s.key, s]));
  const dim = byKey.get(DIM)!;
  const rep = byKey.get(REPORT)!;
  const failed = dim.checks.find((c) => c.checkName === INTEGRITY);
  t.is(dim.status, 'SUCCESS', `the model itself builds: ${dim.error}`);
  t.true(dim.blocked, 'the failed blocking check blocks the dimension');
  t.like(failed, { passed: false, severity: 'ERROR' });
  t.regex(failed?.description ?? '', /^\d+ failing row\(s\)/);
  t.true(Number((failed?.metadata as { failures?: number } | undefined)?.failures) > 0);
  t.is(rep.status, 'SKIPPED');
  t.is(rep.reason, `blocking check ${INTEGRITY} on ${DIM} failed`);
  t.deepEqual(reportRuns, [2], 'the report did not run again');
  t.is(second.status, 'FAILURE');

  // The recorded run and check agree; the corrupted row is still there (dbt healed nothing).
  t.is((await eventLog.getRun(second.runId))?.status, 'FAILURE');
  const events = await eventLog.runEvents(second.runId);
  t.true(events.some((e) => e.type === 'STEP_SKIPPED' && e.assetKey === REPORT));
  const after = await readDim(file);
  t.true(after.some((r) => r.user_id === '005I00000001' && r.is_current && r.valid_from === ms('2025-01-02T12:00:00.000Z')));
  t.is(after.filter((r) => r.user_id !== '005I00000001').length, clean.filter((r) => r.user_id !== '005I00000001').length);
  t.is(new Set(after.map((r) => r.user_id)).size, USERS);
});
