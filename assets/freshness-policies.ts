import type { FreshnessPolicy } from '../runtime/definitions.js';
import type { FreshnessConfig } from './config/pipeline-config.js';

/** The runtime's policy for an asset from its config entry; data time reads the raw asset's watermark. */
export function freshnessPolicy(fc: FreshnessConfig | undefined): FreshnessPolicy | undefined {
  if (!fc) return undefined;
  const dataTime = fc.dataTime ? { dataTime: { metadataKey: 'watermark_after', sourceTimeKey: 'source_time' } } : {};
  if (fc.cron) {
    return { kind: 'cron', deadlineCron: fc.cron, lowerBoundDeltaMs: fc.lowerBoundDeltaMs ?? 0, ...(fc.timezone ? { timezone: fc.timezone } : {}), ...dataTime };
  }
  return { kind: 'time_window', failAfterMs: fc.failAfterMs!, ...(fc.warnAfterMs !== undefined ? { warnAfterMs: fc.warnAfterMs } : {}), ...dataTime };
}
