/** SOQL datetime literal (unquoted), floored to the second: `2025-05-01T10:30:00Z`. */
export function soqlDatetime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The extraction query. No ORDER BY: Bulk API 2.0 rejects it on large sets and the load
 * does not depend on order (it commits atomically and the watermark is read back from raw).
 */
export function extractionQuery(opts: { object: string; fields: string[]; cursorField: string; since: Date | null }): string {
  const where = opts.since ? ` WHERE ${opts.cursorField} >= ${soqlDatetime(opts.since)}` : '';
  return `SELECT ${opts.fields.join(', ')} FROM ${opts.object}${where}`;
}

/** Salesforce datetimes look like `2025-05-01T10:30:00.000+0000`; returns null when unparseable. */
export function parseSalesforceDatetime(value: unknown): Date | null {
  if (typeof value !== 'string' || value.length === 0) return null;
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?)(Z|[+-]\d{2}:?\d{2})$/.exec(value);
  if (!m) return null;
  const zone = m[3] === 'Z' ? 'Z' : `${m[3]!.slice(0, 3)}:${m[3]!.slice(-2)}`;
  const d = new Date(`${m[1]}T${m[2]}${zone}`);
  return Number.isNaN(d.getTime()) ? null : d;
}
