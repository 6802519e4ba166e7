/**
 * dbt's targets are the stages: run by hand (no SFPIPE_SCHEMA_SUFFIX), the dev target of a shared
 * warehouse builds into the developer's schemas, staging into `_staging`, prod into the plain
 * names; the runtime's SFPIPE_SCHEMA_SUFFIX wins. Read from the manifest of an offline `dbt parse`.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { locateDbtProject } from '../../assets/dbt/dbt-project.js';
import { runDbt } from '../../assets/dbt/run-dbt.js';
import { silentLogger } from '../../runtime/logging.js';
import { tempDir } from '../helpers/temp.js';

async function schemas(target: string, env: Record<string, string>): Promise<string[]> {
  const project = locateDbtProject(tempDir());
  const outcome = await runDbt({
    project,
    args: ['parse', '--target', target],
    env: { SFPIPE_DBT_PROFILE: 'sf_user_pipeline_athena', AWS_EC2_METADATA_DISABLED: 'true', ...env },
    log: silentLogger(),
  });
  if (outcome.exitCode !== 0) throw new Error(outcome.errors.join('\n'));
  const manifest = JSON.parse(fs.readFileSync(path.join(project.targetPath, 'manifest.json'), 'utf8')) as { nodes: Record<string, { resource_type: string; schema: string; config: { materialized: string } }> };
  return [...new Set(Object.values(manifest.nodes).filter((n) => n.resource_type === 'model' && n.config.materialized !== 'ephemeral').map((n) => n.schema))].sort();
}

test.serial('by hand, the dev target builds into _<developer> schemas, staging into _staging, prod into the plain names; SFPIPE_SCHEMA_SUFFIX wins', async (t) => {
  t.deepEqual(await schemas('dev', { SFPIPE_DEVELOPER: 'Alice.B' }), ['sf_curated_alice_b', 'sf_staging_alice_b']);
  t.deepEqual(await schemas('staging', {}), ['sf_curated_staging', 'sf_staging_staging']);
  t.deepEqual(await schemas('prod', { SFPIPE_SCHEMA_SUFFIX: '' }), ['sf_curated', 'sf_staging']);
});
