import { ChangeEventLog, DEFAULT_RETENTION_MS, type ChangeType } from './cdc.js';
import { DAY_MS, floorSecond, formatSf, toMs } from './datetime.js';
import { generateUsers, pickDivision, pickName, pickPhase } from './generator.js';
import { idNumber, makeId, podFor } from './ids.js';
import { pack, unpack, UserRec, type RecPatch, type SfValue } from './record.js';
import { Rng, mixSeed } from './rng.js';
import { DIVISIONS, PHASES, UserSchema, type FieldDef, type FieldType } from './schema.js';
import { loadState, saveState, type OrgStateFile, type PendingChange, type RecentChange } from './state.js';

export interface OrgOptions {
  users?: number;
  seed?: number;
  startTime?: string;
  stateFile?: string;
  /** How long (simulated time) change events are retained for replay. Default 72 h. */
  changeEventRetentionMs?: number;
}

/** A user as the REST API would return it (datetimes in Salesforce format). */
export type SfUser = Record<string, SfValue>;

export interface DayChanges {
  /** 1 for the first advanceDay of this org, and so on. */
  day: number;
  from: string;
  to: string;
  /** Existing users whose visible state changed now (excluding creations). */
  changed: string[];
  created: string[];
  deactivated: string[];
  /** A→B→A: users set back to the value they had before yesterday's change. */
  returned: string[];
  /** Users with several changes (distinct, increasing SystemModstamps) within the day. */
  multiChanged: string[];
  /** SystemModstamp-only changes (LastModifiedDate unchanged). */
  automated: string[];
  /** Changes staged today with a SystemModstamp ~2 h before they become visible. */
  lateCommitted: Array<{ id: string; systemModstamp: string; visibleAt: string }>;
  /** Late changes of earlier days that became visible with this clock move. */
  becameVisible: string[];
  /** Every change generated today, in SystemModstamp order. */
  events: Array<{ id: string; systemModstamp: string; visibleAt: string; fields: string[] }>;
}

export interface UpdateOptions {
  at?: Date | string;
  /** Automated change: only SystemModstamp moves. */
  automated?: boolean;
}

const PROFILE_ID_PREFIX = '00e';

export class SimOrg {
  readonly schema: UserSchema;
  readonly seed: number;
  readonly pod: string;
  private records: Array<UserRec | undefined>;
  private live: number;
  private clock: number;
  private day: number;
  private nextN: number;
  private pending: PendingChange[];
  private recent: RecentChange[];
  private usage: { day: number; used: number };
  private readonly stateFile: string | undefined;
  private readonly profileId: string;
  /** User's change events (Change Data Capture), delivered by the CometD endpoint. */
  readonly changeEvents: ChangeEventLog;

  constructor(opts: OrgOptions = {}) {
    this.stateFile = opts.stateFile;
    const st = opts.stateFile ? loadState(opts.stateFile) : undefined;
    if (st) {
      this.seed = st.seed;
      this.schema = new UserSchema(st.schema.added);
      for (const c of st.schema.changed) this.schema.changeFieldType(c.name, c.type);
      this.records = [];
      for (const p of st.records) this.records[p[0] - 1] = unpack(p);
      this.live = st.records.length;
      this.clock = st.clock;
      this.day = st.day;
      this.nextN = st.nextN;
      this.pending = st.pending;
      this.recent = st.recent;
      this.usage = st.usage;
    } else {
      this.seed = opts.seed ?? 42;
      this.schema = new UserSchema();
      this.clock = toMs(opts.startTime ?? '2025-05-01T00:00:00.000Z');
      this.records = generateUsers(opts.users ?? 5000, this.seed, this.clock);
      this.live = this.records.length;
      this.day = 0;
      this.nextN = this.records.length + 1;
      this.pending = [];
      this.recent = [];
      this.usage = { day: Math.floor(this.clock / DAY_MS), used: 0 };
    }
    this.pod = podFor(this.seed);
    this.profileId = makeId(PROFILE_ID_PREFIX, this.pod, 1);
    this.changeEvents = new ChangeEventLog(st?.changeEvents, opts.changeEventRetentionMs ?? DEFAULT_RETENTION_MS);
    if (this.stateFile && !st) this.persist();
  }

  // ---- clock ----

  now(): Date {
    return new Date(this.clock);
  }

  nowMs(): number {
    return this.clock;
  }

  setClock(date: Date | string): void {
    this.clock = toMs(date);
    this.flushPending();
    this.persist();
  }

  // ---- reads (visible state only) ----

  count(): number {
    return this.live;
  }

  idOf(n: number): string {
    return makeId('005', this.pod, n);
  }

  get(id: string): SfUser | undefined {
    const rec = this.recByIdOrUndefined(id);
    return rec && this.view(rec);
  }

  *all(): IterableIterator<SfUser> {
    for (const rec of this.records) if (rec) yield this.view(rec);
  }

  /** Visible records, in creation order; holes are hard-deleted users. Do not mutate. */
  visibleRecords(): ReadonlyArray<UserRec | undefined> {
    return this.records;
  }

  /** Late changes not yet visible. */
  pendingChanges(): Array<{ id: string; systemModstamp: string; visibleAt: string }> {
    return this.pending.map((p) => ({ id: this.idOf(p.n), systemModstamp: formatSf(p.sysMod), visibleAt: formatSf(p.visibleAt) }));
  }

  view(rec: UserRec): SfUser {
    const out: SfUser = {};
    for (const def of this.schema.fields()) {
      const v = this.value(rec, def);
      out[def.name] = def.type === 'datetime' && typeof v === 'number' ? formatSf(v) : v;
    }
    return out;
  }

  /** Raw value: datetimes as epoch ms. */
  value(rec: UserRec, def: FieldDef): SfValue {
    const ov = rec.extra?.[def.name];
    if (ov !== undefined) return ov;
    switch (def.name) {
      case 'Id': return this.idOf(rec.n);
      case 'Username': return `user${rec.n}@sfpipe-sim.example`;
      case 'Name': return rec.first ? `${rec.first} ${rec.last}` : rec.last;
      case 'FirstName': return rec.first;
      case 'LastName': return rec.last;
      case 'Email': return `user${rec.n}@example.com`;
      case 'Division': return rec.division;
      case 'Audit_Phase__c': return rec.phase;
      case 'IsActive': return rec.active;
      case 'ProfileId': return this.profileId;
      case 'CreatedDate': return rec.created;
      case 'LastModifiedDate': return rec.lastMod;
      case 'SystemModstamp': return rec.sysMod;
      default: return null;
    }
  }

  // ---- mutators for tests ----

  updateUser(id: string, patch: Record<string, unknown>, opts: UpdateOptions = {}): SfUser {
    const rec = this.recById(id);
    const at = floorSecond(opts.at !== undefined ? toMs(opts.at) : this.clock);
    const sysMod = Math.max(at, rec.sysMod + 1000);
    const next = this.applyPatch(rec, this.normalisePatch(patch), sysMod, opts.automated ? rec.lastMod : sysMod);
    this.records[rec.n - 1] = next;
    this.emitChange(rec, next, sysMod);
    this.persist();
    return this.view(next);
  }

  createUser(fields: Record<string, unknown> = {}): string {
    const n = this.nextN++;
    const at = floorSecond(this.clock);
    const base = new UserRec(n, null, 'New', null, null, true, at, at, at, null);
    const rec = this.applyPatch(base, this.normalisePatch({ LastName: 'User', FirstName: 'New', ...fields }), at, at);
    this.records[n - 1] = rec;
    this.live++;
    this.emitChange(null, rec, at);
    this.persist();
    return this.idOf(n);
  }

  /**
   * Hides a record from every query without changing it (as when the integration user loses
   * sight of it), until `reveal` brings it back unchanged — SystemModstamp included. In memory only.
   */
  hide(id: string): boolean {
    const rec = this.recByIdOrUndefined(id);
    if (!rec) return false;
    this.hidden.set(id, rec);
    this.records[rec.n - 1] = undefined;
    this.live--;
    return true;
  }

  reveal(id: string): boolean {
    const rec = this.hidden.get(id);
    if (!rec) return false;
    this.hidden.delete(id);
    this.records[rec.n - 1] = rec;
    this.live++;
    return true;
  }

  private readonly hidden = new Map<string, UserRec>();

  hardDelete(id: string): boolean {
    const rec = this.recByIdOrUndefined(id);
    if (!rec) return false;
    this.records[rec.n - 1] = undefined;
    this.live--;
    this.pending = this.pending.filter((p) => p.n !== rec.n);
    this.persist();
    return true;
  }

  /**
   * A change that becomes visible now but carries an older SystemModstamp. The record's current
   * stamp itself is allowed: SystemModstamp has whole seconds, so two changes within one second
   * share it.
   */
  commitLate(id: string, patch: Record<string, unknown>, systemModstamp: Date | string): SfUser {
    const rec = this.recById(id);
    const sm = floorSecond(toMs(systemModstamp));
    if (sm < rec.sysMod) {
      throw new Error(`late SystemModstamp ${formatSf(sm)} must not be before the record's current ${formatSf(rec.sysMod)}`);
    }
    const next = this.applyPatch(rec, this.normalisePatch(patch), sm, sm);
    this.records[rec.n - 1] = next;
    this.emitChange(rec, next, Math.max(sm, floorSecond(this.clock)));
    this.persist();
    return this.view(next);
  }

  addField(name: string, type: FieldType): void {
    this.schema.addField(name, type);
    this.persist();
  }

  changeFieldType(name: string, type: FieldType): void {
    this.schema.changeFieldType(name, type);
    this.persist();
  }

  // ---- the daily evolution ----

  advanceDay(): DayChanges {
    const from = this.clock;
    const end = from + DAY_MS;
    const dayNo = ++this.day;
    const rng = new Rng(mixSeed(this.seed, dayNo, 0x5eed));
    const used = new Set<number>(this.pending.map((p) => p.n));
    const events: PendingChange[] = [];
    const tags = { returned: [] as number[], multi: [] as number[], automated: [] as number[], deactivated: [] as number[], created: [] as number[] };
    const recent: RecentChange[] = [];
    const at = (): number => from + 1000 * (1 + rng.int(86_398));

    const pickUser = (ok: (r: UserRec) => boolean = () => true): UserRec | undefined => {
      for (let tries = 0; tries < 64; tries++) {
        const rec = this.records[rng.int(this.nextN - 1)];
        if (rec && !used.has(rec.n) && ok(rec)) {
          used.add(rec.n);
          return rec;
        }
      }
      return undefined;
    };
    const change = (rec: UserRec, patch: Record<string, SfValue>, t: number): void => {
      for (const field of Object.keys(patch)) {
        if (field === 'Division') recent.push({ n: rec.n, field, from: rec.division });
        if (field === 'Audit_Phase__c') recent.push({ n: rec.n, field, from: rec.phase });
      }
      events.push({ n: rec.n, patch, sysMod: t, lastMod: t, visibleAt: t });
    };
    const newDivision = (cur: string | null): string | null => {
      let v = pickDivision(rng);
      while (v === cur) v = rng.pick(DIVISIONS);
      return v;
    };
    const newPhase = (cur: string | null): string | null => {
      let v = pickPhase(rng);
      while (v === cur) v = rng.pick(PHASES);
      return v;
    };

    const live = Math.max(this.live, 1);
    const scaled = (rate: number, min: number): number => Math.max(min, Math.round(live * rate));

    // A→B→A: undo some of yesterday's changes.
    const returnable = this.recent.filter((c) => c.field === 'Division' || c.field === 'Audit_Phase__c');
    for (let i = 0; i < Math.min(3, returnable.length); i++) {
      const c = returnable[rng.int(returnable.length)]!;
      const rec = this.records[c.n - 1];
      if (!rec || used.has(rec.n)) continue;
      const cur = c.field === 'Division' ? rec.division : rec.phase;
      if (cur === c.from) continue;
      used.add(rec.n);
      change(rec, { [c.field]: c.from }, at());
      tags.returned.push(rec.n);
    }
    for (let i = scaled(0.01 + 0.005 * rng.next(), 2); i > 0; i--) {
      const rec = pickUser();
      if (rec) change(rec, { Division: newDivision(rec.division) }, at());
    }
    for (let i = scaled(0.01 + 0.005 * rng.next(), 2); i > 0; i--) {
      const rec = pickUser();
      if (rec) change(rec, { Audit_Phase__c: newPhase(rec.phase) }, at());
    }
    for (let i = scaled(0.002, 1); i > 0; i--) {
      const rec = pickUser();
      if (rec) change(rec, { LastName: pickName(rng)[1] }, at());
    }
    for (let i = scaled(0.001, 1); i > 0; i--) {
      const rec = pickUser((r) => r.active);
      if (!rec) continue;
      change(rec, { IsActive: false }, at());
      tags.deactivated.push(rec.n);
    }
    for (let i = scaled(0.003, 1); i > 0; i--) {
      const rec = pickUser();
      if (!rec) continue;
      const t = at();
      events.push({ n: rec.n, patch: {}, sysMod: t, lastMod: null, visibleAt: t });
      tags.automated.push(rec.n);
    }
    // Several changes of one user in a day, at distinct increasing seconds.
    for (let i = 0; i < 2; i++) {
      const rec = pickUser();
      if (!rec) continue;
      const k = 2 + rng.int(2);
      const times = new Set<number>();
      while (times.size < k) times.add(at());
      let division = rec.division;
      let phase = rec.phase;
      for (const t of [...times].sort((a, b) => a - b)) {
        if (rng.chance(0.5)) {
          division = newDivision(division);
          events.push({ n: rec.n, patch: { Division: division }, sysMod: t, lastMod: t, visibleAt: t });
        } else {
          phase = newPhase(phase);
          events.push({ n: rec.n, patch: { Audit_Phase__c: phase }, sysMod: t, lastMod: t, visibleAt: t });
        }
      }
      tags.multi.push(rec.n);
    }
    for (let i = 3 + rng.int(5); i > 0; i--) {
      const n = this.nextN++;
      const [first, last] = pickName(rng);
      const t = at();
      events.push({
        n, create: true, sysMod: t, lastMod: t, visibleAt: t,
        patch: { FirstName: first, LastName: last, Division: pickDivision(rng), Audit_Phase__c: pickPhase(rng), IsActive: true },
      });
      tags.created.push(n);
    }
    // The late commit: stamped ~23:15-23:35, visible only ~50 min later (after this day's end),
    // so it lands behind a pipeline watermark set by the day's last changes yet inside the
    // default one-hour lookback.
    const lateRec = pickUser();
    if (lateRec) {
      const sm = from + 23.25 * 3_600_000 + 1000 * rng.int(1200);
      const visibleAt = sm + 3_000_000 + 1000 * (1 + rng.int(300));
      const patch = { Division: newDivision(lateRec.division) };
      recent.push({ n: lateRec.n, field: 'Division', from: lateRec.division });
      events.push({ n: lateRec.n, patch, sysMod: sm, lastMod: sm, visibleAt, late: true });
    }

    this.recent = recent;
    this.pending.push(...events);
    this.clock = end;
    const applied = this.flushPending();
    this.persist();

    const ids = (ns: Iterable<number>): string[] => [...new Set(ns)].map((n) => this.idOf(n));
    const todays = new Set(events);
    const createdSet = new Set(tags.created);
    return {
      day: dayNo,
      from: formatSf(from),
      to: formatSf(end),
      changed: ids(applied.filter((e) => !e.create).map((e) => e.n)),
      created: ids(tags.created),
      deactivated: ids(tags.deactivated),
      returned: ids(tags.returned),
      multiChanged: ids(tags.multi),
      automated: ids(tags.automated),
      lateCommitted: events.filter((e) => e.late).map((e) => ({
        id: this.idOf(e.n), systemModstamp: formatSf(e.sysMod), visibleAt: formatSf(e.visibleAt),
      })),
      becameVisible: ids(applied.filter((e) => !todays.has(e)).map((e) => e.n)),
      events: [...events].sort((a, b) => a.sysMod - b.sysMod || a.n - b.n).map((e) => ({
        id: this.idOf(e.n),
        systemModstamp: formatSf(e.sysMod),
        visibleAt: formatSf(e.visibleAt),
        fields: createdSet.has(e.n) ? ['*'] : Object.keys(e.patch),
      })),
    };
  }

  // ---- API usage (persisted with the org) ----

  /** Counts one API call; false when the daily limit is already used up. */
  consumeApiCall(limit: number): boolean {
    this.rollUsageDay();
    if (this.usage.used >= limit) return false;
    this.usage.used++;
    return true;
  }

  apiUsage(): number {
    this.rollUsageDay();
    return this.usage.used;
  }

  setApiUsage(used: number): void {
    this.rollUsageDay();
    this.usage.used = used;
  }

  persist(): void {
    if (!this.stateFile) return;
    const state: OrgStateFile = {
      format: 'sfpipe-sim-org/1',
      seed: this.seed,
      clock: this.clock,
      day: this.day,
      nextN: this.nextN,
      usage: { ...this.usage },
      schema: { added: this.schema.added(), changed: this.schema.changedTypes() },
      pending: this.pending,
      recent: this.recent,
      records: this.records.filter((r): r is UserRec => r !== undefined).map(pack),
      changeEvents: this.changeEvents.snapshot(),
    };
    saveState(this.stateFile, state);
  }

  // ---- internals ----

  private rollUsageDay(): void {
    const d = Math.floor(this.clock / DAY_MS);
    if (d !== this.usage.day) this.usage = { day: d, used: 0 };
  }

  private flushPending(): PendingChange[] {
    const due = this.pending.filter((p) => p.visibleAt <= this.clock);
    if (due.length === 0) return due;
    this.pending = this.pending.filter((p) => p.visibleAt > this.clock);
    due.sort((a, b) => a.visibleAt - b.visibleAt || a.sysMod - b.sysMod);
    for (const ev of due) {
      if (ev.create) {
        const base = new UserRec(ev.n, null, '', null, null, true, ev.sysMod, ev.sysMod, ev.sysMod, null);
        this.records[ev.n - 1] = this.applyPatch(base, ev.patch, ev.sysMod, ev.sysMod);
        this.live++;
        this.emitChange(null, this.records[ev.n - 1]!, ev.visibleAt);
        continue;
      }
      const rec = this.records[ev.n - 1];
      if (!rec) continue;
      // Guard for tests that touch a user with a pending change: keep SystemModstamp strictly increasing.
      const sm = Math.max(ev.sysMod, rec.sysMod + 1000);
      this.records[ev.n - 1] = this.applyPatch(rec, ev.patch, sm, ev.lastMod === null ? rec.lastMod : Math.min(ev.lastMod, sm));
      this.emitChange(rec, this.records[ev.n - 1]!, Math.max(ev.visibleAt, sm));
    }
    return due;
  }

  /**
   * Publishes the change event of a committed change: on CREATE every field, on UPDATE the fields
   * that changed. As in Salesforce, SystemModstamp is never in an event, so a change that moved
   * only SystemModstamp publishes none.
   */
  private emitChange(prev: UserRec | null, next: UserRec, commitMs: number): void {
    const fields: Record<string, SfValue> = {};
    for (const def of this.schema.fields()) {
      if (def.name === 'Id' || def.name === 'Name' || def.name === 'SystemModstamp') continue;
      const v = this.value(next, def);
      if (prev && v === this.value(prev, def)) continue;
      fields[def.name] = typeof v === 'number' && def.type === 'datetime' ? new Date(v).toISOString()
        : typeof v === 'number' && def.type === 'date' ? new Date(v).toISOString().slice(0, 10) : v;
    }
    const changeType: ChangeType = prev ? 'UPDATE' : 'CREATE';
    if (changeType === 'UPDATE' && Object.keys(fields).length === 0) return;
    this.changeEvents.append({
      changeType,
      recordId: this.idOf(next.n),
      commitMs,
      commitUser: makeId('005', this.pod, 0),
      fields,
      schemaFields: this.schema.fields().map((f) => `${f.name}:${f.type}`),
    }, this.clock);
  }

  private recByIdOrUndefined(id: string): UserRec | undefined {
    const n = idNumber(id, '005', this.pod);
    return n === undefined ? undefined : this.records[n - 1];
  }

  private recById(id: string): UserRec {
    const rec = this.recByIdOrUndefined(id);
    if (!rec) throw new Error(`no user ${id}`);
    return rec;
  }

  private normalisePatch(patch: Record<string, unknown>): Record<string, SfValue> {
    const out: Record<string, SfValue> = {};
    for (const [k, v] of Object.entries(patch)) {
      const def = this.schema.lookup(k);
      if (!def) throw new Error(`No such column '${k}' on entity 'User'`);
      if (!def.updateable) throw new Error(`field ${def.name} is not updateable`);
      if (v === null || v === undefined) out[def.name] = null;
      else if (v instanceof Date || def.type === 'datetime') out[def.name] = toMs(v as Date | string | number);
      else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[def.name] = v;
      else throw new Error(`unsupported value for ${def.name}`);
    }
    return out;
  }

  private applyPatch(rec: UserRec, patch: Record<string, SfValue>, sysMod: number, lastMod: number): UserRec {
    let extra: Record<string, SfValue> | null = rec.extra ? { ...rec.extra } : null;
    const p: RecPatch = { sysMod, lastMod };
    for (const [k, v] of Object.entries(patch)) {
      switch (k) {
        case 'FirstName': p.first = v === null ? null : String(v); break;
        case 'LastName': p.last = String(v ?? ''); break;
        case 'Division': p.division = v === null ? null : String(v); break;
        case 'Audit_Phase__c': p.phase = v === null ? null : String(v); break;
        case 'IsActive': p.active = Boolean(v); break;
        default:
          extra ??= {};
          extra[k] = v;
      }
    }
    p.extra = extra;
    return rec.with(p);
  }
}
