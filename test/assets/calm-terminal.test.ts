/**
 * `sfpipe materialize` at a terminal, on the embedded default (simulator, DuckDB, dbt-duckdb),
 * under a real pseudo-terminal: what the screen shows once the run is over, with redraws
 * replaced as a terminal replaces them (test/helpers/screen.ts). A calm screen: one line per
 * asset, its failed checks by column and count, warnings once, the run's line; every detail at
 * --log-level debug.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { embeddedConfigPath } from '../../assets/config/load-config.js';

import { runPipelineCli, runPipelineCliInTerminal } from '../helpers/cli.js';
import { finalScreen } from '../helpers/screen.js';
import { tempDir } from '../helpers/temp.js';
import { queryFile } from './fixtures/duckdb-fixture.js';

const COLUMNS = 160;
const screenOf = (output: string) => finalScreen(output, COLUMNS);

test('an incremental run at a terminal is a few lines; a failing check is there, readable; --log-level debug shows every detail', async (t) => {
  const home = tempDir('sfpipe-calm-');
  const env = { SFPIPE_HOME: home };
  const first = await runPipelineCli(['materialize', '--json'], env);
  t.is(first.code, 0, first.stderr);

  const ok = await runPipelineCliInTerminal(['materialize'], env, COLUMNS);
  const screen = screenOf(ok.output);
  const shown = screen.join('\n');
  t.is(ok.code, 0, shown);
  t.true(screen.length <= 15, `${screen.length} lines:\n${shown}`);
  t.regex(shown, /^✓ sf_raw\/sf_user {2}incremental rest: \d+ records, \d+ new versions, 0 quarantined, 0 tombstones, \d+ API calls {2}\S+$/m);
  t.regex(shown, /^✓ sf_staging\/stg_sf_user {2}\d+ observations of \d+ users {2}\S+$/m);
  t.regex(shown, /^✓ sf_curated\/dim_sf_user_scd {2}\d+ versions of \d+ users; this run opened \d+ and closed \d+ {2}\S+$/m);
  // The seeded invalid values: each test by its column and its count, once, under its asset.
  const dimLine = screen.findIndex((l) => l.startsWith('✓ sf_curated/dim_sf_user_scd'));
  t.deepEqual(
    screen.slice(dimLine + 1, dimLine + 3).map((l) => l.replace(/\d+ failing rows?/, 'N failing rows')),
    ['    ⚠ accepted_values on audit_phase__c: N failing rows (WARN)', '    ⚠ accepted_values on division: N failing rows (WARN)'],
  );
  t.is(screen.filter((l) => l.includes('accepted_values')).length, 2, shown);
  t.is(screen.filter((l) => l.includes('User has no field IsDeleted')).length, 1, shown);
  t.regex(screen.at(-1)!, /^run [0-9a-f-]{36} SUCCESS in \S+: 3 succeeded, 2 checks warned$/);
  t.notRegex(shown, /dbt:|dbtEvent|metadata=|compiled code at|\{"/, 'no dbt event lines and no metadata JSON');
  // While they ran, each had a live line (drawn, then replaced by its outcome).
  const uncoloured = ok.output.replace(/\u001b\[[0-9;]*m/g, '');
  t.true(uncoloured.includes('▸ sf_raw/sf_user'), 'a live line for the extraction');
  t.true(uncoloured.includes('▸ sf_curated/dim_sf_user_scd'), 'a live line for the dimension');

  // Two current versions of one user: the blocking SCD-integrity test fails, and the run. The
  // user is not one the run touches, so the runs test every row (dbt.full_test_every: 0s).
  const config = path.join(home, 'full-test.yaml');
  const embedded = fs.readFileSync(embeddedConfigPath(), 'utf8');
  fs.writeFileSync(config, embedded.replace(/^  full_test_every: .*$/m, '  full_test_every: 0s'));
  t.not(fs.readFileSync(config, 'utf8'), embedded, 'the embedded config sets dbt.full_test_every');
  const fullTestEnv = { ...env, SFPIPE_CONFIG: config };
  await queryFile(
    `${home}/warehouse.duckdb`,
    `insert into sf_curated.dim_sf_user_scd (user_key, user_id, name, division, audit_phase__c, is_active, is_deleted, update_date, valid_from, valid_to, is_current, _scd_id, _dbt_updated_at)
     select 'calm-' || n, '005CALM0000000AAAA', name, division, audit_phase__c, is_active, is_deleted, update_date, valid_from + n * interval 1 day, null, true, _scd_id, _dbt_updated_at
     from (select * from sf_curated.dim_sf_user_scd limit 1), range(2) t(n)`,
  );
  const failing = await runPipelineCliInTerminal(['materialize'], fullTestEnv, COLUMNS);
  const failed = screenOf(failing.output);
  const failedText = failed.join('\n');
  t.is(failing.code, 1, failedText);
  t.true(failed.length <= 15, `${failed.length} lines:\n${failedText}`);
  t.true(failed.includes('    ✗ assert_dim_sf_user_scd_integrity: 2 failing rows (ERROR, blocks downstream)'), failedText);
  t.true(failed.includes('    ✗ exactly_one_true_per_group on is_current: 1 failing row (ERROR)'), failedText);
  t.regex(failed.at(-1)!, /^run ([0-9a-f]{8})[0-9a-f-]{28} FAILURE in \S+: 3 succeeded, 2 checks failed, 2 checks warned — every event: sfpipe events \1$/);

  // Every detail at --log-level debug, on the same terminal.
  const debug = await runPipelineCliInTerminal(['--log-level', 'debug', 'materialize'], fullTestEnv, COLUMNS);
  const detail = screenOf(debug.output).join('\n');
  t.is(debug.code, 1);
  t.regex(detail, /dbtEvent=LogStartLine/);
  t.regex(detail, /\[sf_curated\/dim_sf_user_scd\] materialized metadata=\{/);
  t.regex(detail, /\[sf_curated\/dim_sf_user_scd\] check assert_dim_sf_user_scd_integrity failed \(ERROR, blocking\): 2 failing row\(s\)/);
  t.regex(detail, /^run [0-9a-f-]{36} FAILURE$/m, 'the full run result on stdout');
});
