import type { PipelineConfig } from '../config/pipeline-config.js';
import { warehouseEngine } from '../warehouse/engine.js';

/**
 * The environment dbt's project and profiles.yml read: the engine's profile (SFPIPE_DBT_PROFILE),
 * the stage as its target (SFPIPE_ENV), the stage's schema suffix and the engine's settings. `dbt parse` and
 * `dbt build` get the same one, so the build reuses the parse (dbt re-parses the whole project
 * when the rendered profile differs).
 */
export function dbtProfileEnv(config: PipelineConfig, stateDir: string): Record<string, string> {
  return { ...dbtStageEnv(config), ...warehouseEngine(config, stateDir).dbtEnv() };
}

/** What picks dbt's profile, target and schema names, without the engine's connection settings. */
export function dbtStageEnv(config: PipelineConfig): Record<string, string> {
  return { SFPIPE_DBT_PROFILE: config.dbt.profile, SFPIPE_ENV: config.environment.name, SFPIPE_SCHEMA_SUFFIX: config.environment.schemaSuffix };
}
