import type { AssetKey } from './keys.js';
import type { Logger } from './logging.js';
import type { MaterializationRecord } from './storage/event-log.js';
import type { StepStatus } from './run-reporter.js';

export type CheckSeverity = 'WARN' | 'ERROR';

export type Metadata = Record<string, unknown>;

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** Delay before the first retry; doubles each time. */
  baseDelayMs: number;
  /** Upper bound for one delay. */
  maxDelayMs: number;
  /** Fraction of the delay randomised (0..1). */
  jitter: number;
}

/**
 * Judge freshness by data time as well as run time: the materialization's metadata holds the
 * newest data time (e.g. the newest SystemModstamp committed) and, optionally, the source's
 * clock when it was read. The data's age is the run's age plus how far the data trailed the
 * source then, so a run that "succeeds" while fetching nothing for days still goes stale.
 */
export interface DataTimeSpec {
  metadataKey: string;
  sourceTimeKey?: string;
}

export type FreshnessPolicy =
  | { kind: 'time_window'; failAfterMs: number; warnAfterMs?: number; dataTime?: DataTimeSpec }
  | { kind: 'cron'; deadlineCron: string; lowerBoundDeltaMs: number; timezone?: string; dataTime?: DataTimeSpec };

/** What an asset's materialize function receives. */
export interface MaterializeContext<R = unknown> {
  readonly runId: string;
  readonly assetKey: AssetKey;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly resources: R;
  /** The asset's last successful materialization before this run, for cursors. */
  readonly previous: MaterializationRecord | null;
  readonly fullRefresh: boolean;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Adds metadata to this materialization; later calls merge over earlier ones. */
  addMetadata(metadata: Metadata): void;
  /** The asset's live line on a terminal watching the run (progress); goes nowhere elsewhere. */
  readonly status: StepStatus;
}

export interface MaterializeOutput {
  metadata?: Metadata;
}

export type MaterializeFn<R = unknown> = (ctx: MaterializeContext<R>) => Promise<MaterializeOutput | void>;

export interface CheckContext<R = unknown> {
  readonly runId: string;
  readonly assetKey: AssetKey;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly resources: R;
  /** Metadata of the materialization just made in this run. */
  readonly materialization: Metadata;
  /** The asset's materialization before this run, for checks that compare. */
  readonly previous: MaterializationRecord | null;
}

export interface CheckOutcome {
  passed: boolean;
  description?: string;
  /** A short form of a failure for a terminal, e.g. "4 failing rows" (the description is what is recorded). */
  summary?: string;
  metadata?: Metadata;
}

export interface AssetCheckDef<R = unknown> {
  name: string;
  /** A short name for a terminal when the name is long, e.g. "accepted_values on division". */
  label?: string;
  description?: string;
  severity: CheckSeverity;
  /** A blocking ERROR check that fails skips the asset's downstream. */
  blocking: boolean;
  /** Absent for checks whose results the asset's multi-asset reports (e.g. dbt tests). */
  evaluate?: (ctx: CheckContext<R>) => Promise<CheckOutcome>;
}

export interface AssetDef<R = unknown> {
  key: AssetKey;
  deps: AssetKey[];
  description: string;
  group: string;
  owners: string[];
  tags: Record<string, string>;
  kinds: string[];
  codeVersion?: string;
  freshness?: FreshnessPolicy;
  checks: AssetCheckDef<R>[];
  retry: RetryPolicy;
  /** External (source) assets are observed, never materialized by us. */
  external: boolean;
  materialize?: MaterializeFn<R>;
  /** Set on assets that one process materializes together (e.g. dbt models): one step per run. */
  multiAsset?: MultiAssetRunner<R>;
  /**
   * Set on an asset whose definition could not be loaded here (see defineUnavailableAsset): it
   * stays in the graph so that commands show it and a run that selects it fails, instead of the
   * asset silently going missing.
   */
  unavailable?: Unavailability;
}

/** Why an asset could not be loaded on this machine. */
export interface Unavailability {
  /** The cause and the fix, e.g. "the manifest could not be read: … Fix: …". */
  reason: string;
  /**
   * true: the asset should load here, so its absence is an error (`check` and `lineage` exit 1);
   * false: this machine is only not set up for it (e.g. a laptop before set-up): shown, not failed.
   * A run that selects it fails either way.
   */
  expected: boolean;
}

/** What a multi-asset's run receives: the selected members only. */
export interface MultiAssetContext<R = unknown> {
  readonly runId: string;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly resources: R;
  readonly fullRefresh: boolean;
  readonly attempt: number;
  readonly selectedKeys: AssetKey[];
  readonly previous: ReadonlyMap<AssetKey, MaterializationRecord | null>;
  /** A logger for one member asset (its lines carry the asset key). */
  logFor(key: AssetKey): Logger;
  /** A member asset's live line on a terminal watching the run; goes nowhere elsewhere. */
  statusFor(key: AssetKey): StepStatus;
}

export interface MemberOutcome {
  status: 'SUCCESS' | 'FAILED' | 'SKIPPED';
  metadata?: Metadata;
  error?: string;
  /** Check results by check name, for checks without an evaluate function. */
  checks?: Record<string, CheckOutcome>;
}

export interface MultiAssetRunner<R = unknown> {
  /** Unique among multi-assets; the step's name in logs. */
  name: string;
  retry: RetryPolicy;
  /** Materializes the selected members; a member missing from the result counts as FAILED. */
  run(ctx: MultiAssetContext<R>): Promise<Record<AssetKey, MemberOutcome>>;
}

export interface AssetSpec<R = unknown> {
  key: AssetKey;
  deps?: AssetKey[];
  description?: string;
  group?: string;
  owners?: string[];
  tags?: Record<string, string>;
  kinds?: string[];
  codeVersion?: string;
  freshness?: FreshnessPolicy;
  checks?: AssetCheckDef<R>[];
  retry?: Partial<RetryPolicy>;
  materialize: MaterializeFn<R>;
}

export type ExternalAssetSpec = Omit<AssetSpec, 'materialize' | 'retry' | 'checks'>;

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 0, baseDelayMs: 1000, maxDelayMs: 60_000, jitter: 0.2 };
export const DEFAULT_GROUP = 'default';

function commonFields(spec: ExternalAssetSpec) {
  return {
    key: spec.key,
    deps: [...(spec.deps ?? [])],
    description: spec.description ?? '',
    group: spec.group ?? DEFAULT_GROUP,
    owners: [...(spec.owners ?? [])],
    tags: { ...(spec.tags ?? {}) },
    kinds: [...(spec.kinds ?? [])],
    ...(spec.codeVersion === undefined ? {} : { codeVersion: spec.codeVersion }),
    ...(spec.freshness === undefined ? {} : { freshness: spec.freshness }),
  };
}

export function defineAsset<R>(spec: AssetSpec<R>): AssetDef<R> {
  return {
    ...commonFields(spec),
    checks: [...(spec.checks ?? [])],
    retry: { ...DEFAULT_RETRY, ...(spec.retry ?? {}) },
    external: false,
    materialize: spec.materialize,
  };
}

export function defineExternalAsset<R = unknown>(spec: ExternalAssetSpec): AssetDef<R> {
  return { ...commonFields(spec), checks: [], retry: { ...DEFAULT_RETRY }, external: true };
}

/**
 * An asset known to exist whose definition could not be loaded here (e.g. the tool it is read
 * from failed). Its checks, if known, are listed but never evaluated; materializing it fails at
 * once with the reason.
 */
export function defineUnavailableAsset<R = unknown>(spec: ExternalAssetSpec & { checks?: Omit<AssetCheckDef<R>, 'evaluate'>[]; unavailable: Unavailability }): AssetDef<R> {
  return {
    ...commonFields(spec),
    checks: (spec.checks ?? []).map((c) => ({
      name: c.name,
      severity: c.severity,
      blocking: c.blocking,
      ...(c.description === undefined ? {} : { description: c.description }),
      ...(c.label === undefined ? {} : { label: c.label }),
    })),
    retry: { ...DEFAULT_RETRY },
    external: false,
    unavailable: { ...spec.unavailable },
  };
}
