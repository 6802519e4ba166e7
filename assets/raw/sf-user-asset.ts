import { defineAsset, type AssetDef } from '../../runtime/definitions.js';
import type { PipelineConfig } from '../config/pipeline-config.js';
import { freshnessPolicy } from '../freshness-policies.js';
import type { PipelineResources } from '../resources.js';
import { rawChecks } from './raw-checks.js';

export const SF_USER_KEY = 'sf_raw/sf_user';

/** The raw extraction asset, with the freshness policy and checks the config gives it. */
export function sfUserAsset(config: Pick<PipelineConfig, 'freshness' | 'checks'>): AssetDef<PipelineResources> {
  const freshness = freshnessPolicy(config.freshness[SF_USER_KEY]);
  return defineAsset<PipelineResources>({
    key: SF_USER_KEY,
    deps: ['salesforce/User'],
    description: 'Append-only log of observed Salesforce User versions, one row per (id, systemmodstamp), loaded idempotently',
    group: 'sf_raw',
    kinds: ['typescript', 'salesforce'],
    owners: ['team:data-platform'],
    tags: { layer: 'raw', source: 'salesforce' },
    codeVersion: '1',
    ...(freshness ? { freshness } : {}),
    checks: rawChecks(config.checks),
    // Transient Salesforce errors are retried per request (assets/salesforce/api.ts); a whole
    // re-extraction would spend the API quota again for nothing.
    retry: { maxRetries: 0 },
    // Loaded on use so that `sfpipe lineage` never pays for jsforce.
    materialize: async (ctx) => (await import('./extract-sf-user.js')).extractSfUser(ctx),
  });
}
