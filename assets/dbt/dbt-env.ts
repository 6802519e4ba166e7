import type { PipelineConfig } from '../config/pipeline-config.js';
import { warehouseEngine } from '../warehouse/engine.js';

/**
 * The environment profiles.yml reads: the target and the engine's settings. `dbt parse` and
 * `dbt build` get the same one, so the build reuses the parse (dbt re-parses the whole project
 * when the rendered profile differs).
 */
export function dbtProfileEnv(config: PipelineConfig, stateDir: string): Record<string, string> {
  return { SFPIPE_DBT_TARGET: config.dbt.target, ...warehouseEngine(config, stateDir).dbtEnv() };
}
