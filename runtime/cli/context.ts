import type { Command } from 'commander';
import type { AssetDef } from '../definitions.js';
import type { EventLog } from '../storage/event-log.js';
import { LiveTerminal } from '../live-terminal.js';
import { createLogger, type LogFormat, type Logger } from '../logging.js';
import { programName, type Pipeline, type PipelineContext } from '../pipeline.js';
import type { RunLock } from '../storage/run-lock.js';
import type { SensorDef } from '../sensors.js';
import { ensureStateDir, resolveStateDir } from '../state.js';
import { PipelineInstance } from '../api/instance.js';
import { UsageError } from '../errors.js';

export interface GlobalOptions {
  logFormat: LogFormat;
  logLevel: string;
}

/** Everything a command needs, created on demand so `--help` stays cheap. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

export class CliContext {
  readonly pipeline: Pipeline<any>;
  #stateDir: string | null = null;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  #logger: Logger | null = null;
  #terminal: LiveTerminal | null = null;
  #program: Command;

  constructor(pipeline: Pipeline<any>, program: Command, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }) {
    this.pipeline = pipeline;
    this.#program = program;
    this.stdout = io.stdout;
    this.stderr = io.stderr;
  }

  /** The state directory, created on first use; one that cannot be used is an error naming the fix. */
  get stateDir(): string {
    if (this.#stateDir === null) {
      const dir = resolveStateDir();
      ensureStateDir(dir);
      this.#stateDir = dir;
    }
    return this.#stateDir;
  }

  /** The pipeline's asset definitions (PipelineInstance.definitions: loaded once, what could not be loaded said once). */
  definitions(): Promise<AssetDef<any>[]> {
    return this.instance().definitions();
  }

  get globals(): GlobalOptions {
    const o = this.#program.opts<{ logFormat: string; logLevel?: string }>();
    if (!['auto', 'json', 'text'].includes(o.logFormat)) {
      throw new UsageError(`--log-format must be auto, json or text (got "${o.logFormat}")`);
    }
    const fromEnv = process.env.SFPIPE_LOG_LEVEL;
    const logLevel = o.logLevel ?? (fromEnv || 'info');
    if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
      throw new UsageError(`SFPIPE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
    }
    return { logFormat: o.logFormat as LogFormat, logLevel };
  }

  get logger(): Logger {
    this.#logger ??= createLogger({
      format: this.globals.logFormat,
      level: this.globals.logLevel,
      stream: this.stderr,
      ...(this.#terminal ? { terminal: this.#terminal } : {}),
    });
    return this.#logger;
  }

  /**
   * A live terminal for a command that shows a run as it goes (materialize), when stderr is a
   * terminal outside a cluster, --log-format is auto and the level is not debug; else null and the
   * log lines are as always (JSON, or every line with --log-format text or --log-level debug).
   * Call it before anything logs: from then on the logger writes through it.
   */
  liveTerminal(): LiveTerminal | null {
    if (this.#terminal) return this.#terminal;
    const { logFormat, logLevel } = this.globals;
    const stream = this.stderr as NodeJS.WriteStream;
    if (this.#logger || logFormat !== 'auto' || logLevel === 'debug' || !stream.isTTY || process.env.KUBERNETES_SERVICE_HOST) return null;
    this.#terminal = new LiveTerminal(stream);
    return this.#terminal;
  }

  /** The state directory is read (and created) when a command uses it: `launch` needs none. */
  pipelineContext(): PipelineContext {
    const cli = this;
    return {
      get stateDir() {
        return cli.stateDir;
      },
      logger: this.logger,
    };
  }

  #instance: PipelineInstance<any> | null = null;

  /** The pipeline bound to this CLI's state directory and logger: what the programmatic API runs on. */
  instance(): PipelineInstance<any> {
    this.#instance ??= new PipelineInstance(this.pipeline, this.pipelineContext());
    return this.#instance;
  }

  openEventLog(): Promise<EventLog> {
    return this.instance().openEventLog();
  }

  runLock(): Promise<RunLock> {
    return this.instance().runLock();
  }

  /** The pipeline's sensors, loaded on first use. */
  sensors(): Promise<SensorDef[]> {
    return this.instance().sensors();
  }

  /** A sensor's evaluation lock: the pipeline's (a Lease in a pod), else a file lock in the state directory. */
  sensorLock(sensorName: string): Promise<RunLock> {
    return this.instance().sensorLock(sensorName);
  }

  write(text: string): void {
    this.stdout.write(text);
  }

  /**
   * The line a command fails with. A terminal or a pipe gets the plain `<program>: …` line a shell
   * user expects; in a cluster, or with --log-format json, it is a JSON log line (level error,
   * with the run id when there is one) so that log pipelines parse the failures that matter most.
   */
  reportError(message: string, meta: Record<string, unknown> = {}): void {
    let json = false;
    try {
      const format = this.globals.logFormat;
      json = format === 'json' || (format === 'auto' && !!process.env.KUBERNETES_SERVICE_HOST);
    } catch {
      // A bad --log-format or level is itself the error being reported: plain text.
    }
    if (json) this.logger.error(message, meta);
    else this.stderr.write(`${this.program}: ${message}\n`);
  }

  /** The CLI's name, as the pipeline says it: in error lines and the commands it suggests. */
  get program(): string {
    return programName(this.pipeline);
  }
}
