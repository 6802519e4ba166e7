import { formatSf } from '../datetime.js';
import { makeId } from '../ids.js';
import type { SimOrg } from '../org.js';
import type { SfValue, UserRec } from '../record.js';
import type { FieldDef } from '../schema.js';
import { compileSoql } from '../soql/eval.js';
import { SoqlError } from '../soql/errors.js';
import { json, NOT_FOUND, sfError, type Reply } from './reply.js';

interface Cursor {
  records: UserRec[];
  fields: FieldDef[];
  batchSize: number;
}

const MAX_CURSORS = 50;
const DEFAULT_BATCH = 2000;

export function formatValue(def: FieldDef, v: SfValue): SfValue {
  if (typeof v === 'number') {
    if (def.type === 'datetime') return formatSf(v);
    if (def.type === 'date') return new Date(v).toISOString().slice(0, 10);
  }
  return v;
}

/** `Sforce-Query-Options: batchSize=N` (Salesforce honours 200..2000). */
export function batchSizeFrom(header: string | undefined): number | undefined {
  const m = header && /batchSize\s*=\s*(\d+)/i.exec(header);
  if (!m) return undefined;
  return Math.min(2000, Math.max(200, Number(m[1])));
}

export function soqlErrorReply(e: unknown): Reply {
  if (e instanceof SoqlError) return sfError(400, e.errorCode, e.message);
  throw e;
}

export class RestApi {
  private cursors = new Map<string, Cursor>();
  private cursorSeq = 0;

  constructor(private readonly org: SimOrg, private readonly dailyLimit: () => number) {}

  versions(newest: string): Reply {
    const out: Array<{ label: string; url: string; version: string }> = [];
    for (let v = 31; v <= Math.floor(Number(newest)); v++) {
      out.push({ label: `v${v}.0`, url: `/services/data/v${v}.0`, version: `${v}.0` });
    }
    return json(200, out);
  }

  resources(version: string): Reply {
    const b = `/services/data/v${version}`;
    return json(200, { sobjects: `${b}/sobjects`, query: `${b}/query`, queryAll: `${b}/queryAll`, limits: `${b}/limits`, jobs: `${b}/jobs` });
  }

  describe(version: string): Reply {
    return json(200, this.org.schema.describe(version));
  }

  limits(): Reply {
    const max = this.dailyLimit();
    return json(200, {
      DailyApiRequests: { Max: max, Remaining: Math.max(0, max - this.org.apiUsage()) },
      DailyBulkV2QueryJobs: { Max: 10000, Remaining: 10000 },
      DailyBulkV2QueryFileStorageMB: { Max: 976562, Remaining: 976562 },
    });
  }

  retrieve(version: string, id: string): Reply {
    const u = this.org.get(id);
    if (!u) return NOT_FOUND();
    return json(200, { attributes: { type: 'User', url: `/services/data/v${version}/sobjects/User/${u.Id}` }, ...u });
  }

  query(version: string, soql: string | null, batchHeader: string | undefined): Reply {
    if (!soql) return sfError(400, 'MALFORMED_QUERY', 'A query string must be provided.');
    let records: UserRec[];
    let fields: FieldDef[];
    try {
      const cq = compileSoql(soql, this.org);
      records = cq.run(this.org.visibleRecords());
      if (cq.count) return json(200, { totalSize: records.length, done: true, records: [] });
      fields = cq.fields;
    } catch (e) {
      return soqlErrorReply(e);
    }
    const cursor: Cursor = { records, fields, batchSize: batchSizeFrom(batchHeader) ?? DEFAULT_BATCH };
    const locator = makeId('01g', this.org.pod, ++this.cursorSeq);
    if (records.length > cursor.batchSize) {
      this.cursors.set(locator, cursor);
      if (this.cursors.size > MAX_CURSORS) this.cursors.delete(this.cursors.keys().next().value!);
    }
    return this.page(version, locator, cursor, 0, cursor.batchSize);
  }

  queryMore(version: string, locatorAndOffset: string, batchHeader: string | undefined): Reply {
    const m = /^(.+)-(\d+)$/.exec(locatorAndOffset);
    const cursor = m ? this.cursors.get(m[1]!) : undefined;
    if (!m || !cursor || Number(m[2]) > cursor.records.length) {
      return sfError(400, 'INVALID_QUERY_LOCATOR', 'invalid query locator');
    }
    // Touch for LRU.
    this.cursors.delete(m[1]!);
    this.cursors.set(m[1]!, cursor);
    return this.page(version, m[1]!, cursor, Number(m[2]), batchSizeFrom(batchHeader) ?? cursor.batchSize);
  }

  /** Serialises only the requested page: results are never materialised as JSON in full. */
  private page(version: string, locator: string, c: Cursor, offset: number, size: number): Reply {
    const end = Math.min(offset + size, c.records.length);
    const parts: string[] = [];
    for (let i = offset; i < end; i++) {
      const rec = c.records[i]!;
      const id = this.org.idOf(rec.n);
      const o: Record<string, unknown> = { attributes: { type: 'User', url: `/services/data/v${version}/sobjects/User/${id}` } };
      for (const def of c.fields) o[def.name] = formatValue(def, this.org.value(rec, def));
      parts.push(JSON.stringify(o));
    }
    const done = end >= c.records.length;
    const head: Record<string, unknown> = { totalSize: c.records.length, done };
    if (!done) head.nextRecordsUrl = `/services/data/v${version}/query/${locator}-${end}`;
    const body = `${JSON.stringify(head).slice(0, -1)},"records":[${parts.join(',')}]}`;
    return { status: 200, headers: { 'Content-Type': 'application/json;charset=UTF-8' }, body };
  }
}
