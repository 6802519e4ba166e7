import type { Metadata } from '../../runtime/definitions.js';
import type { Logger } from '../../runtime/logging.js';
import { defineSensor, type SensorDef, type SensorResult } from '../../runtime/sensors.js';
import type { PipelineConfig } from '../config/pipeline-config.js';
import type { SalesforceApi } from '../salesforce/api.js';

/** The sensor's name: runs it requests are recorded with the trigger `sensor:sf_user_changes`. */
export const SF_USER_SENSOR = 'sf_user_changes';
export const RAW_ASSET = 'sf_raw/sf_user';
/** The raw asset and everything downstream of it (staging, the dimension). */
export const SF_USER_SENSOR_TARGET = `${RAW_ASSET}+`;

/** A Salesforce session for one tick, closed after it. */
export interface SensorSalesforce {
  api: SalesforceApi;
  close(): Promise<void>;
}

export interface SfUserSensorOptions {
  config: PipelineConfig;
  /** Logs in (the embedded simulator is started by it in simulator mode). */
  salesforce(opts: { log: Logger; signal: AbortSignal; tickId: string }): Promise<SensorSalesforce>;
  minimumIntervalSeconds?: number;
}

/**
 * Requests a run of sf_raw/sf_user+ when Salesforce's User object moved past the committed raw
 * watermark. One API call a tick: the newest SystemModstamp (`ORDER BY … DESC LIMIT 1`, which
 * Salesforce answers from the SystemModstamp index; exact, where a COUNT() since the watermark
 * would say as much and cost the same). A tick while a run holds the run lock makes no call and
 * requests nothing (the run under way picks the change up, or the next tick sees it).
 *
 * Not seen: a change committed late with a SystemModstamp older than the newest one already seen
 * (the extraction's lookback exists for those): the next run picks it up, whatever starts it.
 */
export function sfUserChangesSensor(o: SfUserSensorOptions): SensorDef {
  const src = o.config.source;
  return defineSensor({
    name: SF_USER_SENSOR,
    description: `Runs ${SF_USER_SENSOR_TARGET} when ${src.object}'s newest ${src.cursorField} is after raw's committed watermark (one API call a tick)`,
    minimumIntervalSeconds: o.minimumIntervalSeconds ?? 60,
    target: SF_USER_SENSOR_TARGET,
    async evaluate(ctx): Promise<SensorResult> {
      const holder = await ctx.runLockHolder();
      if (holder) {
        return { skipReason: `run ${holder.runId} holds the run lock (since ${holder.since}): not doubled; no API call made` };
      }
      const last = await ctx.lastMaterialization(RAW_ASSET);
      const wm = last?.metadata.watermark_after;
      const watermark = typeof wm === 'string' && Number.isFinite(Date.parse(wm)) ? new Date(wm).toISOString() : null;

      const sf = await o.salesforce({ log: ctx.log, signal: ctx.signal, tickId: ctx.tickId });
      let newest: string | null;
      const metadata: Metadata = { watermark };
      try {
        const soql = `SELECT ${src.cursorField} FROM ${src.object} ORDER BY ${src.cursorField} DESC LIMIT 1`;
        const res = await sf.api.request<{ records: Record<string, unknown>[] }>('sensor', {
          method: 'GET',
          url: `/services/data/v${o.config.salesforce.apiVersion}/query?q=${encodeURIComponent(soql)}`,
        });
        const value = res.body.records[0]?.[src.cursorField];
        newest = typeof value === 'string' ? toIso(value) : null;
        metadata.newest = newest;
        metadata.api_calls = { ...sf.api.callsByKind };
        metadata.api_usage = sf.api.usage ? { used: sf.api.usage.used, limit: sf.api.usage.limit } : null;
        // The budget guard: a run needs at least a describe and a query; a tick that finds the
        // budget spent requests none (the run would fail at its guard anyway).
        const left = sf.api.budgetLeft;
        metadata.api_budget_left = left;
        if (left !== null && left < 2 && (newest !== null && (watermark === null || newest > watermark))) {
          return {
            skipReason: `${src.object} changed (newest ${src.cursorField} ${newest}) but the API budget guard leaves ${left} call(s) of this session's share (source.api_budget_share): no run requested`,
            metadata,
          };
        }
      } finally {
        await sf.close();
      }
      if (newest === null) return { skipReason: `${src.object} has no records visible to the integration user`, metadata };
      if (watermark !== null && newest <= watermark) {
        return { skipReason: `no change: the newest ${src.cursorField} ${newest} is not after raw's committed watermark ${watermark}`, cursor: newest, metadata };
      }
      return {
        runRequests: [{ runKey: `${src.object}.${src.cursorField}=${newest}` }],
        cursor: newest,
        metadata: { ...metadata, reason: watermark === null ? 'raw has never been loaded' : `the newest ${src.cursorField} ${newest} is after the watermark ${watermark}` },
      };
    },
  });
}

/** Salesforce's `2025-05-01T10:30:00.000+0000` (or ISO) as an ISO string in UTC, comparable as text. */
function toIso(value: string): string | null {
  const ms = Date.parse(value.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}
