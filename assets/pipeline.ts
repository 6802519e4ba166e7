import { defineExternalAsset } from '../runtime/definitions.js';
import type { Pipeline } from '../runtime/pipeline.js';
import { registerSimCommands } from './cli/sim-command.js';
import { loadPipelineConfig } from './config/load-config.js';
import { sfUserAsset } from './raw/sf-user-asset.js';
import { createResources, resolveEndpoint, type PipelineResources } from './resources.js';
import type { RunningSimulator } from './simulator-endpoint.js';

/** The Salesforce User history pipeline. */
export const salesforceUser = defineExternalAsset({
  key: 'salesforce/User',
  description: 'The Salesforce User object (external source; read through the REST and Bulk API 2.0)',
  group: 'salesforce',
  kinds: ['salesforce'],
  owners: ['team:data-platform'],
});

export const pipeline: Pipeline<PipelineResources> = {
  name: 'sf-user-pipeline',
  definitions: [salesforceUser, sfUserAsset],
  async openResources({ stateDir, logger }) {
    const config = loadPipelineConfig();
    let sim: RunningSimulator | null = null;
    return {
      resources: createResources({
        config,
        stateDir,
        logger,
        endpoint: () =>
          resolveEndpoint(config, async () => {
            const { startEmbeddedSimulator } = await import('./simulator-endpoint.js');
            sim = await startEmbeddedSimulator(config, stateDir, logger);
            return sim;
          }),
      }),
      close: async () => {
        await (sim as RunningSimulator | null)?.close();
      },
    };
  },
  registerCommands: registerSimCommands,
};
