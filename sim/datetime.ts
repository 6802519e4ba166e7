/** Salesforce REST datetime format: 2025-05-01T10:30:00.000+0000 */
export function formatSf(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}

/** Bulk API CSV results use the ISO `Z` form: 2025-05-01T10:30:00.000Z */
export function formatIsoZ(ms: number): string {
  return new Date(ms).toISOString();
}

const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})$/;

/** Parses SOQL datetime literals and Salesforce/ISO datetime strings; returns epoch ms or undefined. */
export function parseSfDatetime(s: string): number | undefined {
  const m = DATETIME_RE.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se, frac, zone] = m;
  let ms = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +se!, frac ? Math.round(+`0${frac}` * 1000) : 0);
  if (Number.isNaN(ms)) return undefined;
  if (zone && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (+digits.slice(0, 2) * 60 + +digits.slice(2, 4)) * 60_000;
  }
  return ms;
}

export function toMs(d: Date | string | number): number {
  if (d instanceof Date) return d.getTime();
  if (typeof d === 'number') return d;
  const p = parseSfDatetime(d) ?? Date.parse(d);
  if (Number.isNaN(p)) throw new Error(`invalid datetime: ${d}`);
  return p;
}

/** Salesforce stores datetimes at second precision. */
export function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

export const DAY_MS = 86_400_000;
