import { defineExternalAsset, type AssetDef } from '../runtime/definitions.js';
import { resolveStateDir } from '../runtime/state.js';
import type { Logger } from '../runtime/logging.js';
import type { OpenedResources, Pipeline } from '../runtime/pipeline.js';
import type { PipelineConfig } from './config/pipeline-config.js';
import { registerPipelineCommands } from './cli/commands.js';
import { loadPipelineConfig } from './config/load-config.js';
import { DEFAULT_ENVIRONMENT, describeEnvironment, ENV_VARIABLE, ENVIRONMENTS } from './config/environment.js';
import { sfUserAsset } from './raw/sf-user-asset.js';
import { assertFreshnessKeysExist, freshnessPolicy } from './freshness-policies.js';
import { createResources, resolveEndpoint, type PipelineResources } from './resources.js';
import type { SfUserSensorOptions } from './sensors/sf-user-changes.js';
import type { RunningSimulator } from './salesforce/embedded-simulator.js';

/** The Salesforce User history pipeline. */
export const salesforceUser = defineExternalAsset({
  key: 'salesforce/User',
  description: 'The Salesforce User object (external source; read through the REST and Bulk API 2.0)',
  group: 'salesforce',
  kinds: ['salesforce'],
  owners: ['team:data-platform'],
});

/**
 * The pipeline with its dbt models read from the dbt manifest. When dbt cannot be loaded, the
 * models are still declared, as unavailable assets with the reason: a run that selects them (any
 * run without --select) fails, and `lineage` / `check` show them. Whether that is an error here
 * or only a machine not set up yet (no dbt before `make setup`) is dbtExpected's rule.
 */
export async function loadPipeline(): Promise<Pipeline<PipelineResources>> {
  return { ...pipelineBase, definitions: loadDefinitions, incompleteDefinitions: () => dbtUnavailable };
}

/** Why the dbt models could not be loaded in this process (null: they were, or not tried yet). */
let dbtUnavailable: string | null = null;

async function loadDefinitions(): Promise<AssetDef<PipelineResources>[]> {
  const config = loadPipelineConfig();
  const stateDir = resolveStateDir();
  const others = [salesforceUser, sfUserAsset(config)];
  const { loadDbtAssets, dbtExpected, unavailableDbtAssets } = await import('./dbt/load-dbt-assets.js');
  const { dbtProfileEnv, dbtStageEnv } = await import('./dbt/dbt-env.js');
  let parseEnv: Record<string, string>;
  try {
    parseEnv = dbtProfileEnv(config, stateDir);
  } catch {
    // The engine's settings cannot be read here (e.g. a secret): parse without them; the run reports it.
    parseEnv = dbtStageEnv(config);
  }
  let dbt: AssetDef<PipelineResources>[];
  let dbtLoaded = false;
  try {
    dbt = await loadDbtAssets(stateDir, parseEnv);
    dbtLoaded = true;
  } catch (err) {
    const reason = (err as Error).message;
    dbtUnavailable = `the dbt assets are unavailable here: ${reason}`;
    const known = { otherKeys: others.map((d) => d.key), configuredKeys: Object.keys(config.freshness) };
    dbt = unavailableDbtAssets(stateDir, known, { reason, expected: dbtExpected(err, config.warehouse.engine) });
  }
  // Freshness policies for the dbt models come from the same config.
  const withFreshness = dbt.map((d) => {
    const freshness = freshnessPolicy(config.freshness[d.key]);
    return freshness ? { ...d, freshness } : d;
  });
  const definitions = [...others, ...withFreshness];
  // Without dbt's models the keys of their entries cannot be judged (the unavailable assets say why).
  if (dbtLoaded) assertFreshnessKeysExist(config.freshness, definitions.map((d) => d.key));
  return definitions;
}

/** The resources a run (or a sensor's session) opens; the embedded simulator is started on first use. */
async function openPipelineResources(config: PipelineConfig, stateDir: string, logger: Logger, o: { advanceOrg: boolean }): Promise<OpenedResources<PipelineResources>> {
  let sim: RunningSimulator | null = null;
  return {
    resources: createResources({
      config,
      stateDir,
      logger,
      endpoint: () =>
        resolveEndpoint(config, async () => {
          const { startEmbeddedSimulator } = await import('./salesforce/embedded-simulator.js');
          sim = await startEmbeddedSimulator(config, stateDir, logger, { advance: o.advanceOrg });
          return sim;
        }),
    }),
    close: async () => {
      await (sim as RunningSimulator | null)?.close();
    },
  };
}

const pipelineBase: Omit<Pipeline<PipelineResources>, 'definitions'> = {
  name: 'sf-user-pipeline',
  program: 'sfpipe',
  description: 'Dagster-style asset runtime for the Salesforce User history pipeline',
  // dev, staging, prod: --env / SFPIPE_ENV picks the config overlay (assets/config/environment.ts).
  environments: { names: ENVIRONMENTS, defaultName: DEFAULT_ENVIRONMENT, variable: ENV_VARIABLE, describe: () => describeEnvironment(loadPipelineConfig()) },
  metrics: {
    prefix: 'sfpipe_',
    // What the raw step and the dbt models record in their materializations (assets/raw, assets/dbt).
    fromMetadata: [
      { metadata: 'records_fetched', name: 'records_extracted', help: 'Records read from the source in the last run' },
      { metadata: 'versions_inserted', name: 'versions_inserted', help: 'New raw versions in the last run' },
      { metadata: 'versions_opened', name: 'versions_opened', help: 'SCD versions opened in the last run' },
      { metadata: 'versions_closed', name: 'versions_closed', help: 'SCD versions closed in the last run' },
      { metadata: 'quarantined', name: 'records_quarantined', help: 'Records quarantined in the last run' },
      { metadata: 'api_calls_total', name: 'api_calls', help: 'Source API calls in the last run' },
      { metadata: 'api_usage.remaining', name: 'api_quota_remaining', help: 'Daily API calls left at the end of the last run' },
    ],
  },
  chartedMetadata: ['records_fetched', 'versions_inserted', 'versions_opened', 'versions_closed', 'versions', 'current_versions', 'observations', 'users', 'api_calls_total', 'quarantined', 'tombstones', 'rows'],
  async openResources({ stateDir, logger: cliLogger, runId }) {
    // Resource log lines (simulator, warehouse statements) belong to the run.
    return openPipelineResources(loadPipelineConfig(), stateDir, cliLogger.child({ runId }), { advanceOrg: true });
  },
  /** The event log the config names: objects in S3 (shared by every CronJob run) or the SQLite file in the state directory. */
  async openEventLog({ stateDir, logger }) {
    const { eventLog } = loadPipelineConfig();
    if (eventLog.store === 's3') {
      // Loaded on use: the S3 SDK stays out of `sfpipe --help`.
      const { S3EventLog } = await import('./stores/s3-event-log.js');
      logger.debug(`event log: ${eventLog.location} (region ${eventLog.region}${eventLog.endpoint ? `, endpoint ${eventLog.endpoint}` : ''})`);
      return new S3EventLog({ location: eventLog.location, region: eventLog.region, endpoint: eventLog.endpoint });
    }
    const [{ SqliteEventLog }, path] = await Promise.all([import('../runtime/storage/sqlite-event-log.js'), import('node:path')]);
    return SqliteEventLog.open(path.join(stateDir, 'events.sqlite'));
  },
  async observability({ logger }) {
    const { observabilityFrom } = await import('./config/alert-destinations.js');
    return observabilityFrom(loadPipelineConfig(), process.env, logger);
  },
  // The Salesforce change sensors: polled (`sfpipe sensor tick sf_user_changes`), a session per tick,
  // and pushed (`sfpipe sensor watch sf_user_cdc`), a session per subscription; both through the
  // same resources a run opens (the embedded simulator is started in simulator mode).
  async sensors() {
    const [{ sfUserChangesSensor }, { sfUserCdcSensor }] = await Promise.all([import('./sensors/sf-user-changes.js'), import('./sensors/sf-user-cdc.js')]);
    const config = loadPipelineConfig();
    const salesforce: SfUserSensorOptions['salesforce'] = async ({ log, signal, tickId }) => {
      // A tick only looks: the embedded simulator's org does not move on for it.
      const opened = await openPipelineResources(config, resolveStateDir(), log.child({ runId: tickId }), { advanceOrg: false });
      try {
        return { api: await opened.resources.salesforce({ log, signal }), close: () => opened.close() };
      } catch (err) {
        await opened.close();
        throw err;
      }
    };
    return [
      sfUserChangesSensor({ config, salesforce }),
      sfUserCdcSensor({
        salesforce,
        unsupported:
          config.salesforce.mode === 'simulator' && !config.salesforce.loginUrl
            ? "push mode needs a Salesforce that keeps running between runs, and the embedded simulator lives only as long as one run: start one with `sfpipe sim serve --state-file <file>` and set salesforce.login_url to its URL (or use mode: salesforce)"
            : null,
      }),
    ];
  },
  registerCommands: registerPipelineCommands,
  async ui(ctx) {
    const { pipelineUi } = await import('./ui/pipeline-ui.js');
    return pipelineUi(ctx);
  },
};
