/**
 * The production event log: immutable JSON objects in S3, shared by every CronJob run and
 * surviving pods. Same contract as the runtime's SqliteEventLog (runtime/storage/sqlite-event-log.ts).
 *
 * Layout under `s3://<bucket>/<prefix>`:
 * - `runs/<runId>/run.json`                      the run record (created with If-None-Match: *,
 *                                                rewritten by finishRun with If-Match on its ETag)
 * - `runs/<runId>/events/<seq, 10 digits>.json`  one immutable object per event (created with
 *                                                If-None-Match: *, so two writers never share a seq)
 * - `runs-by-time/<9999999999999 - startedMs>-<runId>`  an empty index object: listing is in
 *                                                key order, so it lists the newest runs first
 * - `assets/<key>/last-materialization.json`, `assets/<key>/last-checks/<check>.json`,
 *   `assets/<key>/last-freshness.json`           "latest" pointers (copies of the newest record)
 * - `sensors/<name>/ticks/<9999999999999 - ms>-<tickId>.json`  one immutable object per sensor tick,
 *                                                newest first in key order
 * - `sensors/<name>/last-tick.json`              "latest" pointer: the sensor's cursor
 * - `sensors/<name>/last-request.json`           "latest" pointer: its newest tick that requested runs
 * - `sensors/<name>/run-keys/<runKey>.json`      a run key's claim (created with If-None-Match: *,
 *                                                so one run key gets one run id however many ticks ask)
 * Path segments (run ids, asset keys, check names, sensor names, run keys) are encodeURIComponent-encoded, so an asset key
 * `sf_raw/sf_user` is the single segment `sf_raw%2Fsf_user` and keys cannot collide.
 *
 * Why objects in S3 and not an Iceberg table through Athena:
 * - an append is one PutObject (milliseconds, cents per million), not an Athena INSERT (seconds,
 *   an Iceberg commit and a slot of the workgroup's DML quota per event; a run writes ~10 events);
 * - the reads the CLI makes (`sfpipe runs`, `lineage`, freshness and check state) are a few GETs
 *   and one LIST, with no Athena query (latency, cost, a query-results bucket) per CLI call;
 * - concurrent writers need no table locks: events never overwrite anything, and the pointers are
 *   updated with S3 conditional writes (If-Match on the ETag read, If-None-Match: * to create),
 *   retried on 412/409, keeping the record with the newer timestamp, so two concurrent runs (a
 *   `sfpipe check` overlapping a materialize) never lose the newer pointer.
 * What we give up: ad-hoc SQL over the history. The events are plain JSON under one prefix, so an
 * external table can be laid over `runs/` later if analysts want that.
 *
 * Conditional writes: S3 supports If-None-Match: * (2024-08) and If-Match (2024-11) on PutObject;
 * moto 5.2 implements both (PreconditionFailed 412), which the tests exercise over HTTP.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';

import type { Metadata } from '../../runtime/definitions.js';
import { backoffDelay } from '../../runtime/retry.js';
import type {
  AlertLedger,
  AlertMarker,
  CheckResultRecord,
  EventLog,
  FreshnessRecord,
  MaterializationRecord,
  OpenAlertRecord,
  RunEvent,
  RunRecord,
  RunStatus,
  SensorRunKeyClaim,
  SensorTickRecord,
} from '../../runtime/storage/event-log.js';
import { MIN_RUN_ID_PREFIX, RUN_ID_PREFIX_LOOKUP, uniqueRunIdMatch } from '../../runtime/storage/event-log.js';
import type { AssetKey } from '../../runtime/keys.js';
import { addAwsErrorHints } from '../aws/error-hints.js';


const SEQ_DIGITS = 10;
const TIME_DIGITS = 13;
const MAX_MS = 9_999_999_999_999;
const CONDITIONAL_RETRIES = 50;
const READ_CONCURRENCY = 16;
/** How many recent ticks lastSensorRequest reads when a store has no last-request.json (written before it existed). */
const LEGACY_REQUEST_LOOKBACK_TICKS = 200;

const RUN_END_EVENT: Record<Exclude<RunStatus, 'STARTED'>, string> = {
  SUCCESS: 'RUN_SUCCESS',
  FAILURE: 'RUN_FAILURE',
  CANCELED: 'RUN_CANCELED',
};

export interface S3EventLogOptions {
  /** `s3://bucket/prefix/` */
  location: string;
  /** A client to use (not destroyed by close()); otherwise one is built from region/endpoint. */
  client?: S3Client;
  region?: string;
  /** An emulator's endpoint (tests); unset in production. */
  endpoint?: string | null;
  credentials?: S3ClientConfig['credentials'];
}

interface Stored<T> {
  value: T;
  etag: string;
}

function parseLocation(location: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(location);
  if (!m) throw new Error(`event log location "${location}" is not s3://bucket/prefix/`);
  const prefix = (m[2] ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  return { bucket: m[1]!, prefix: prefix ? `${prefix}/` : '' };
}

const seg = (s: string): string => encodeURIComponent(s);

function toMs(iso: string): number {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : Number.NEGATIVE_INFINITY;
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatus(err) === 404;
}

/** 412 PreconditionFailed, or 409 ConditionalRequestConflict (S3: a concurrent conditional write). */
function isConditionFailure(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  const status = httpStatus(err);
  return name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || status === 412 || status === 409;
}

/** Wait before conditional-write retry `attempt` (0-based): 10-20 ms, doubling, at most a second. */
function backoffMs(attempt: number): number {
  return backoffDelay({ baseDelayMs: 20, maxDelayMs: 1000, jitter: 0.5 }, attempt + 1);
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class S3EventLog implements EventLog {
  readonly location: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly s3: S3Client;
  private readonly ownsClient: boolean;
  /** Next event seq per run, allocated in this process (initialized from a LIST of the run's events). */
  private readonly nextSeq = new Map<string, Promise<{ n: number }>>();
  private closed = false;

  constructor(opts: S3EventLogOptions) {
    const { bucket, prefix } = parseLocation(opts.location);
    this.bucket = bucket;
    this.prefix = prefix;
    this.location = `s3://${bucket}/${prefix}`;
    this.ownsClient = !opts.client;
    this.s3 =
      opts.client ??
      addAwsErrorHints(
        new S3Client({
          ...(opts.region ? { region: opts.region } : {}),
          ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
          ...(opts.credentials ? { credentials: opts.credentials } : {}),
        }),
        `S3 event log ${this.location} (region ${opts.region ?? 'from the environment'})`,
      );
  }

  // ---- keys ---------------------------------------------------------------------------------

  private runKey(runId: string): string {
    return `${this.prefix}runs/${seg(runId)}/run.json`;
  }
  private eventsPrefix(runId: string): string {
    return `${this.prefix}runs/${seg(runId)}/events/`;
  }
  private eventKey(runId: string, seq: number): string {
    return `${this.eventsPrefix(runId)}${String(seq).padStart(SEQ_DIGITS, '0')}.json`;
  }
  private byTimePrefix(): string {
    return `${this.prefix}runs-by-time/`;
  }
  private byTimeKey(run: { runId: string; startedAt: string }): string {
    const ms = Date.parse(run.startedAt);
    const inverted = Number.isFinite(ms) ? Math.max(0, MAX_MS - ms) : MAX_MS;
    return `${this.byTimePrefix()}${String(inverted).padStart(TIME_DIGITS, '0')}-${seg(run.runId)}`;
  }
  private assetPrefix(assetKey: AssetKey): string {
    return `${this.prefix}assets/${seg(assetKey)}/`;
  }

  private sensorPrefix(sensorName: string): string {
    return `${this.prefix}sensors/${seg(sensorName)}/`;
  }

  // ---- S3 primitives ------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new Error(`S3EventLog(${this.location}) is closed`);
  }

  private async getJson<T>(key: string): Promise<Stored<T> | null> {
    try {
      const res = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const text = await res.Body!.transformToString('utf8');
      return { value: JSON.parse(text) as T, etag: res.ETag ?? '' };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** PutObject; `create` → If-None-Match: *, `etag` → If-Match. Throws on a failed condition. */
  private async putJson(key: string, value: unknown, cond: { create: true } | { etag: string } | null): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: JSON.stringify(value),
        ContentType: 'application/json',
        ...(cond && 'create' in cond ? { IfNoneMatch: '*' } : {}),
        ...(cond && 'etag' in cond ? { IfMatch: cond.etag } : {}),
      }),
    );
  }

  /** Every key under a prefix, in key order. */
  private async listKeys(prefix: string, max = Number.POSITIVE_INFINITY): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          ...(token ? { ContinuationToken: token } : {}),
          ...(Number.isFinite(max) ? { MaxKeys: Math.min(1000, max - keys.length) } : {}),
        }),
      );
      for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token && keys.length < max);
    return keys;
  }

  /**
   * Replaces the object at `key` with `candidate` unless it holds something newer, with a
   * conditional write on what was read; a concurrent writer's change (412/409) makes it re-read
   * and decide again. Equal timestamps: the later write wins (as the SQLite log's insertion order).
   */
  private async putIfNewer<T extends { timestamp: string }>(key: string, candidate: T): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.getJson<T>(key);
      if (current && toMs(current.value.timestamp) > toMs(candidate.timestamp)) return;
      try {
        await this.putJson(key, candidate, current ? { etag: current.etag } : { create: true });
        return;
      } catch (err) {
        if (!isConditionFailure(err) || attempt >= CONDITIONAL_RETRIES) throw err;
        await sleep(backoffMs(attempt));
      }
    }
  }

  /** Appends an event with the run's next seq; the create-only write makes a seq collision (another writer) retry. */
  private async appendEvent(runId: string, assetKey: AssetKey | null, type: string, timestamp: string, data: Metadata): Promise<number> {
    let counter = this.nextSeq.get(runId);
    if (!counter) {
      counter = this.lastSeq(runId).then((n) => ({ n: n + 1 }));
      this.nextSeq.set(runId, counter);
      counter.catch(() => this.nextSeq.delete(runId));
    }
    const c = await counter;
    for (let attempt = 0; ; attempt++) {
      const seq = c.n++;
      const event: RunEvent = { seq, runId, assetKey, type, timestamp, data: data ?? {} };
      try {
        await this.putJson(this.eventKey(runId, seq), event, { create: true });
        return seq;
      } catch (err) {
        if (!isConditionFailure(err) || attempt >= CONDITIONAL_RETRIES) throw err;
        // Another writer took this seq: continue after the highest one now stored.
        c.n = Math.max(c.n, (await this.lastSeq(runId)) + 1);
      }
    }
  }

  private async lastSeq(runId: string): Promise<number> {
    const keys = await this.listKeys(this.eventsPrefix(runId));
    const last = keys.at(-1);
    if (!last) return 0;
    const n = Number(last.slice(last.lastIndexOf('/') + 1, -'.json'.length));
    return Number.isFinite(n) ? n : 0;
  }

  // ---- writes -------------------------------------------------------------------------------

  async startRun(run: Omit<RunRecord, 'status' | 'endedAt' | 'error'>): Promise<void> {
    this.assertOpen();
    const record: RunRecord = {
      runId: run.runId,
      selection: run.selection,
      assets: run.assets,
      trigger: run.trigger,
      fullRefresh: run.fullRefresh,
      status: 'STARTED',
      startedAt: run.startedAt,
      endedAt: null,
      error: null,
    };
    if (!(await this.createJson(this.runKey(run.runId), record)).created) throw new Error(`run ${run.runId} is already in the event log`);
    await this.putJson(this.byTimeKey(run), { runId: run.runId, startedAt: run.startedAt }, null);
    await this.appendEvent(run.runId, null, 'RUN_START', run.startedAt, {
      selection: run.selection,
      assets: run.assets,
      trigger: run.trigger,
      fullRefresh: run.fullRefresh,
    });
  }

  async finishRun(runId: string, status: Exclude<RunStatus, 'STARTED'>, endedAt: string, error: string | null = null): Promise<void> {
    this.assertOpen();
    const type = RUN_END_EVENT[status];
    if (!type) throw new Error(`cannot finish run ${runId} with status ${String(status)}`);
    for (let attempt = 0; ; attempt++) {
      const current = await this.getJson<RunRecord>(this.runKey(runId));
      if (!current) throw new Error(`cannot finish run ${runId}: it is not in the event log`);
      try {
        await this.putJson(this.runKey(runId), { ...current.value, status, endedAt, error }, { etag: current.etag });
        break;
      } catch (err) {
        if (!isConditionFailure(err) || attempt >= CONDITIONAL_RETRIES) throw err;
        await sleep(backoffMs(attempt));
      }
    }
    await this.appendEvent(runId, null, type, endedAt, { error });
  }

  async recordEvent(event: Omit<RunEvent, 'seq'>): Promise<void> {
    this.assertOpen();
    await this.appendEvent(event.runId, event.assetKey, event.type, event.timestamp, event.data ?? {});
  }

  async recordMaterialization(m: MaterializationRecord): Promise<void> {
    this.assertOpen();
    const record: MaterializationRecord = { runId: m.runId, assetKey: m.assetKey, timestamp: m.timestamp, metadata: m.metadata ?? {} };
    await this.appendEvent(m.runId, m.assetKey, 'ASSET_MATERIALIZATION', m.timestamp, { metadata: record.metadata });
    await this.putIfNewer(`${this.assetPrefix(m.assetKey)}last-materialization.json`, record);
  }

  async recordCheckResult(r: CheckResultRecord): Promise<void> {
    this.assertOpen();
    const record: CheckResultRecord = {
      runId: r.runId,
      assetKey: r.assetKey,
      checkName: r.checkName,
      severity: r.severity,
      passed: r.passed,
      description: r.description,
      metadata: r.metadata ?? {},
      timestamp: r.timestamp,
    };
    await this.appendEvent(r.runId, r.assetKey, 'ASSET_CHECK_EVALUATION', r.timestamp, {
      checkName: r.checkName,
      severity: r.severity,
      passed: r.passed,
      description: r.description,
      metadata: record.metadata,
    });
    await this.putIfNewer(`${this.assetPrefix(r.assetKey)}last-checks/${seg(r.checkName)}.json`, record);
  }

  async recordFreshness(r: FreshnessRecord): Promise<void> {
    this.assertOpen();
    const record: FreshnessRecord = {
      runId: r.runId,
      assetKey: r.assetKey,
      state: r.state,
      previousState: r.previousState,
      timestamp: r.timestamp,
      metadata: r.metadata ?? {},
    };
    if (r.runId !== null) {
      await this.appendEvent(r.runId, r.assetKey, 'FRESHNESS_EVALUATION', r.timestamp, {
        state: r.state,
        previousState: r.previousState,
        metadata: record.metadata,
      });
    }
    await this.putIfNewer(`${this.assetPrefix(r.assetKey)}last-freshness.json`, record);
  }

  // ---- reads --------------------------------------------------------------------------------

  async lastMaterialization(assetKey: AssetKey): Promise<MaterializationRecord | null> {
    this.assertOpen();
    return (await this.getJson<MaterializationRecord>(`${this.assetPrefix(assetKey)}last-materialization.json`))?.value ?? null;
  }

  async lastCheckResults(assetKey: AssetKey): Promise<Map<string, CheckResultRecord>> {
    this.assertOpen();
    const keys = await this.listKeys(`${this.assetPrefix(assetKey)}last-checks/`);
    const records = await mapLimit(keys, READ_CONCURRENCY, async (k) => (await this.getJson<CheckResultRecord>(k))?.value ?? null);
    const out = new Map<string, CheckResultRecord>();
    for (const r of records.filter((x): x is CheckResultRecord => x !== null).sort((a, b) => (a.checkName < b.checkName ? -1 : a.checkName > b.checkName ? 1 : 0))) {
      out.set(r.checkName, r);
    }
    return out;
  }

  async lastFreshness(assetKey: AssetKey): Promise<FreshnessRecord | null> {
    this.assertOpen();
    return (await this.getJson<FreshnessRecord>(`${this.assetPrefix(assetKey)}last-freshness.json`))?.value ?? null;
  }

  async recentRuns(limit: number): Promise<RunRecord[]> {
    this.assertOpen();
    const n = Math.floor(limit);
    if (!(n > 0)) return [];
    const out: RunRecord[] = [];
    let token: string | undefined;
    do {
      const res = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.byTimePrefix(), MaxKeys: Math.min(1000, n - out.length), ...(token ? { ContinuationToken: token } : {}) }),
      );
      const ids = (res.Contents ?? []).map((o) => decodeURIComponent(o.Key!.slice(this.byTimePrefix().length + TIME_DIGITS + 1)));
      const runs = await mapLimit(ids, READ_CONCURRENCY, async (id) => (await this.getJson<RunRecord>(this.runKey(id)))?.value ?? null);
      // An index entry without its run record (a crash inside startRun) is skipped.
      for (const r of runs) if (r && out.length < n) out.push(r);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token && out.length < n);
    return out;
  }

  /**
   * The run with this id, or, for an id of at least MIN_RUN_ID_PREFIX characters that is no run's
   * full id, the one run whose id starts with it. Throws a UsageError when several runs match (uniqueRunIdMatch).
   */
  async getRun(runId: string): Promise<RunRecord | null> {
    this.assertOpen();
    const exact = await this.getJson<RunRecord>(this.runKey(runId));
    if (exact) return exact.value;
    if (runId.length < MIN_RUN_ID_PREFIX) return null;
    const runsPrefix = `${this.prefix}runs/`;
    const res = await this.s3.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${runsPrefix}${seg(runId)}`, Delimiter: '/', MaxKeys: RUN_ID_PREFIX_LOOKUP }),
    );
    const ids = (res.CommonPrefixes ?? []).map((p) => decodeURIComponent(p.Prefix!.slice(runsPrefix.length, -1)));
    const id = uniqueRunIdMatch(runId, ids, res.IsTruncated === true);
    return id === null ? null : ((await this.getJson<RunRecord>(this.runKey(id)))?.value ?? null);
  }

  async runEvents(runId: string): Promise<RunEvent[]> {
    this.assertOpen();
    const keys = await this.listKeys(this.eventsPrefix(runId));
    const events = await mapLimit(keys, READ_CONCURRENCY, async (k) => (await this.getJson<RunEvent>(k))?.value ?? null);
    return events.filter((e): e is RunEvent => e !== null).sort((a, b) => a.seq - b.seq);
  }

  // ---- sensors ------------------------------------------------------------------------------

  async recordSensorTick(tick: SensorTickRecord): Promise<void> {
    this.assertOpen();
    const ms = Date.parse(tick.timestamp);
    const inverted = Number.isFinite(ms) ? Math.max(0, MAX_MS - ms) : MAX_MS;
    const base = this.sensorPrefix(tick.sensorName);
    await this.putJson(`${base}ticks/${String(inverted).padStart(TIME_DIGITS, '0')}-${seg(tick.tickId)}.json`, tick, { create: true });
    await this.putIfNewer(`${base}last-tick.json`, tick);
    if (tick.runRequests.length > 0) await this.putIfNewer(`${base}last-request.json`, tick);
  }

  async lastSensorTick(sensorName: string): Promise<SensorTickRecord | null> {
    this.assertOpen();
    return (await this.getJson<SensorTickRecord>(`${this.sensorPrefix(sensorName)}last-tick.json`))?.value ?? null;
  }

  async sensorTicks(sensorName: string, limit: number): Promise<SensorTickRecord[]> {
    this.assertOpen();
    const n = Math.floor(limit);
    if (!(n > 0)) return [];
    const keys = await this.listKeys(`${this.sensorPrefix(sensorName)}ticks/`, n);
    const ticks = await mapLimit(keys, READ_CONCURRENCY, async (k) => (await this.getJson<SensorTickRecord>(k))?.value ?? null);
    return ticks.filter((x): x is SensorTickRecord => x !== null);
  }

  async lastSensorRequest(sensorName: string): Promise<SensorTickRecord | null> {
    this.assertOpen();
    const pointer = await this.getJson<SensorTickRecord>(`${this.sensorPrefix(sensorName)}last-request.json`);
    if (pointer) return pointer.value;
    // Ticks recorded before the pointer existed: the newest requesting one among the recent ticks.
    return (await this.sensorTicks(sensorName, LEGACY_REQUEST_LOOKBACK_TICKS)).find((t) => t.runRequests.length > 0) ?? null;
  }

  async claimRunKey(claim: SensorRunKeyClaim): Promise<{ claim: SensorRunKeyClaim; created: boolean }> {
    this.assertOpen();
    const key = `${this.sensorPrefix(claim.sensorName)}run-keys/${seg(claim.runKey)}.json`;
    const written = await this.createJson(key, claim);
    return written.created ? { claim: { ...claim }, created: true } : { claim: written.stored, created: false };
  }

  // ---- alert escalation ----------------------------------------------------------------------
  // alerts/open/<alert id>.json: one object per open alert, created only if absent;
  // alerts/markers/<alert id>/<opened ms>-<marker>.json: created only if absent, so one caller wins.

  private openAlertKey(alertId: string): string {
    return `${this.prefix}alerts/open/${seg(alertId)}.json`;
  }
  private markerKey(alertId: string, openedAt: string, marker: AlertMarker): string {
    return `${this.prefix}alerts/markers/${seg(alertId)}/${seg(openedAt)}-${marker}.json`;
  }

  /**
   * Create-only write: `created`, or the object another writer stored first. S3 answers 412 when
   * one is stored, and 409 (ConditionalRequestConflict) while another write of it is in flight and
   * may yet fail, so nothing may be stored: then it reads, and creates again if so.
   */
  private async createJson<T>(key: string, value: T): Promise<{ created: true } | { created: false; stored: T }> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.putJson(key, value, { create: true });
        return { created: true };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
      const stored = await this.getJson<T>(key);
      if (stored) return { created: false, stored: stored.value };
      if (attempt >= CONDITIONAL_RETRIES) throw new Error(`S3 refused to create ${key} ${attempt + 1} times as conflicting, yet nothing is stored there`);
      await sleep(backoffMs(attempt));
    }
  }

  readonly alerts: AlertLedger = {
    openAlert: async (a: OpenAlertRecord) => {
      this.assertOpen();
      return (await this.createJson(this.openAlertKey(a.alertId), a)).created;
    },
    openAlerts: async () => {
      this.assertOpen();
      const keys = await this.listKeys(`${this.prefix}alerts/open/`);
      const found = await mapLimit(keys, READ_CONCURRENCY, async (k) => (await this.getJson<OpenAlertRecord>(k))?.value ?? null);
      return found.filter((a): a is OpenAlertRecord => a !== null).sort((a, b) => toMs(a.openedAt) - toMs(b.openedAt) || a.alertId.localeCompare(b.alertId));
    },
    closeAlert: async (alertId: string) => {
      this.assertOpen();
      const key = this.openAlertKey(alertId);
      const current = await this.getJson<OpenAlertRecord>(key);
      if (!current) return null;
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      return current.value;
    },
    claimAlertMarker: async (alertId: string, openedAt: string, marker: AlertMarker, timestamp: string) => {
      this.assertOpen();
      return (await this.createJson(this.markerKey(alertId, openedAt, marker), { alertId, openedAt, marker, timestamp })).created;
    },
    hasAlertMarker: async (alertId: string, openedAt: string, marker: AlertMarker) => {
      this.assertOpen();
      return (await this.getJson(this.markerKey(alertId, openedAt, marker))) !== null;
    },
  };

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) this.s3.destroy();
  }
}
