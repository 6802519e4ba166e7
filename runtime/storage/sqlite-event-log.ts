import path from 'node:path';
import { makeDirectory } from '../state.js';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { AssetKey } from '../keys.js';
import type { Metadata } from '../definitions.js';
import { backoffDelay } from '../retry.js';
import type {
  AlertLedger,
  AlertMarker,
  AssetHistory,
  CheckResultRecord,
  EventLog,
  FreshnessRecord,
  FreshnessState,
  MaterializationRecord,
  OpenAlertRecord,
  RunEvent,
  RunRecord,
  RunStatus,
  RunTrigger,
  SensorRunKeyClaim,
  SensorTickRecord,
} from './event-log.js';
import { MIN_RUN_ID_PREFIX, RUN_ID_PREFIX_LOOKUP, uniqueRunIdMatch } from './event-log.js';

/** The schema version this code writes (stored in PRAGMA user_version). */
export const EVENT_LOG_SCHEMA_VERSION = 4;


const BUSY_TIMEOUT_MS = 15_000;
const BUSY_RETRIES = 5;

/**
 * Migrations, index i takes the schema from version i to i + 1.
 * Append new ones; never edit a released one.
 */
const MIGRATIONS: readonly string[] = [
  // 0 -> 1
  `
  CREATE TABLE IF NOT EXISTS runs (
    run_id        TEXT PRIMARY KEY,
    selection     TEXT NOT NULL,
    assets        TEXT NOT NULL,           -- JSON array of asset keys
    trigger       TEXT NOT NULL,
    full_refresh  INTEGER NOT NULL,
    status        TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    started_ms    INTEGER,                 -- Date.parse(started_at), for ordering
    ended_at      TEXT,
    error         TEXT
  );
  CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_ms);

  CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     TEXT NOT NULL,
    asset_key  TEXT,
    type       TEXT NOT NULL,
    timestamp  TEXT NOT NULL,
    data       TEXT NOT NULL               -- JSON object
  );
  CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq);

  CREATE TABLE IF NOT EXISTS materializations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq  INTEGER NOT NULL,
    run_id     TEXT NOT NULL,
    asset_key  TEXT NOT NULL,
    timestamp  TEXT NOT NULL,
    ts_ms      INTEGER,
    metadata   TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS materializations_by_asset ON materializations (asset_key, ts_ms);

  CREATE TABLE IF NOT EXISTS check_results (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq   INTEGER NOT NULL,
    run_id      TEXT NOT NULL,
    asset_key   TEXT NOT NULL,
    check_name  TEXT NOT NULL,
    severity    TEXT NOT NULL,
    passed      INTEGER NOT NULL,
    description TEXT,
    timestamp   TEXT NOT NULL,
    ts_ms       INTEGER,
    metadata    TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS check_results_by_asset ON check_results (asset_key, check_name, ts_ms);

  CREATE TABLE IF NOT EXISTS freshness (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq      INTEGER,                -- null when not evaluated within a run
    run_id         TEXT,
    asset_key      TEXT NOT NULL,
    state          TEXT NOT NULL,
    previous_state TEXT,
    timestamp      TEXT NOT NULL,
    ts_ms          INTEGER,
    metadata       TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS freshness_by_asset ON freshness (asset_key, ts_ms);
  `,
  // 1 -> 2: sensors (runtime/sensors.ts)
  `
  CREATE TABLE IF NOT EXISTS sensor_ticks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sensor_name  TEXT NOT NULL,
    tick_id      TEXT NOT NULL,
    timestamp    TEXT NOT NULL,
    ts_ms        INTEGER,
    status       TEXT NOT NULL,
    record       TEXT NOT NULL              -- JSON SensorTickRecord
  );
  CREATE INDEX IF NOT EXISTS sensor_ticks_by_sensor ON sensor_ticks (sensor_name, ts_ms);

  CREATE TABLE IF NOT EXISTS sensor_run_keys (
    sensor_name  TEXT NOT NULL,
    run_key      TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    tick_id      TEXT NOT NULL,
    timestamp    TEXT NOT NULL,
    PRIMARY KEY (sensor_name, run_key)
  );
  `,
  // 2 -> 3: alert escalation (AlertLedger)
  `
  CREATE TABLE IF NOT EXISTS open_alerts (
    alert_id   TEXT PRIMARY KEY,
    opened_at  TEXT NOT NULL,
    opened_ms  INTEGER,
    event      TEXT NOT NULL               -- JSON object: the alert as sent
  );
  CREATE TABLE IF NOT EXISTS alert_markers (
    alert_id   TEXT NOT NULL,
    opened_at  TEXT NOT NULL,
    marker     TEXT NOT NULL,              -- escalated | recovered
    timestamp  TEXT NOT NULL,
    PRIMARY KEY (alert_id, opened_at, marker)
  );
  `,
  // 3 -> 4: a sensor's newest tick that requested runs, found without reading its quiet ticks
  `
  CREATE INDEX IF NOT EXISTS sensor_ticks_requesting ON sensor_ticks (sensor_name, ts_ms)
    WHERE json_array_length(record, '$.runRequests') > 0;
  `,
];

interface RunRow {
  run_id: string;
  selection: string;
  assets: string;
  trigger: string;
  full_refresh: number;
  status: string;
  started_at: string;
  ended_at: string | null;
  error: string | null;
}

interface EventRow {
  seq: number;
  run_id: string;
  asset_key: string | null;
  type: string;
  timestamp: string;
  data: string;
}

interface MaterializationRow {
  run_id: string;
  asset_key: string;
  timestamp: string;
  metadata: string;
}

interface CheckResultRow {
  run_id: string;
  asset_key: string;
  check_name: string;
  severity: string;
  passed: number;
  description: string | null;
  timestamp: string;
  metadata: string;
}

interface FreshnessRow {
  run_id: string | null;
  asset_key: string;
  state: string;
  previous_state: string | null;
  timestamp: string;
  metadata: string;
}

function toMs(iso: string): number | null {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
}

function parseObject(json: string): Metadata {
  const v: unknown = JSON.parse(json);
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Metadata) : { value: v };
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

const RUN_END_EVENT: Record<Exclude<RunStatus, 'STARTED'>, string> = {
  SUCCESS: 'RUN_SUCCESS',
  FAILURE: 'RUN_FAILURE',
  CANCELED: 'RUN_CANCELED',
};

/**
 * The embedded event log: one SQLite file (WAL mode) in the state directory.
 *
 * Event types it appends itself, with their `data`:
 * - `RUN_START` `{ selection, assets, trigger, fullRefresh }`
 * - `RUN_SUCCESS` / `RUN_FAILURE` / `RUN_CANCELED` `{ error }`
 * - `ASSET_MATERIALIZATION` `{ metadata }`
 * - `ASSET_CHECK_EVALUATION` `{ checkName, severity, passed, description, metadata }`
 * - `FRESHNESS_EVALUATION` `{ state, previousState, metadata }` (only when the record has a runId)
 *
 * Sensor ticks and run-key claims are not run events: they have tables of their own
 * (`sensor_ticks`, `sensor_run_keys`, whose primary key makes a claim atomic).
 *
 * Several processes may use the same file at once: every write is its own
 * `BEGIN IMMEDIATE` transaction, SQLite's busy timeout waits for the other
 * writer, and SQLITE_BUSY that still comes through is retried a few times.
 */
export class SqliteEventLog implements EventLog {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly stmts: ReturnType<SqliteEventLog['prepare']>;

  private constructor(file: string, db: Database.Database) {
    this.path = file;
    this.db = db;
    this.stmts = this.prepare();
  }

  /** Opens (creating the file, its directory and schema when needed) the event log at `file`. */
  static open(file: string): SqliteEventLog {
    makeDirectory(path.dirname(path.resolve(file)));
    const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    try {
      retrySync(() => db.pragma('journal_mode = WAL'));
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('synchronous = NORMAL');
      retrySync(() => migrate(db, file));
      return new SqliteEventLog(file, db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private prepare() {
    const db = this.db;
    return {
      insertRun: db.prepare(
        `INSERT INTO runs (run_id, selection, assets, trigger, full_refresh, status, started_at, started_ms, ended_at, error)
         VALUES (?, ?, ?, ?, ?, 'STARTED', ?, ?, NULL, NULL)`,
      ),
      finishRun: db.prepare(`UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE run_id = ?`),
      insertEvent: db.prepare(
        `INSERT INTO events (run_id, asset_key, type, timestamp, data) VALUES (?, ?, ?, ?, ?)`,
      ),
      insertMaterialization: db.prepare(
        `INSERT INTO materializations (event_seq, run_id, asset_key, timestamp, ts_ms, metadata) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      insertCheckResult: db.prepare(
        `INSERT INTO check_results (event_seq, run_id, asset_key, check_name, severity, passed, description, timestamp, ts_ms, metadata)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertFreshness: db.prepare(
        `INSERT INTO freshness (event_seq, run_id, asset_key, state, previous_state, timestamp, ts_ms, metadata)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      lastMaterialization: db.prepare(
        `SELECT run_id, asset_key, timestamp, metadata FROM materializations
         WHERE asset_key = ? ORDER BY ts_ms DESC, id DESC LIMIT 1`,
      ),
      lastCheckResults: db.prepare(
        `SELECT run_id, asset_key, check_name, severity, passed, description, timestamp, metadata FROM (
           SELECT *, ROW_NUMBER() OVER (PARTITION BY check_name ORDER BY ts_ms DESC, id DESC) AS rn
           FROM check_results WHERE asset_key = ?
         ) WHERE rn = 1 ORDER BY check_name`,
      ),
      lastFreshness: db.prepare(
        `SELECT run_id, asset_key, state, previous_state, timestamp, metadata FROM freshness
         WHERE asset_key = ? ORDER BY ts_ms DESC, id DESC LIMIT 1`,
      ),
      recentRuns: db.prepare(`SELECT * FROM runs ORDER BY started_ms DESC, rowid DESC LIMIT ?`),
      runById: db.prepare(`SELECT * FROM runs WHERE run_id = ?`),
      runsByPrefix: db.prepare(
        `SELECT * FROM runs WHERE substr(run_id, 1, length(@prefix)) = @prefix ORDER BY started_ms DESC, rowid DESC LIMIT @limit`,
      ),
      runEvents: db.prepare(`SELECT * FROM events WHERE run_id = ? ORDER BY seq`),
      materializationsOf: db.prepare(
        `SELECT run_id, asset_key, timestamp, metadata FROM materializations WHERE asset_key = ? ORDER BY ts_ms DESC, id DESC LIMIT ?`,
      ),
      checkResultsOf: db.prepare(
        `SELECT run_id, asset_key, check_name, severity, passed, description, timestamp, metadata FROM check_results
         WHERE asset_key = ? ORDER BY ts_ms DESC, id DESC LIMIT ?`,
      ),
      insertSensorTick: db.prepare(`INSERT INTO sensor_ticks (sensor_name, tick_id, timestamp, ts_ms, status, record) VALUES (?, ?, ?, ?, ?, ?)`),
      sensorTicks: db.prepare(`SELECT record FROM sensor_ticks WHERE sensor_name = ? ORDER BY ts_ms DESC, id DESC LIMIT ?`),
      lastSensorRequest: db.prepare(
        `SELECT record FROM sensor_ticks WHERE sensor_name = ? AND json_array_length(record, '$.runRequests') > 0 ORDER BY ts_ms DESC, id DESC LIMIT 1`,
      ),
      claimRunKey: db.prepare(
        `INSERT INTO sensor_run_keys (sensor_name, run_key, run_id, tick_id, timestamp) VALUES (?, ?, ?, ?, ?) ON CONFLICT (sensor_name, run_key) DO NOTHING`,
      ),
      runKeyClaim: db.prepare(`SELECT sensor_name, run_key, run_id, tick_id, timestamp FROM sensor_run_keys WHERE sensor_name = ? AND run_key = ?`),
      freshnessOf: db.prepare(
        `SELECT run_id, asset_key, state, previous_state, timestamp, metadata FROM freshness WHERE asset_key = ? ORDER BY ts_ms DESC, id DESC LIMIT ?`,
      ),
    };
  }

  /** Runs `fn` in its own BEGIN IMMEDIATE transaction, retrying when the file stays busy. */
  private async write<T>(fn: () => T): Promise<T> {
    const tx = this.db.transaction(fn);
    for (let attempt = 0; ; attempt++) {
      try {
        return tx.immediate();
      } catch (err) {
        if (!isBusy(err) || attempt >= BUSY_RETRIES) throw err;
        await sleep(backoffMs(attempt));
      }
    }
  }

  private async read<T>(fn: () => T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return fn();
      } catch (err) {
        if (!isBusy(err) || attempt >= BUSY_RETRIES) throw err;
        await sleep(backoffMs(attempt));
      }
    }
  }

  private appendEvent(runId: string, assetKey: AssetKey | null, type: string, timestamp: string, data: Metadata): number {
    const info = this.stmts.insertEvent.run(runId, assetKey, type, timestamp, JSON.stringify(data));
    return Number(info.lastInsertRowid);
  }

  async startRun(run: Omit<RunRecord, 'status' | 'endedAt' | 'error'>): Promise<void> {
    await this.write(() => {
      if (this.stmts.runById.get(run.runId)) throw new Error(`run ${run.runId} is already in the event log`);
      this.stmts.insertRun.run(
        run.runId,
        run.selection,
        JSON.stringify(run.assets),
        run.trigger,
        run.fullRefresh ? 1 : 0,
        run.startedAt,
        toMs(run.startedAt),
      );
      this.appendEvent(run.runId, null, 'RUN_START', run.startedAt, {
        selection: run.selection,
        assets: run.assets,
        trigger: run.trigger,
        fullRefresh: run.fullRefresh,
      });
    });
  }

  async finishRun(
    runId: string,
    status: Exclude<RunStatus, 'STARTED'>,
    endedAt: string,
    error: string | null = null,
  ): Promise<void> {
    const type = RUN_END_EVENT[status];
    if (!type) throw new Error(`cannot finish run ${runId} with status ${String(status)}`);
    await this.write(() => {
      const info = this.stmts.finishRun.run(status, endedAt, error, runId);
      if (info.changes === 0) throw new Error(`cannot finish run ${runId}: it is not in the event log`);
      this.appendEvent(runId, null, type, endedAt, { error });
    });
  }

  async recordEvent(event: Omit<RunEvent, 'seq'>): Promise<void> {
    await this.write(() => {
      this.appendEvent(event.runId, event.assetKey, event.type, event.timestamp, event.data ?? {});
    });
  }

  async recordMaterialization(m: MaterializationRecord): Promise<void> {
    await this.write(() => {
      const seq = this.appendEvent(m.runId, m.assetKey, 'ASSET_MATERIALIZATION', m.timestamp, { metadata: m.metadata });
      this.stmts.insertMaterialization.run(seq, m.runId, m.assetKey, m.timestamp, toMs(m.timestamp), JSON.stringify(m.metadata ?? {}));
    });
  }

  async recordCheckResult(r: CheckResultRecord): Promise<void> {
    await this.write(() => {
      const seq = this.appendEvent(r.runId, r.assetKey, 'ASSET_CHECK_EVALUATION', r.timestamp, {
        checkName: r.checkName,
        severity: r.severity,
        passed: r.passed,
        description: r.description,
        metadata: r.metadata,
      });
      this.stmts.insertCheckResult.run(
        seq,
        r.runId,
        r.assetKey,
        r.checkName,
        r.severity,
        r.passed ? 1 : 0,
        r.description,
        r.timestamp,
        toMs(r.timestamp),
        JSON.stringify(r.metadata ?? {}),
      );
    });
  }

  async recordFreshness(r: FreshnessRecord): Promise<void> {
    await this.write(() => {
      const seq =
        r.runId === null
          ? null
          : this.appendEvent(r.runId, r.assetKey, 'FRESHNESS_EVALUATION', r.timestamp, {
              state: r.state,
              previousState: r.previousState,
              metadata: r.metadata,
            });
      this.stmts.insertFreshness.run(
        seq,
        r.runId,
        r.assetKey,
        r.state,
        r.previousState,
        r.timestamp,
        toMs(r.timestamp),
        JSON.stringify(r.metadata ?? {}),
      );
    });
  }

  async lastMaterialization(assetKey: AssetKey): Promise<MaterializationRecord | null> {
    const row = await this.read(() => this.stmts.lastMaterialization.get(assetKey) as MaterializationRow | undefined);
    return row ? toMaterialization(row) : null;
  }

  async lastCheckResults(assetKey: AssetKey): Promise<Map<string, CheckResultRecord>> {
    const rows = await this.read(() => this.stmts.lastCheckResults.all(assetKey) as CheckResultRow[]);
    return new Map(rows.map((row) => [row.check_name, toCheckResult(row)]));
  }

  async lastFreshness(assetKey: AssetKey): Promise<FreshnessRecord | null> {
    const row = await this.read(() => this.stmts.lastFreshness.get(assetKey) as FreshnessRow | undefined);
    return row ? toFreshness(row) : null;
  }

  async assetHistory(assetKey: AssetKey, limit: number): Promise<AssetHistory> {
    const n = Math.max(0, Math.floor(limit));
    return this.read(() => ({
      materializations: (this.stmts.materializationsOf.all(assetKey, n) as MaterializationRow[]).map(toMaterialization),
      checkResults: (this.stmts.checkResultsOf.all(assetKey, n) as CheckResultRow[]).map(toCheckResult),
      freshness: (this.stmts.freshnessOf.all(assetKey, n) as FreshnessRow[]).map(toFreshness),
    }));
  }

  async recentRuns(limit: number): Promise<RunRecord[]> {
    const n = Math.floor(limit);
    if (!(n > 0)) return [];
    const rows = await this.read(() => this.stmts.recentRuns.all(n) as RunRow[]);
    return rows.map(toRunRecord);
  }

  /**
   * The run with this id, or, for an id of at least MIN_RUN_ID_PREFIX characters that is
   * no run's full id, the one run whose id starts with it. Throws a UsageError when
   * several runs match the prefix (uniqueRunIdMatch, the rule every event log shares).
   */
  async getRun(runId: string): Promise<RunRecord | null> {
    return this.read(() => {
      const exact = this.stmts.runById.get(runId) as RunRow | undefined;
      if (exact) return toRunRecord(exact);
      if (runId.length < MIN_RUN_ID_PREFIX) return null;
      const rows = this.stmts.runsByPrefix.all({ prefix: runId, limit: RUN_ID_PREFIX_LOOKUP }) as RunRow[];
      const id = uniqueRunIdMatch(runId, rows.map((r) => r.run_id));
      return id === null ? null : toRunRecord(rows.find((r) => r.run_id === id)!);
    });
  }

  async runEvents(runId: string): Promise<RunEvent[]> {
    const rows = await this.read(() => this.stmts.runEvents.all(runId) as EventRow[]);
    return rows.map((row) => ({
      seq: row.seq,
      runId: row.run_id,
      assetKey: row.asset_key,
      type: row.type,
      timestamp: row.timestamp,
      data: parseObject(row.data),
    }));
  }

  async recordSensorTick(tick: SensorTickRecord): Promise<void> {
    await this.write(() => {
      this.stmts.insertSensorTick.run(tick.sensorName, tick.tickId, tick.timestamp, toMs(tick.timestamp), tick.status, JSON.stringify(tick));
    });
  }

  async lastSensorTick(sensorName: string): Promise<SensorTickRecord | null> {
    return (await this.sensorTicks(sensorName, 1))[0] ?? null;
  }

  async sensorTicks(sensorName: string, limit: number): Promise<SensorTickRecord[]> {
    const n = Math.floor(limit);
    if (!(n > 0)) return [];
    const rows = await this.read(() => this.stmts.sensorTicks.all(sensorName, n) as { record: string }[]);
    return rows.map((r) => JSON.parse(r.record) as SensorTickRecord);
  }

  async lastSensorRequest(sensorName: string): Promise<SensorTickRecord | null> {
    const row = await this.read(() => this.stmts.lastSensorRequest.get(sensorName) as { record: string } | undefined);
    return row ? (JSON.parse(row.record) as SensorTickRecord) : null;
  }

  async claimRunKey(claim: SensorRunKeyClaim): Promise<{ claim: SensorRunKeyClaim; created: boolean }> {
    return this.write(() => {
      const info = this.stmts.claimRunKey.run(claim.sensorName, claim.runKey, claim.runId, claim.tickId, claim.timestamp);
      const row = this.stmts.runKeyClaim.get(claim.sensorName, claim.runKey) as
        | { sensor_name: string; run_key: string; run_id: string; tick_id: string; timestamp: string }
        | undefined;
      if (!row) throw new Error(`run key ${claim.runKey} of sensor ${claim.sensorName} was not stored`);
      return {
        claim: { sensorName: row.sensor_name, runKey: row.run_key, runId: row.run_id, tickId: row.tick_id, timestamp: row.timestamp },
        created: info.changes === 1,
      };
    });
  }

  /** Escalation's state: rows of open_alerts and alert_markers, written in transactions (one winner per marker). */
  readonly alerts: AlertLedger = {
    openAlert: (a: OpenAlertRecord) =>
      this.write(
        () =>
          this.db
            .prepare(`INSERT OR IGNORE INTO open_alerts (alert_id, opened_at, opened_ms, event) VALUES (?, ?, ?, ?)`)
            .run(a.alertId, a.openedAt, toMs(a.openedAt), JSON.stringify(a.event ?? {})).changes === 1,
      ),
    openAlerts: () =>
      this.read(() =>
        (this.db.prepare(`SELECT * FROM open_alerts ORDER BY opened_ms, alert_id`).all() as OpenAlertRow[]).map(toOpenAlert),
      ),
    closeAlert: (alertId: string) =>
      this.write(() => {
        const row = this.db.prepare(`SELECT * FROM open_alerts WHERE alert_id = ?`).get(alertId) as OpenAlertRow | undefined;
        if (!row) return null;
        this.db.prepare(`DELETE FROM open_alerts WHERE alert_id = ?`).run(alertId);
        return toOpenAlert(row);
      }),
    claimAlertMarker: (alertId: string, openedAt: string, marker: AlertMarker, timestamp: string) =>
      this.write(
        () =>
          this.db
            .prepare(`INSERT OR IGNORE INTO alert_markers (alert_id, opened_at, marker, timestamp) VALUES (?, ?, ?, ?)`)
            .run(alertId, openedAt, marker, timestamp).changes === 1,
      ),
    hasAlertMarker: (alertId: string, openedAt: string, marker: AlertMarker) =>
      this.read(() => this.db.prepare(`SELECT 1 FROM alert_markers WHERE alert_id = ? AND opened_at = ? AND marker = ?`).get(alertId, openedAt, marker) !== undefined),
  };

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

interface OpenAlertRow {
  alert_id: string;
  opened_at: string;
  event: string;
}

function toOpenAlert(row: OpenAlertRow): OpenAlertRecord {
  return { alertId: row.alert_id, openedAt: row.opened_at, event: parseObject(row.event) };
}

function toMaterialization(row: MaterializationRow): MaterializationRecord {
  return { runId: row.run_id, assetKey: row.asset_key, timestamp: row.timestamp, metadata: parseObject(row.metadata) };
}

function toCheckResult(row: CheckResultRow): CheckResultRecord {
  return {
    runId: row.run_id,
    assetKey: row.asset_key,
    checkName: row.check_name,
    severity: row.severity as CheckResultRecord['severity'],
    passed: row.passed !== 0,
    description: row.description,
    metadata: parseObject(row.metadata),
    timestamp: row.timestamp,
  };
}

function toFreshness(row: FreshnessRow): FreshnessRecord {
  return {
    runId: row.run_id,
    assetKey: row.asset_key,
    state: row.state as FreshnessState,
    previousState: row.previous_state as FreshnessState | null,
    timestamp: row.timestamp,
    metadata: parseObject(row.metadata),
  };
}

function toRunRecord(row: RunRow): RunRecord {
  return {
    runId: row.run_id,
    selection: row.selection,
    assets: JSON.parse(row.assets) as AssetKey[],
    trigger: row.trigger as RunTrigger,
    fullRefresh: row.full_refresh !== 0,
    status: row.status as RunStatus,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    error: row.error,
  };
}

/** Wait before busy retry `attempt` (0-based): 50-100 ms, doubling. */
function backoffMs(attempt: number): number {
  return backoffDelay({ baseDelayMs: 100, maxDelayMs: 5000, jitter: 0.5 }, attempt + 1);
}

/** Synchronous retry on SQLITE_BUSY, for open() which is synchronous. */
function retrySync<T>(fn: () => T): T {
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (err) {
      if (!isBusy(err) || attempt >= BUSY_RETRIES) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, backoffMs(attempt));
    }
  }
}

function migrate(db: Database.Database, file: string): void {
  const current = () => db.pragma('user_version', { simple: true }) as number;
  if (current() === EVENT_LOG_SCHEMA_VERSION) return;
  db.transaction(() => {
    // Re-read inside the write lock: another process may have migrated meanwhile.
    let version = current();
    if (version > EVENT_LOG_SCHEMA_VERSION) {
      throw new Error(
        `the event log ${file} has schema version ${version}, newer than this program supports (${EVENT_LOG_SCHEMA_VERSION}); upgrade sfpipe`,
      );
    }
    while (version < EVENT_LOG_SCHEMA_VERSION) {
      const step = MIGRATIONS[version];
      if (step === undefined) throw new Error(`no migration from event log schema version ${version}`);
      db.exec(step);
      version++;
      db.pragma(`user_version = ${version}`);
    }
  }).immediate();
}
