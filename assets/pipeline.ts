import { defineExternalAsset } from '../runtime/definitions.js';
import type { Pipeline } from '../runtime/pipeline.js';

/** The Salesforce User history pipeline. */
export const salesforceUser = defineExternalAsset({
  key: 'salesforce/User',
  description: 'The Salesforce User object (external source; read through the REST and Bulk 2.0 APIs)',
  group: 'salesforce',
  kinds: ['salesforce'],
  owners: ['team:data-platform'],
});

export const pipeline: Pipeline<Record<string, never>> = {
  name: 'sf-user-pipeline',
  definitions: [salesforceUser],
  async openResources() {
    return { resources: {}, close: async () => {} };
  },
};
