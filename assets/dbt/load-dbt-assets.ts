import fs from 'node:fs';
import type { AssetDef } from '../../runtime/definitions.js';
import { silentLogger } from '../../runtime/logging.js';
import type { PipelineResources } from '../resources.js';
import { dbtAssets } from './dbt-assets.js';
import { locateDbtProject, newestSourceMtime } from './dbt-project.js';
import { manifestPath, modelsFromManifest, readManifestFile } from './manifest.js';
import { runDbt } from './run-dbt.js';

export class DbtManifestError extends Error {
  override name = 'DbtManifestError';
}

/**
 * The dbt models as assets, from target/manifest.json under the state directory. A missing
 * manifest, or one older than the project's files, is regenerated with `dbt parse`.
 */
export async function loadDbtAssets(stateDir: string): Promise<AssetDef<PipelineResources>[]> {
  const project = locateDbtProject(stateDir);
  const file = manifestPath(project.targetPath);
  const stale = !fs.existsSync(file) || fs.statSync(file).mtimeMs < newestSourceMtime(project.projectDir);
  if (stale) {
    fs.mkdirSync(project.targetPath, { recursive: true });
    const outcome = await runDbt({ project, args: ['parse'], env: { SFPIPE_DUCKDB_PATH: process.env.SFPIPE_DUCKDB_PATH ?? '/dev/null' }, log: silentLogger() });
    if (outcome.exitCode !== 0 || !fs.existsSync(file)) {
      throw new DbtManifestError(
        `\`dbt parse\` of ${project.projectDir} failed (exit ${outcome.exitCode}): ${outcome.errors.join(' | ') || 'no message'}. ` +
          `Fix the project, or run: ${project.executable} parse --project-dir ${project.projectDir} --profiles-dir ${project.projectDir}`,
      );
    }
  }
  return dbtAssets(modelsFromManifest(readManifestFile(file)), project);
}
