import fs from 'node:fs';
import { defineUnavailableAsset, type AssetDef, type Unavailability } from '../../runtime/definitions.js';
import type { AssetKey } from '../../runtime/keys.js';
import { silentLogger } from '../../runtime/logging.js';
import type { PipelineResources } from '../resources.js';
import { dbtAssets, modelAssetSpec } from './dbt-assets.js';
import { locateDbtProject, newestSourceMtime } from './dbt-project.js';
import { manifestPath, modelsFromManifest, readManifestFile, type DbtModelAsset } from './manifest.js';
import { DbtNotFoundError, runDbt } from './run-dbt.js';

export class DbtManifestError extends Error {
  override name = 'DbtManifestError';
}

/**
 * The dbt models as assets, from target/manifest.json under the state directory. A missing
 * manifest, or one older than the project's files, is regenerated with `dbt parse`, in the
 * environment `dbt build` will have (`profileEnv`), so that the build reuses that parse.
 */
export async function loadDbtAssets(stateDir: string, profileEnv: Record<string, string>): Promise<AssetDef<PipelineResources>[]> {
  const project = locateDbtProject(stateDir);
  const file = manifestPath(project.targetPath);
  const stale = !fs.existsSync(file) || fs.statSync(file).mtimeMs < newestSourceMtime(project.projectDir);
  if (stale) {
    fs.mkdirSync(project.targetPath, { recursive: true });
    const outcome = await runDbt({ project, args: ['parse'], env: profileEnv, log: silentLogger() });
    if (outcome.exitCode !== 0 || !fs.existsSync(file)) {
      // dbt's own error lines; a dbt that crashed before logging (a Python traceback) left only stderr.
      const said = (outcome.errors.length ? outcome.errors : outcome.stderr.slice(-2)).map((l) => l.replace(/\s*\n\s*/g, ' ').trim()).join(' | ') || 'no message';
      throw new DbtManifestError(
        `\`dbt parse\` of ${project.projectDir} failed (exit ${outcome.exitCode}): ${said}${/[.!?]$/.test(said) ? '' : '.'} ` +
          `Fix: correct what dbt names (a model, profiles.yml, a missing adapter, or dbt's environment); to see dbt's whole output, run ` +
          `${project.executable} parse --project-dir ${project.projectDir} --profiles-dir ${project.projectDir}`,
      );
    }
  }
  return dbtAssets(modelsFromManifest(readManifestFile(file)), project);
}

/**
 * Whether dbt must load on this machine, so that failing to load the dbt assets is an error and not
 * only a machine that is not set up yet (README, "The dbt project"). It is expected when:
 * - `SFPIPE_DBT` is set (the image sets it): dbt was put there on purpose;
 * - the process runs in a cluster (`KUBERNETES_SERVICE_HOST`);
 * - the warehouse is not DuckDB (Athena or Trino: nothing to fall back to);
 * - dbt is there (`.venv/bin/dbt` after `make setup`, or `dbt` on PATH) and failed: a broken model,
 *   profile or adapter is a broken pipeline wherever it happens.
 * What is left is a developer machine that never ran `make setup`: no dbt at all, on DuckDB.
 */
export function dbtExpected(cause: unknown, engine: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.SFPIPE_DBT) || Boolean(env.KUBERNETES_SERVICE_HOST) || engine !== 'duckdb' || !(cause instanceof DbtNotFoundError);
}

/**
 * The dbt models as unavailable assets, so that they are shown, and fail the runs that select them,
 * instead of going missing. They are the models as last known: from the manifest dbt last wrote
 * here (keys, deps and checks); else, as the config may name only assets, its freshness entries
 * that name none of `otherKeys`; else one asset `dbt` stands for the models.
 */
export function unavailableDbtAssets(
  stateDir: string,
  known: { otherKeys: readonly AssetKey[]; configuredKeys: readonly AssetKey[] },
  unavailable: Unavailability,
): AssetDef<PipelineResources>[] {
  const models = lastKnownModels(stateDir);
  if (models) {
    const keys = new Set([...known.otherKeys, ...models.map((m) => m.key)]);
    return models.map((m) => {
      const spec = modelAssetSpec(m);
      return defineUnavailableAsset<PipelineResources>({ ...spec, deps: spec.deps.filter((d) => keys.has(d)), unavailable });
    });
  }
  const keys = known.configuredKeys.filter((k) => !known.otherKeys.includes(k));
  const placeholders = keys.length
    ? keys.map((key) => ({ key, description: 'dbt model (known from the config; dbt could not load the project)', group: key.split('/')[0] ?? 'dbt' }))
    : [{ key: 'dbt', description: 'the dbt models (their keys are known once dbt loads the project)', group: 'dbt' }];
  return placeholders.map((p) => defineUnavailableAsset<PipelineResources>({ ...p, kinds: ['dbt'], owners: ['team:data-platform'], unavailable }));
}

function lastKnownModels(stateDir: string): DbtModelAsset[] | null {
  try {
    const models = modelsFromManifest(readManifestFile(manifestPath(locateDbtProject(stateDir).targetPath)));
    return models.length ? models : null;
  } catch {
    return null; // none yet, or unreadable: the fallbacks
  }
}
