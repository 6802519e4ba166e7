import type { AssetCheckDef, CheckOutcome } from '../../runtime/definitions.js';
import type { PipelineConfig } from '../config/pipeline-config.js';
import type { PipelineResources } from '../resources.js';

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The seed's monitoring rules as WARN checks on the raw asset, thresholds from the config. */
export function rawChecks(config: PipelineConfig['checks']): AssetCheckDef<PipelineResources>[] {
  const { min, max } = config.rawRecordCount;
  return [
    {
      name: 'raw_record_count_in_range',
      description: `distinct users in raw within [${min}, ${max}]`,
      severity: 'WARN',
      blocking: false,
      evaluate: async ({ materialization }): Promise<CheckOutcome> => {
        const users = num(materialization.raw_users);
        if (users === null) return { passed: false, description: 'the materialization did not report raw_users' };
        return { passed: users >= min && users <= max, description: `${users} users in raw (expected ${min}..${max})`, metadata: { raw_users: users, min, max } };
      },
    },
    {
      name: 'raw_record_count_change',
      description: `distinct users in raw change by at most ${config.rawRecordCountMaxChangePct}% between materializations`,
      severity: 'WARN',
      blocking: false,
      evaluate: async ({ materialization, previous }): Promise<CheckOutcome> => {
        const now = num(materialization.raw_users);
        const before = num(previous?.metadata.raw_users);
        if (now === null || before === null || before === 0) return { passed: true, description: 'no previous count to compare with' };
        const pct = (Math.abs(now - before) / before) * 100;
        return {
          passed: pct <= config.rawRecordCountMaxChangePct,
          description: `${before} → ${now} users (${pct.toFixed(1)}% change, limit ${config.rawRecordCountMaxChangePct}%)`,
          metadata: { previous: before, current: now, change_pct: Math.round(pct * 10) / 10 },
        };
      },
    },
    {
      name: 'extraction_duration',
      description: `extraction within ${config.extractionMaxDurationMs / 1000} s`,
      severity: 'WARN',
      blocking: false,
      evaluate: async ({ materialization }): Promise<CheckOutcome> => {
        const s = num(materialization.duration_s) ?? 0;
        return { passed: s * 1000 <= config.extractionMaxDurationMs, description: `${s} s (limit ${config.extractionMaxDurationMs / 1000} s)`, metadata: { duration_s: s } };
      },
    },
    {
      name: 'no_quarantined_records',
      description: 'no record was quarantined (no Id, unparseable timestamps)',
      severity: 'WARN',
      blocking: false,
      evaluate: async ({ materialization }): Promise<CheckOutcome> => {
        const q = num(materialization.quarantined) ?? 0;
        return { passed: q === 0, description: q === 0 ? 'none quarantined' : `${q} record(s) quarantined in sf_raw.sf_user_quarantine`, metadata: { quarantined: q } };
      },
    },
  ];
}
