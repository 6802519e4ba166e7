import type { FreshnessPolicy } from '../runtime/definitions.js';
import { suggestKeys } from '../runtime/selection/index.js';
import { ConfigError } from './config/config-reader.js';
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

/**
 * A freshness entry must name an asset: a misspelt key would otherwise switch monitoring off
 * without a word (the asset reads NOT_APPLICABLE).
 */
export function assertFreshnessKeysExist(freshness: Record<string, FreshnessConfig>, assetKeys: readonly string[]): void {
  for (const [key, fc] of Object.entries(freshness)) {
    if (assetKeys.includes(key)) continue;
    const close = suggestKeys(key, assetKeys);
    throw new ConfigError(
      `${fc.where}: names no asset. Fix: ${close.length ? `did you mean ${close[0]}? ` : ''}The asset keys are ${assetKeys.join(', ')}`,
    );
  }
}
