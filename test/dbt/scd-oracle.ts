/**
 * An independent oracle of docs/data-model.md (SCD2 over the raw version log), written from the
 * design text, not from the dbt SQL. Timestamps are epoch milliseconds (Salesforce stamps are
 * millisecond-precise), so rows compare exactly.
 */
import { createHash } from 'node:crypto';

/** One raw observation (a row of sf_raw.sf_user, without the load columns). */
export interface Observation {
  id: string;
  name: string | null;
  division: string | null;
  audit_phase__c: string | null;
  isactive: boolean | null;
  /** Raw: null on normal rows, true on tombstones. */
  isdeleted: true | null;
  lastmodifieddate: number;
  systemmodstamp: number;
  /** The load columns, when the test sets them (epoch ms / run id); absent = the order given. */
  _extracted_at?: number | null;
  _extraction_run_id?: string | null;
}

/** The compared columns of one dim_sf_user_scd row. */
export interface ScdRow {
  user_id: string;
  name: string | null;
  division: string | null;
  audit_phase__c: string | null;
  is_active: boolean | null;
  is_deleted: boolean;
  update_date: number;
  valid_from: number;
  valid_to: number | null;
  is_current: boolean;
}

export const DEFAULT_TRACKED = ['division', 'audit_phase__c'] as const;
type Tracked = (typeof DEFAULT_TRACKED)[number];

/** null (or absent) sorts before every value: a row without a stamp or run id is the earliest. */
function compareNullsFirst<T extends number | string>(a: T | null | undefined, b: T | null | undefined): number {
  if (a === null || a === undefined) return b === null || b === undefined ? 0 : -1;
  if (b === null || b === undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The expected dimension for the observations, given in arrival order. Of several observations of
 * one (id, systemmodstamp), the later one wins: the latest `_extracted_at`, then the greatest
 * `_extraction_run_id`, then the later in `arrival` (the loader keeps a load's last row of a
 * version). Sorted by (user_id, valid_from).
 */
export function expectedScd(arrival: readonly Observation[], tracked: readonly Tracked[] = DEFAULT_TRACKED): ScdRow[] {
  const byUser = new Map<string, Map<number, Observation>>();
  for (const o of arrival) {
    let versions = byUser.get(o.id);
    if (!versions) byUser.set(o.id, (versions = new Map()));
    const held = versions.get(o.systemmodstamp);
    const later =
      held === undefined ||
      (compareNullsFirst(o._extracted_at, held._extracted_at) || compareNullsFirst(o._extraction_run_id, held._extraction_run_id)) >= 0;
    if (later) versions.set(o.systemmodstamp, o);
  }

  const out: ScdRow[] = [];
  for (const userId of [...byUser.keys()].sort()) {
    const history = [...byUser.get(userId)!.values()].sort((a, b) => a.systemmodstamp - b.systemmodstamp);
    // Each version: its first observation and its latest one.
    const versions: { first: Observation; latest: Observation }[] = [];
    const trackedOf = (o: Observation) => [...tracked.map((c) => o[c]), o.isdeleted === true];
    let current: unknown[] | null = null;
    for (const o of history) {
      const values = trackedOf(o);
      // `is distinct from`: null equals null, null differs from any value.
      const changed = current === null || values.some((v, i) => v !== current![i]);
      if (changed) {
        versions.push({ first: o, latest: o });
        current = values;
      } else {
        versions[versions.length - 1]!.latest = o;
      }
    }
    versions.forEach((v, i) => {
      const next = versions[i + 1];
      out.push({
        user_id: userId,
        name: v.latest.name,
        division: v.first.division,
        audit_phase__c: v.first.audit_phase__c,
        is_active: v.latest.isactive,
        is_deleted: v.first.isdeleted === true,
        update_date: v.first.lastmodifieddate,
        valid_from: v.first.systemmodstamp,
        valid_to: next ? next.first.systemmodstamp : null,
        is_current: next === undefined,
      });
    });
  }
  return out;
}

/** A dimension row with its keys: user_key and the content hash _scd_id (docs/data-model.md). */
export interface KeyedScdRow extends ScdRow {
  user_key: string;
  _scd_id: string;
}

/** YYYY-MM-DDTHH:MM:SS.ffffff (UTC), as macro scd_timestamp_text renders a timestamp. */
export const scdTimestampText = (ms: number): string => `${new Date(ms).toISOString().slice(0, 23)}000`;

const md5 = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');

/** user_key = md5 hex of `<user_id>|<valid_from as YYYY-MM-DDTHH:MM:SS.ffffff>`. */
export function referenceUserKey(userId: string, validFrom: number): string {
  return md5(`${userId}|${scdTimestampText(validFrom)}`);
}

/** One column of the _scd_id encoding: 'N' when null, else 'V' || length(text) || ':' || text. */
export function scdHashPart(value: string | boolean | null): string {
  if (value === null) return 'N';
  const text = String(value);
  return `V${[...text].length}:${text}`;
}

/** _scd_id = md5 hex of user_key and every content column, each encoded by `scdHashPart`, in order. */
export function referenceScdId(r: ScdRow & { user_key: string }): string {
  return md5(
    [
      scdHashPart(r.user_key),
      scdHashPart(r.user_id),
      scdHashPart(r.name),
      scdHashPart(r.division),
      scdHashPart(r.audit_phase__c),
      scdHashPart(r.is_active),
      scdHashPart(r.is_deleted),
      scdHashPart(scdTimestampText(r.update_date)),
      scdHashPart(scdTimestampText(r.valid_from)),
      scdHashPart(r.valid_to === null ? null : scdTimestampText(r.valid_to)),
      scdHashPart(r.is_current),
    ].join(''),
  );
}

/** The oracle's rows with their expected user_key and _scd_id. */
export function withKeys(rows: readonly ScdRow[]): KeyedScdRow[] {
  return rows.map((r) => {
    const user_key = referenceUserKey(r.user_id, r.valid_from);
    return { ...r, user_key, _scd_id: referenceScdId({ ...r, user_key }) };
  });
}

export function sortScd<T extends { user_id: string; valid_from: number }>(rows: T[]): T[] {
  return [...rows].sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : a.valid_from - b.valid_from));
}

const iso = (ms: number | null) => (ms === null ? 'null' : new Date(ms).toISOString());

export function formatRow(r: ScdRow): string {
  return (
    `${r.user_id} [${iso(r.valid_from)} .. ${iso(r.valid_to)}) cur=${r.is_current} del=${r.is_deleted} ` +
    `div=${r.division} phase=${r.audit_phase__c} name=${r.name} active=${r.is_active} upd=${iso(r.update_date)}`
  );
}

/** `formatRow` with the row's user_key and _scd_id. */
export function formatKeyedRow(r: KeyedScdRow): string {
  return `${formatRow(r)} key=${r.user_key} scd_id=${r._scd_id}`;
}

export function formatObservation(o: Observation): string {
  return (
    `${o.id} smm=${iso(o.systemmodstamp)} lmd=${iso(o.lastmodifieddate)} div=${o.division} ` +
    `phase=${o.audit_phase__c} name=${o.name} active=${o.isactive} deleted=${o.isdeleted}`
  );
}

/**
 * Differences between two row sets (each sorted by user_id, valid_from), grouped per user and
 * compared as `format` prints them (formatKeyedRow: with user_key and _scd_id): null when equal,
 * else a readable description of the first `limit` differing users.
 */
export function diffScd<R extends ScdRow>(
  actual: R[],
  expected: R[],
  limit = 5,
  format: (r: R) => string = formatRow,
): { users: string[]; text: string } | null {
  const group = (rows: R[]) => {
    const m = new Map<string, string[]>();
    for (const r of rows) {
      const list = m.get(r.user_id) ?? [];
      list.push(format(r));
      m.set(r.user_id, list);
    }
    return m;
  };
  const a = group(actual);
  const e = group(expected);
  const users = [...new Set([...a.keys(), ...e.keys()])].sort();
  const bad = users.filter((u) => JSON.stringify(a.get(u) ?? []) !== JSON.stringify(e.get(u) ?? []));
  if (bad.length === 0) return null;
  const text = bad
    .slice(0, limit)
    .map((u) => `user ${u}:\n  actual:\n    ${(a.get(u) ?? ['(none)']).join('\n    ')}\n  expected:\n    ${(e.get(u) ?? ['(none)']).join('\n    ')}`)
    .join('\n');
  return { users: bad, text: `${bad.length} user(s) differ; first ${Math.min(limit, bad.length)}:\n${text}` };
}
