import type { Command } from 'commander';
import type { AssetDef } from './definitions.js';
import type { EventLog } from './storage/event-log.js';
import type { Logger } from './logging.js';
import type { RunLock } from './storage/run-lock.js';
import type { NotifierConfig } from './alerts/index.js';
import type { PushConfig } from './metrics/index.js';
import type { UiExtension } from './ui/extension.js';
import type { LaunchOutcome, LaunchRequest, SensorDef } from './sensors.js';

export interface PipelineContext {
  stateDir: string;
  logger: Logger;
}

export interface OpenedResources<R> {
  resources: R;
  close(): Promise<void>;
}

/**
 * What a pipeline hands the runtime's CLI. Definitions must be cheap to build:
 * heavy clients are created in `openResources` or inside materialize functions.
 */
export interface Pipeline<R = unknown> {
  name: string;
  /**
   * The CLI's program name: its usage line, its `<program>: …` error lines and the commands it
   * suggests (`<program> events <run-id>`). Default: `name`.
   */
  program?: string;
  /** One line for the CLI's help. */
  description?: string;
  /**
   * The stages it runs in (e.g. dev, staging, prod): the CLI's global `--env <name>` sets
   * `variable` before anything is loaded, and `lineage` (and the web view) show `describe()`.
   */
  environments?: PipelineEnvironments;
  /** How its metrics are named and which materialization metadata become metrics. */
  metrics?: PipelineMetrics;
  /** Numbers of materialization metadata charted on an asset's page of the web view, in this order (others are listed in its table). */
  chartedMetadata?: readonly string[];
  /**
   * The assets, or a function that loads them (called only by commands that need them). An asset
   * that cannot be loaded here is returned as an unavailable one (defineUnavailableAsset), never
   * left out: `materialize` then fails it, `lineage` and `check` show why.
   */
  definitions: AssetDef<R>[] | (() => Promise<AssetDef<R>[]>);
  /**
   * After the definitions were loaded: why some could not be loaded on this machine (e.g. a tool
   * they are read from is missing here), or null when they are complete. A command that judges
   * a selection for another machine (a pod) must not refuse keys that exist only there (the
   * unavailable assets' keys may be incomplete).
   */
  incompleteDefinitions?(): string | null;
  openResources(ctx: PipelineContext & { fullRefresh: boolean; runId: string }): Promise<OpenedResources<R>>;
  /** Defaults to the SQLite event log in the state directory. */
  openEventLog?(ctx: PipelineContext): Promise<EventLog>;
  /** Defaults to a file lock in the state directory. */
  runLock?(ctx: PipelineContext): Promise<RunLock>;
  /** Sensors (runtime/sensors.ts) that request runs of this pipeline's assets: `sfpipe sensor`. */
  sensors?: SensorDef[] | (() => Promise<SensorDef[]>);
  /** A sensor's evaluation lock; defaults to a file lock in the state directory. */
  sensorLock?(ctx: PipelineContext, sensorName: string): Promise<RunLock>;
  /**
   * Starts a run a sensor requested somewhere else (e.g. a Kubernetes Job from the materialize
   * CronJob), idempotently per run id; absent: the run goes in the ticking process.
   */
  launchRun?(ctx: PipelineContext, request: LaunchRequest): Promise<LaunchOutcome>;
  /** Where alerts and metrics go; secrets resolved. Absent: no alerts, no metrics. */
  observability?(ctx: PipelineContext): Promise<Observability>;
  /** Pipeline-specific commands (e.g. a simulator server). */
  registerCommands?(program: Command, ctx: () => PipelineContext, setExit: (code: number) => void): void;
  /** Pipeline-specific pages and asset-page sections of `sfpipe ui` (runtime/ui/extension.ts). */
  ui?(ctx: PipelineContext): UiExtension | Promise<UiExtension>;
}

export interface PipelineEnvironments {
  /** The names `--env` accepts. */
  names: readonly string[];
  /** The one in effect when neither `--env` nor the variable names one. */
  defaultName: string;
  /** The environment variable that names the environment (what `--env` sets), e.g. MYAPP_ENV. */
  variable: string;
  /** The environment in effect; called after `--env` was applied. */
  describe(): EnvironmentSummary;
}

/** Which environment a process runs in, as `lineage` shows it. */
export interface EnvironmentSummary {
  name: string;
  /** One line for text output, e.g. "config pipeline.yaml + environments.dev; schemas suffixed _alice". */
  summary: string;
  /** Anything else a script may read (JSON values). */
  [detail: string]: unknown;
}

export interface Observability {
  notifiers: NotifierConfig | null;
  metrics: PushConfig | null;
  /** Where `sfpipe ui` is served (e.g. https://sfpipe.example.com): alerts link to its asset and run pages. */
  uiBaseUrl?: string | null;
  /**
   * Alerts unresolved after `afterMs` are sent once more to these destinations, and their
   * recovery too (runtime/alerts/escalation.ts; the state is the event log's alert ledger).
   */
  escalation?: { afterMs: number; notifiers: NotifierConfig } | null;
}

export interface PipelineMetrics {
  /** Put before every metric's name, e.g. `myapp_`. Default: the program name, letters and digits kept, and `_`. */
  prefix?: string;
  /** Per-asset gauges from a materialization's metadata: the value at `metadata` (a key, or a dotted path into an object), when it is a number. */
  fromMetadata?: readonly MetadataMetric[];
}

export interface MetadataMetric {
  /** A metadata key, or a dotted path into an object (e.g. `usage.remaining`). */
  metadata: string;
  /** The metric's name after the prefix. */
  name: string;
  help: string;
}

/** The program name the CLI shows for this pipeline. */
export function programName(pipeline: Pick<Pipeline, 'name' | 'program'>): string {
  return pipeline.program ?? pipeline.name;
}

/** The prefix of this pipeline's metric names. */
export function metricPrefix(pipeline: Pick<Pipeline, 'name' | 'program' | 'metrics'>): string {
  return pipeline.metrics?.prefix ?? `${programName(pipeline).replace(/[^A-Za-z0-9]+/g, '_')}_`;
}

export type PipelineLoader = () => Promise<Pipeline<any>>;
