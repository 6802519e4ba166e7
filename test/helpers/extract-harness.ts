/**
 * Drives the real sf_raw/sf_user asset through the runtime's programmatic API (materialize: the
 * run lock, the run's events) against an in-process simulator (over HTTP, through jsforce) and a
 * DuckDB file in a temp state dir.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parsePipelineConfig, embeddedConfigPath } from '../../assets/config/load-config.js';
import type { PipelineConfig } from '../../assets/config/pipeline-config.js';
import { sfUserAsset } from '../../assets/raw/sf-user-asset.js';
import { createResources } from '../../assets/resources.js';
import { salesforceUser } from '../../assets/sf-user-pipeline.js';
import { materialize, PipelineInstance } from '../../runtime/api/index.js';
import { SqliteEventLog } from '../../runtime/storage/sqlite-event-log.js';
import type { RunResult } from '../../runtime/executor.js';
import type { RunTrigger } from '../../runtime/storage/event-log.js';
import { silentLogger, type Logger } from '../../runtime/logging.js';
import type { Pipeline } from '../../runtime/pipeline.js';
import type { RunLauncher, SensorDef, TickOptions } from '../../runtime/sensors.js';
import { FileRunLock } from '../../runtime/storage/file-run-lock.js';
import type { SensorSalesforce } from '../../assets/sensors/sf-user-changes.js';
import type { PipelineResources } from '../../assets/resources.js';
import { DEFAULT_CREDENTIALS, startSimulator, type Simulator, type SimulatorOptions } from '../../sim/index.js';
import { queryFile } from '../assets/fixtures/duckdb-fixture.js';
import { tempDir } from './temp.js';

/** The options a tick and a watch share. */
export type SensorStores = Pick<TickOptions, 'sensor' | 'eventLog' | 'sensorLock' | 'runLock' | 'launcher' | 'log' | 'stateDir'>;

export interface Harness {
  sim: Simulator;
  stateDir: string;
  config: PipelineConfig;
  duckdbPath: string;
  eventLog: SqliteEventLog;
  /** Materializes sf_raw/sf_user once; returns the run and the step's metadata. */
  run(opts?: { fullRefresh?: boolean; signal?: AbortSignal; runId?: string; trigger?: RunTrigger }): Promise<{ result: RunResult; metadata: Record<string, any> }>;
  /** Logs in to the simulator, as a sensor's `salesforce` option does (its API and how to close it). */
  salesforce(opts: { log: Logger; signal: AbortSignal }): Promise<SensorSalesforce>;
  /**
   * What a tick or a watch of `sensor` needs here: the harness's event log, file locks in its
   * state dir (the run lock is the one its runs take) and a launcher that runs in-process, as
   * `sfpipe sensor tick` on a laptop does: the run gets the run key's id and the sensor's trigger;
   * a run id the event log has is ALREADY_LAUNCHED. `launched` lists the run ids it started.
   */
  sensorStores(sensor: SensorDef): { options: SensorStores; launched: string[] };
  /** Changes user `n`'s Division a minute after the org's clock (past every SystemModstamp loaded); returns its id. */
  changeUser(n: number, division: string): string;
  /** Reads the raw warehouse (the file must not be held open by a run). */
  query(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** `configYaml` edits: a function over the embedded YAML text. */
export async function startHarness(opts: { sim?: SimulatorOptions; editConfig?: (yaml: string) => string; logger?: Logger; stateDir?: string } = {}): Promise<Harness> {
  const stateDir = opts.stateDir ?? tempDir('sfpipe-extract-');
  const sim = await startSimulator({ users: 5000, seed: 42, ...(opts.sim ?? {}) });
  const yaml = fs.readFileSync(embeddedConfigPath(), 'utf8');
  const config = parsePipelineConfig('test-config.yaml', opts.editConfig ? opts.editConfig(yaml) : yaml);
  const logger = opts.logger ?? silentLogger();
  const eventLog = SqliteEventLog.open(path.join(stateDir, 'events.sqlite'));
  const simulatorEndpoint = async () => ({ loginUrl: sim.url, credentials: { clientId: DEFAULT_CREDENTIALS.clientId, clientSecret: DEFAULT_CREDENTIALS.clientSecret } });
  const pipeline: Pipeline<PipelineResources> = {
    name: 'extract-harness',
    definitions: [salesforceUser, sfUserAsset(config)],
    async openResources() {
      const resources = createResources({
        config,
        stateDir,
        logger,
        endpoint: simulatorEndpoint,
      });
      return { resources, close: () => resources.close() };
    },
  };
  const instance = new PipelineInstance(pipeline, { stateDir, logger });
  const duckdbPath = path.resolve(stateDir, config.warehouse.duckdb.path);
  const harness: Harness = {
    sim,
    stateDir,
    config,
    duckdbPath,
    eventLog,
    async run(runOpts = {}) {
      const outcome = await materialize(instance, {
        selection: 'sf_raw/sf_user',
        eventLog,
        fullRefresh: runOpts.fullRefresh ?? false,
        trigger: runOpts.trigger ?? 'test',
        ...(runOpts.runId ? { runId: runOpts.runId } : {}),
        ...(runOpts.signal ? { signal: runOpts.signal } : {}),
        // Asset-level retries would hide what the API layer did; tests see the first attempt.
        retrySleep: async () => {},
      });
      if (outcome.kind !== 'ran') throw new Error(`the harness's run did not run: ${JSON.stringify(outcome)}`);
      const { result } = outcome;
      return { result, metadata: (result.steps[0]?.metadata ?? {}) as Record<string, any> };
    },
    async salesforce({ log, signal }) {
      const resources = createResources({ config, stateDir, logger: log, endpoint: simulatorEndpoint });
      return { api: await resources.salesforce({ log, signal }), close: () => resources.close() };
    },
    sensorStores(sensor) {
      const launched: string[] = [];
      const launcher: RunLauncher = {
        launch: async (req) => {
          const existing = await eventLog.getRun(req.runId);
          if (existing?.runId === req.runId) return { status: 'ALREADY_LAUNCHED', detail: existing.status };
          launched.push(req.runId);
          const { result } = await harness.run({ runId: req.runId, trigger: req.trigger });
          return { status: 'LAUNCHED', detail: result.status, failed: result.status !== 'SUCCESS' };
        },
      };
      const options: SensorStores = {
        sensor,
        eventLog,
        sensorLock: new FileRunLock(path.join(stateDir, 'sensor.lock')),
        runLock: new FileRunLock(path.join(stateDir, 'run.lock')),
        launcher,
        log: silentLogger(),
        stateDir,
      };
      return { options, launched };
    },
    changeUser(n, division) {
      sim.org.setClock(new Date(sim.org.nowMs() + 60_000));
      const id = sim.org.idOf(n);
      sim.org.updateUser(id, { Division: division });
      return id;
    },
    query: (sql) => queryFile(duckdbPath, sql),
    async close() {
      await sim.close();
      await eventLog.close();
    },
  };
  return harness;
}
