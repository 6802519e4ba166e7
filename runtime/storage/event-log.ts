import type { CheckSeverity, Metadata } from '../definitions.js';
import { UsageError } from '../errors.js';
import type { AssetKey } from '../keys.js';

/** Shortest run id prefix `getRun` resolves. */
export const MIN_RUN_ID_PREFIX = 6;
/** How many runs a store looks up for a prefix: one more than an ambiguous prefix's error names. */
export const RUN_ID_PREFIX_LOOKUP = 6;

/**
 * The prefix rule of every event log's `getRun`, after the store found no run with that exact id
 * and looked up the ids that start with it (at most RUN_ID_PREFIX_LOOKUP; `more` when it has more):
 * the one match, null for none (or for a prefix shorter than MIN_RUN_ID_PREFIX, which the store
 * need not look up), and a UsageError naming up to five when several match.
 */
export function uniqueRunIdMatch(prefix: string, ids: readonly string[], more = false): string | null {
  if (prefix.length < MIN_RUN_ID_PREFIX || ids.length === 0) return null;
  if (ids.length === 1) return ids[0]!;
  const many = ids.length > 5 || more;
  throw new UsageError(
    `run id prefix "${prefix}" is ambiguous: it matches ${many ? 'more than 5' : ids.length} runs (${ids.slice(0, 5).join(', ')}${many ? ', …' : ''}); give more characters`,
  );
}

export type RunStatus = 'STARTED' | 'SUCCESS' | 'FAILURE' | 'CANCELED';
/** What started a run; `sensor:<name>` for a run a sensor requested (runtime/sensors.ts). */
export type RunTrigger = 'cli' | 'schedule' | 'manual' | 'test' | `sensor:${string}`;

/** What starts a run, besides a sensor (`sensor:<name>`). */
export const RUN_TRIGGER_KINDS = ['cli', 'schedule', 'manual', 'test'] as const;

/** `sensor:<name>`, a sensor's name being lowercase letters, digits, _ and - (runtime/sensors.ts). */
/** A sensor's name (its trigger is `sensor:<name>`). */
export const SENSOR_NAME = /^[a-z][a-z0-9_-]{0,47}$/;
export const isSensorTrigger = (v: string): v is `sensor:${string}` => v.startsWith('sensor:') && SENSOR_NAME.test(v.slice('sensor:'.length));

export const isRunTrigger = (v: string): v is RunTrigger => (RUN_TRIGGER_KINDS as readonly string[]).includes(v) || isSensorTrigger(v);

/** A run id, or a prefix of one: letters, digits and dashes, and a retried attempt's `.N` (runtime/api/materialize.ts). */
export const isRunIdText = (v: string): boolean => /^[A-Za-z0-9][A-Za-z0-9.-]{0,79}$/.test(v);
export type FreshnessState = 'PASS' | 'WARN' | 'FAIL' | 'UNKNOWN' | 'NOT_APPLICABLE';

export interface RunRecord {
  runId: string;
  selection: string;
  assets: AssetKey[];
  trigger: RunTrigger;
  fullRefresh: boolean;
  status: RunStatus;
  startedAt: string;
  endedAt: string | null;
  error: string | null;
}

export interface MaterializationRecord {
  runId: string;
  assetKey: AssetKey;
  timestamp: string;
  metadata: Metadata;
}

export interface CheckResultRecord {
  runId: string;
  assetKey: AssetKey;
  checkName: string;
  severity: CheckSeverity;
  passed: boolean;
  description: string | null;
  metadata: Metadata;
  timestamp: string;
}

export interface FreshnessRecord {
  runId: string | null;
  assetKey: AssetKey;
  state: FreshnessState;
  previousState: FreshnessState | null;
  timestamp: string;
  metadata: Metadata;
}

/** Every event of a run, in order; the record types above are views of these. */
export interface RunEvent {
  seq: number;
  runId: string;
  assetKey: AssetKey | null;
  type: string;
  timestamp: string;
  data: Metadata;
}

/** One asset's records, each list newest first (the UI's asset page). */
export interface AssetHistory {
  materializations: MaterializationRecord[];
  checkResults: CheckResultRecord[];
  freshness: FreshnessRecord[];
}

/** What one evaluation of a sensor came to (runtime/sensors.ts). */
export type SensorTickStatus = 'SKIPPED' | 'REQUESTED' | 'FAILURE';

/** A run a tick requested: its run key, the run id it got, and what launching it did. */
export interface SensorRunRequestRecord {
  runKey: string;
  runId: string;
  selection: string;
  /** false: an earlier tick had requested this run key already (deduplicated). */
  new: boolean;
  /** LAUNCHED, ALREADY_LAUNCHED (deduplicated) or NOT_LAUNCHED (e.g. the run lock was held; a later tick retries). */
  launch: 'LAUNCHED' | 'ALREADY_LAUNCHED' | 'NOT_LAUNCHED';
  detail: string;
  /** Set when the run, launched in the ticking process, failed (or launching it failed). */
  failed?: boolean;
}

/** One evaluation of a sensor, with the cursor it left. */
export interface SensorTickRecord {
  sensorName: string;
  tickId: string;
  /** When the evaluation started. */
  timestamp: string;
  status: SensorTickStatus;
  cursorBefore: string | null;
  /** The sensor's cursor after this tick (the same as before when it failed). */
  cursor: string | null;
  skipReason: string | null;
  error: string | null;
  runRequests: SensorRunRequestRecord[];
  metadata: Metadata;
}

/** The first request of a run key by a sensor: which run it got. */
export interface SensorRunKeyClaim {
  sensorName: string;
  runKey: string;
  runId: string;
  tickId: string;
  timestamp: string;
}

/** An alert that went out and has not recovered yet: what escalation watches (runtime/alerts/escalation.ts). */
export interface OpenAlertRecord {
  /** What can fail, e.g. `check|sf_raw/sf_user|row_count`: one open alert per id. */
  alertId: string;
  /** When it was first sent (ISO); an alert that moves WARN → FAIL stays open since then. */
  openedAt: string;
  /** The alert as it was sent (an AlertEvent), for the escalation's message. */
  event: Metadata;
}

/** What happened once to one opening of an alert: sent to the escalation channel, its recovery sent there. */
export type AlertMarker = 'escalated' | 'recovered';

/**
 * Escalation's state, kept with the event log so that `check` runs in different pods escalate
 * an alert exactly once. Both stores implement it; a store without it cannot escalate.
 */
export interface AlertLedger {
  /** Records the alert as open unless one with its id already is; true when it opened it. */
  openAlert(alert: OpenAlertRecord): Promise<boolean>;
  /** Every open alert, oldest first. */
  openAlerts(): Promise<OpenAlertRecord[]>;
  /** Closes the open alert of that id and returns it; null when none was open. */
  closeAlert(alertId: string): Promise<OpenAlertRecord | null>;
  /** Sets a marker on one opening of an alert; true for exactly one caller, across processes. */
  claimAlertMarker(alertId: string, openedAt: string, marker: AlertMarker, timestamp: string): Promise<boolean>;
  hasAlertMarker(alertId: string, openedAt: string, marker: AlertMarker): Promise<boolean>;
}

export interface EventLog {
  startRun(run: Omit<RunRecord, 'status' | 'endedAt' | 'error'>): Promise<void>;
  finishRun(runId: string, status: Exclude<RunStatus, 'STARTED'>, endedAt: string, error?: string | null): Promise<void>;
  /** Appends a generic step event (step started, retry, skipped, failed…). */
  recordEvent(event: Omit<RunEvent, 'seq'>): Promise<void>;
  recordMaterialization(m: MaterializationRecord): Promise<void>;
  recordCheckResult(r: CheckResultRecord): Promise<void>;
  recordFreshness(r: FreshnessRecord): Promise<void>;

  lastMaterialization(assetKey: AssetKey): Promise<MaterializationRecord | null>;
  /** The newest result of each check of the asset, keyed by check name. */
  lastCheckResults(assetKey: AssetKey): Promise<Map<string, CheckResultRecord>>;
  lastFreshness(assetKey: AssetKey): Promise<FreshnessRecord | null>;
  recentRuns(limit: number): Promise<RunRecord[]>;
  getRun(runId: string): Promise<RunRecord | null>;
  runEvents(runId: string): Promise<RunEvent[]>;
  /**
   * Optional: the asset's newest `limit` materializations, check results and freshness evaluations.
   * A store without it is read through its runs' events (runtime/ui/asset-history.ts), which
   * hold no freshness evaluation made outside a run (`sfpipe check`).
   */
  assetHistory?(assetKey: AssetKey, limit: number): Promise<AssetHistory>;
  /** Records a sensor's evaluation; its `cursor` becomes the sensor's cursor. */
  recordSensorTick(tick: SensorTickRecord): Promise<void>;
  /** The sensor's newest tick (its cursor), or null when it never ticked. */
  lastSensorTick(sensorName: string): Promise<SensorTickRecord | null>;
  /** The sensor's newest `limit` ticks, newest first. */
  sensorTicks(sensorName: string, limit: number): Promise<SensorTickRecord[]>;
  /** The sensor's newest tick that requested runs, however many ticks came after it; null when none did. */
  lastSensorRequest(sensorName: string): Promise<SensorTickRecord | null>;
  /**
   * Claims a run key for a sensor, atomically: the first claim of (sensor, run key) is stored and
   * returned with `created: true`; any later one gets the stored claim (its run id), `created: false`.
   */
  claimRunKey(claim: SensorRunKeyClaim): Promise<{ claim: SensorRunKeyClaim; created: boolean }>;
  /** Optional: the open alerts and their escalation markers (alert escalation needs it). */
  readonly alerts?: AlertLedger;
  close(): Promise<void>;
}
