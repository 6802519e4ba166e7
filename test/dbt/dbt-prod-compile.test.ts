import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { locateDbtProject } from '../../assets/dbt/dbt-project.js';
import { runDbt } from '../../assets/dbt/run-dbt.js';
import { silentLogger } from '../../runtime/logging.js';
import { tempDir } from '../helpers/temp.js';

// The Athena profile's prod target (dbt-athena, Iceberg, merge) must compile here with no AWS account: no
// credentials, no instance metadata. dbt-athena would fill its relation cache and look the
// dimension up in Glue, so the cache is off and is_incremental() is assumed by a var.
for (const incremental of [true, false]) {
  test.serial(`dbt compile of the Athena profile's prod target works offline (${incremental ? 'incremental MERGE' : 'full build'} form)`, async (t) => {
    const stateDir = tempDir();
    const project = locateDbtProject(stateDir);
    const outcome = await runDbt({
      project,
      args: ['compile', '--target', 'prod', '--no-populate-cache', '--select', 'stg_sf_user', 'dim_sf_user_scd', '--vars', `{scd_assume_incremental: ${incremental}}`],
      env: {
        SFPIPE_DBT_PROFILE: 'sf_user_pipeline_athena',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_SHARED_CREDENTIALS_FILE: path.join(stateDir, 'no-credentials'),
        AWS_CONFIG_FILE: path.join(stateDir, 'no-config'),
      },
      log: silentLogger(),
    });
    t.is(outcome.exitCode, 0, outcome.errors.join('\n'));
    const compiled = path.join(project.targetPath, 'compiled', 'sf_user_pipeline', 'models', 'marts', 'dim_sf_user_scd.sql');
    const sql = fs.readFileSync(compiled, 'utf8');
    const manifest = JSON.parse(fs.readFileSync(path.join(project.targetPath, 'manifest.json'), 'utf8'));
    const dim = manifest.nodes['model.sf_user_pipeline.dim_sf_user_scd'];
    t.is(dim.config.table_type, 'iceberg');
    t.is(dim.config.incremental_strategy, 'merge');
    t.deepEqual(dim.config.partitioned_by, ['is_current', 'bucket(user_id, 8)']);
    if (incremental) t.regex(sql, /affected_users/);
    else t.notRegex(sql, /affected_users/);
  });
}
