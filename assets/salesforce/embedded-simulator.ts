import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../runtime/logging.js';
import type { PipelineConfig } from '../config/pipeline-config.js';
import type { SalesforceCredentials } from './credentials.js';

export interface RunningSimulator {
  url: string;
  credentials: SalesforceCredentials;
  close(): Promise<void>;
}

export function simulatorStateFile(stateDir: string): string {
  return path.join(stateDir, 'simulator', 'org.json');
}

/**
 * Starts the in-process Salesforce simulator for the embedded default. Its org persists in
 * the state directory; every run after the first moves it on by the configured days, so
 * successive runs see the org evolve. A session that only looks (a sensor's tick) passes
 * `advance: false`: looking must not change what it looks at.
 */
export async function startEmbeddedSimulator(config: PipelineConfig, stateDir: string, log: Logger, opts: { advance?: boolean } = {}): Promise<RunningSimulator> {
  const { startSimulator, DEFAULT_CREDENTIALS } = await import('../../sim/index.js');
  const stateFile = simulatorStateFile(stateDir);
  const existed = fs.existsSync(stateFile);
  fs.mkdirSync(path.dirname(stateFile), { recursive: true });
  const sim = await startSimulator({
    users: config.salesforce.simulator.users,
    seed: config.salesforce.simulator.seed,
    stateFile,
    apiVersion: config.salesforce.apiVersion,
  });
  if (existed && opts.advance !== false) {
    for (let i = 0; i < config.salesforce.simulator.advanceDaysPerRun; i++) {
      const day = sim.org.advanceDay();
      log.info(`simulator: the org moved on a day to ${sim.org.now().toISOString()}`, { changes: summarizeDay(day) });
    }
  } else if (!existed) {
    log.info(`simulator: new org of ${sim.org.count()} users at ${sim.org.now().toISOString()} (state in ${stateFile})`);
  }
  return {
    url: sim.url,
    credentials: { clientId: DEFAULT_CREDENTIALS.clientId, clientSecret: DEFAULT_CREDENTIALS.clientSecret, username: DEFAULT_CREDENTIALS.username },
    close: () => sim.close(),
  };
}

function summarizeDay(day: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (day && typeof day === 'object') {
    for (const [k, v] of Object.entries(day)) if (Array.isArray(v)) out[k] = v.length;
  }
  return out;
}
