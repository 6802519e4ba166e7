import path from 'node:path';
import type { AssetDef } from '../definitions.js';
import type { EventLog } from '../storage/event-log.js';
import type { Logger } from '../logging.js';
import { programName, type Observability, type Pipeline, type PipelineContext } from '../pipeline.js';
import type { RunLock } from '../storage/run-lock.js';
import type { SensorDef } from '../sensors.js';

/**
 * A pipeline bound to where its state lives (a state directory, a logger): what the programmatic
 * API (materialize, sweepFreshness) and the CLI read the event log, the run lock, the sensors and
 * observability from. The pipeline's own stores when it has them (S3, a Lease), else SQLite and
 * file locks in the state directory. Everything is created on first use.
 */
export class PipelineInstance<R = unknown> {
  readonly pipeline: Pipeline<R>;
  readonly context: PipelineContext;
  #definitions: Promise<AssetDef<R>[]> | null = null;
  #sensors: Promise<SensorDef[]> | null = null;
  #observability: Promise<Observability | null> | null = null;

  constructor(pipeline: Pipeline<R>, context: PipelineContext) {
    this.pipeline = pipeline;
    this.context = context;
  }

  get logger(): Logger {
    return this.context.logger;
  }

  get stateDir(): string {
    return this.context.stateDir;
  }

  /** The CLI's name for this pipeline (error lines, suggested commands). */
  get program(): string {
    return programName(this.pipeline);
  }

  /**
   * The pipeline's asset definitions, loaded once. Assets that could not be loaded here are said
   * once: an error where they should load, a warning where the machine is only not set up.
   */
  definitions(): Promise<AssetDef<R>[]> {
    const d = this.pipeline.definitions;
    this.#definitions ??= (Array.isArray(d) ? Promise.resolve(d) : d()).then((defs) => {
      this.#reportUnavailable(defs);
      return defs;
    });
    return this.#definitions;
  }

  #reportUnavailable(defs: AssetDef<R>[]): void {
    const byReason = new Map<string, { keys: string[]; expected: boolean }>();
    for (const def of defs) {
      if (!def.unavailable) continue;
      const group = byReason.get(def.unavailable.reason) ?? { keys: [], expected: false };
      group.keys.push(def.key);
      group.expected ||= def.unavailable.expected;
      byReason.set(def.unavailable.reason, group);
    }
    for (const [reason, { keys, expected }] of byReason) {
      const message = `${keys.join(', ')} could not be loaded here: ${reason}`;
      if (expected) this.logger.error(message, { unavailable: keys });
      else this.logger.warn(message, { unavailable: keys });
    }
  }

  /** The pipeline's sensors, loaded once. */
  sensors(): Promise<SensorDef[]> {
    const s = this.pipeline.sensors ?? [];
    this.#sensors ??= Array.isArray(s) ? Promise.resolve(s) : s();
    return this.#sensors;
  }

  /** A new connection to the event log; the caller closes it. */
  async openEventLog(): Promise<EventLog> {
    if (this.pipeline.openEventLog) return this.pipeline.openEventLog(this.context);
    const { SqliteEventLog } = await import('../storage/sqlite-event-log.js');
    return SqliteEventLog.open(path.join(this.stateDir, 'events.sqlite'));
  }

  async runLock(): Promise<RunLock> {
    if (this.pipeline.runLock) return this.pipeline.runLock(this.context);
    const { FileRunLock } = await import('../storage/file-run-lock.js');
    return new FileRunLock(path.join(this.stateDir, 'run.lock'));
  }

  /** A sensor's evaluation lock: the pipeline's (a Lease in a pod), else a file lock in the state directory. */
  async sensorLock(sensorName: string): Promise<RunLock> {
    if (this.pipeline.sensorLock) return this.pipeline.sensorLock(this.context, sensorName);
    const { FileRunLock } = await import('../storage/file-run-lock.js');
    return new FileRunLock(path.join(this.stateDir, `sensor-${sensorName}.lock`));
  }

  /** Where alerts and metrics go (secrets resolved), read once; null when the pipeline has none. */
  observability(): Promise<Observability | null> {
    this.#observability ??= this.pipeline.observability?.(this.context) ?? Promise.resolve(null);
    return this.#observability;
  }
}
