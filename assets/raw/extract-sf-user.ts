import type { MaterializeContext, Metadata } from '../../runtime/definitions.js';
import { StepError } from '../../runtime/errors.js';
import type { PipelineResources } from '../resources.js';
import type { SalesforceApi } from '../salesforce/api.js';
import { bulkQueryPages } from '../salesforce/bulk-query.js';
import { planFields, type DescribeField } from '../salesforce/describe.js';
import { convertRecord } from '../salesforce/records.js';
import { restQueryPages } from '../salesforce/rest-query.js';
import { extractionQuery } from '../salesforce/soql.js';
import type { RawLoad } from '../warehouse/raw-warehouse.js';
import { createProgress } from './progress.js';

interface Counters {
  fetched: number;
  staged: number;
  quarantined: number;
}

/**
 * Extracts Salesforce User versions into sf_raw.sf_user: incremental on the cursor
 * (`>= watermark - lookback`), everything on the first run or a full refresh (which
 * also tombstones records no longer returned). The load commits atomically and the
 * watermark is read back from committed raw rows, so it never runs ahead of the data.
 */
export async function extractSfUser(ctx: MaterializeContext<PipelineResources>): Promise<{ metadata: Metadata }> {
  const { config } = ctx.resources;
  const src = config.source;
  const log = ctx.log;
  const startedAt = Date.now();
  const api = await ctx.resources.salesforce({ log, signal: ctx.signal });
  const version = config.salesforce.apiVersion;

  const describe = await api.request<{ fields: DescribeField[] }>('describe', { method: 'GET', url: `/services/data/v${version}/sobjects/${src.object}/describe` });
  const plan = planFields(src.object, src.columns, describe.body.fields);
  const required = plan.missing.filter((m) => !(m.optional ?? m.name.toLowerCase() === 'isdeleted'));
  if (required.length > 0) {
    // Hidden by field-level security or renamed: read as null, a tracked field would open false SCD versions.
    const names = required.map((m) => m.name).join(', ');
    throw new StepError(
      `${src.object} has no field ${names} visible to the integration user (not in its describe). ` +
        `Fix: grant the integration user read access to ${names}, correct the name in source.columns, or mark the column optional: true there`,
      { retryable: false },
    );
  }
  for (const m of plan.missing) log.warn(`${src.object} has no field ${m.name}; it is not queried and its raw column stays null`);

  const warehouse = await ctx.resources.rawWarehouse({ log, signal: ctx.signal });
  log.info(`raw warehouse: ${warehouse.engine} at ${warehouse.location}`);
  let load: RawLoad | null = null;
  try {
    const { added } = await warehouse.ensureRawTables(src.columns.map((c) => ({ name: c.name.toLowerCase(), type: c.type })));
    if (added.length) log.info(`added raw columns: ${added.join(', ')}`);
    const cursor = src.cursorField.toLowerCase();
    const watermarkBefore = await warehouse.watermark(cursor);
    const full = ctx.fullRefresh || watermarkBefore === null;
    const since = full ? null : new Date(watermarkBefore!.getTime() - src.lookbackMs);
    const soql = extractionQuery({ object: src.object, fields: plan.selected.map((c) => c.name), cursorField: src.cursorField, since });
    log.info(`${full ? 'full' : 'incremental'} extraction: ${soql}`);

    const extractedAt = new Date();
    load = await warehouse.beginLoad(ctx.runId, extractedAt);
    const counters: Counters = { fetched: 0, staged: 0, quarantined: 0 };
    const progress = await createProgress(log, `extracting ${src.object}`, { status: ctx.status });
    const stage = async (records: Record<string, unknown>[], fromCsv: boolean) => {
      const rows = [];
      const bad = [];
      for (const r of records) {
        const c = convertRecord(r, plan.selected, fromCsv);
        if ('row' in c) rows.push(c.row);
        else bad.push(c.quarantine);
      }
      if (rows.length) await load!.append(rows);
      if (bad.length) await load!.quarantine(bad);
      counters.fetched += records.length;
      counters.staged += rows.length;
      counters.quarantined += bad.length;
    };

    // The first REST page tells the size (no extra COUNT() call); a large result switches to
    // Bulk API 2.0, which then returns every record, so that page is not staged.
    const rest = restQueryPages(api, { apiVersion: version, soql, pageSize: src.pageSize });
    const first = await rest.next();
    const totalSize = first.done ? 0 : first.value.totalSize;
    const serverTime = first.done ? null : first.value.serverTime;
    let path: 'rest' | 'bulk' = totalSize >= src.bulkThreshold ? 'bulk' : 'rest';
    if (path === 'rest' && !first.done) await stage(first.value.records, false);
    progress.update(counters.fetched, totalSize);

    let bulkError: string | null = null;
    if (path === 'bulk') {
      try {
        await rest.return(undefined);
        for await (const page of bulkQueryPages(api, { apiVersion: version, soql, pageSize: src.bulkPageSize, signal: ctx.signal })) {
          await stage(page, true);
          progress.update(counters.fetched, totalSize);
        }
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        bulkError = (err as Error).message;
        log.warn(`Bulk API 2.0 query failed, falling back to REST: ${bulkError}`);
        path = 'rest';
        // Whatever the job returned before failing stays staged; REST re-reads all of it and
        // the load's dedupe on (id, systemmodstamp) keeps one copy. Count records once.
        counters.fetched = 0;
        counters.staged = 0;
        counters.quarantined = 0;
      }
    }
    if (path === 'rest') {
      const pages = bulkError === null ? rest : restQueryPages(api, { apiVersion: version, soql, pageSize: src.pageSize });
      const remaining = Math.max(0, Math.ceil((totalSize - counters.fetched) / src.pageSize));
      api.ensureBudget(remaining, `the REST extraction of ${totalSize} records`);
      for await (const page of pages) {
        if (ctx.signal.aborted) throw new StepError('the extraction was canceled', { retryable: false });
        await stage(page.records, false);
        progress.update(counters.fetched, totalSize);
      }
    }
    progress.stop();

    const tombstonesAt = full && watermarkBefore !== null ? (serverTime ?? extractedAt) : undefined;
    if (tombstonesAt && counters.staged === 0) {
      // An empty answer to a full query is far likelier an outage or a permissions change
      // than every user vanishing: refuse to tombstone the whole table.
      const { ids } = await warehouse.rawStats();
      throw new StepError(
        `the full refresh returned no ${src.object} records while raw holds ${ids}; refusing to tombstone them all. ` +
          'Check the integration user\'s access to User records, then rerun.',
        { retryable: false },
      );
    }
    const summary = await load.commit({ ...(tombstonesAt ? { tombstonesAt } : {}), observedAt: serverTime ?? extractedAt });
    load = null;
    const watermarkAfter = await warehouse.watermark(cursor);
    const stats = await warehouse.rawStats();
    const metadata: Metadata = {
      mode: full ? 'full' : 'incremental',
      path,
      records_fetched: counters.fetched,
      total_size: totalSize,
      versions_inserted: summary.inserted,
      duplicates_skipped: summary.duplicates,
      quarantined: counters.quarantined,
      quarantine_rows_inserted: summary.quarantined,
      tombstones: summary.tombstones,
      revived: summary.revived,
      versions_rewritten: summary.rewritten,
      watermark_before: watermarkBefore?.toISOString() ?? null,
      watermark_after: watermarkAfter?.toISOString() ?? null,
      // The source's clock when it answered, so data-time freshness works on any clock.
      source_time: (serverTime ?? extractedAt).toISOString(),
      raw_users: stats.ids,
      raw_rows: stats.rows,
      duration_s: Math.round((Date.now() - startedAt) / 100) / 10,
      lookback_ms: src.lookbackMs,
      missing_fields: plan.missing.map((m) => m.name),
      columns_added: added,
      ...apiMetadata(api),
      ...(bulkError ? { bulk_fallback_reason: bulkError } : {}),
      summary: `${full ? 'full' : 'incremental'} ${path}: ${counters.fetched} records, ${summary.inserted} new versions, ${counters.quarantined} quarantined, ${summary.tombstones} tombstones${summary.revived ? `, ${summary.revived} revived` : ''}, ${api.totalCalls} API calls`,
    };
    log.info(
      `extracted ${counters.fetched} record(s): ${summary.inserted} new version(s), ${summary.duplicates} duplicate(s), ${counters.quarantined} quarantined, ${summary.tombstones} tombstone(s), ${summary.revived} revived; ${api.totalCalls} API call(s)`,
    );
    return { metadata };
  } finally {
    if (load) await load.abort().catch(() => {});
    await warehouse.close();
  }
}

function apiMetadata(api: SalesforceApi): Metadata {
  return {
    api_calls: { ...api.callsByKind },
    api_calls_total: api.totalCalls,
    api_usage: api.usage ? { used: api.usage.used, limit: api.usage.limit, remaining: api.usage.limit - api.usage.used } : null,
  };
}
