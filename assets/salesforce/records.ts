import type { SourceColumn } from '../config/pipeline-config.js';
import type { QuarantineRow, RawRow } from '../warehouse/raw-warehouse.js';
import { parseSalesforceDatetime } from './soql.js';

export type Converted = { row: RawRow } | { quarantine: QuarantineRow };

/**
 * Turns a Salesforce record (REST JSON or a Bulk CSV row of strings) into a raw row.
 * No Id or an unparseable timestamp sends it to quarantine; unknown picklist values are kept.
 */
export function convertRecord(record: Record<string, unknown>, columns: SourceColumn[], fromCsv: boolean): Converted {
  const row: RawRow = {};
  const reject = (reason: string): Converted => {
    const { attributes: _ignored, ...fields } = record;
    return { quarantine: { rawJson: JSON.stringify(fields), reason } };
  };
  for (const col of columns) {
    let v = record[col.name];
    if (fromCsv && v === '') v = null;
    const key = col.name.toLowerCase();
    if (v === undefined || v === null) {
      row[key] = null;
      continue;
    }
    switch (col.type) {
      case 'timestamp': {
        const d = parseSalesforceDatetime(v);
        if (!d) return reject(`unparseable ${col.name}: ${JSON.stringify(v)}`);
        row[key] = d;
        break;
      }
      case 'boolean':
        if (typeof v === 'boolean') row[key] = v;
        else if (v === 'true' || v === 'false') row[key] = v === 'true';
        else return reject(`unparseable ${col.name}: ${JSON.stringify(v)}`);
        break;
      case 'double':
      case 'bigint': {
        const n = typeof v === 'number' ? v : Number(v);
        if (!Number.isFinite(n)) return reject(`unparseable ${col.name}: ${JSON.stringify(v)}`);
        row[key] = n;
        break;
      }
      default:
        row[key] = typeof v === 'string' ? v : String(v);
    }
  }
  if (typeof row.id !== 'string' || row.id.length === 0) return reject('missing Id');
  if (!(row.systemmodstamp instanceof Date)) return reject('missing SystemModstamp');
  return { row };
}
