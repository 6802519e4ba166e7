import type { Logger } from '../runtime/logging.js';
import type { PipelineConfig } from './config/pipeline-config.js';
import type { SalesforceApi } from './salesforce/api.js';
import { describeCredentials, loadCredentials, requireCredentials, type SalesforceCredentials } from './salesforce/credentials.js';
import type { RawWarehouse } from './warehouse/raw-warehouse.js';

/** A Salesforce endpoint and how to log in to it. */
export interface SalesforceEndpoint {
  loginUrl: string;
  credentials: SalesforceCredentials;
}

export interface PipelineResources {
  config: PipelineConfig;
  stateDir: string;
  /** A logged-in API session for one materialization (calls counted per session). */
  salesforce(opts: { log: Logger; signal: AbortSignal }): Promise<SalesforceApi>;
  /** Opens the raw warehouse; the caller closes it (DuckDB allows one writer per file). */
  rawWarehouse(opts?: { log?: Logger; signal?: AbortSignal }): Promise<RawWarehouse>;
  close(): Promise<void>;
}

export interface ResourceOptions {
  config: PipelineConfig;
  stateDir: string;
  logger: Logger;
  /** Resolves where Salesforce is (starting the simulator in simulator mode). */
  endpoint: () => Promise<SalesforceEndpoint>;
  onClose?: () => Promise<void>;
}

export function createResources(o: ResourceOptions): PipelineResources {
  let endpoint: Promise<SalesforceEndpoint> | null = null;
  return {
    config: o.config,
    stateDir: o.stateDir,
    async salesforce({ log, signal }) {
      endpoint ??= o.endpoint();
      const ep = await endpoint;
      let tokenRequests = 0;
      let apiRef: SalesforceApi | null = null;
      log.info(`logging in to Salesforce at ${ep.loginUrl} (${o.config.salesforce.auth.method}; credentials have: ${describeCredentials(ep.credentials)})`);
      const [{ SalesforceApi }, { connect }] = await Promise.all([import('./salesforce/api.js'), import('./salesforce/connection.js')]);
      const conn = await connect({
        method: o.config.salesforce.auth.method,
        credentials: ep.credentials,
        loginUrl: ep.loginUrl,
        apiVersion: o.config.salesforce.apiVersion,
        log,
        signal,
        timeoutMs: o.config.source.requestTimeoutMs,
        onTokenRequest: () => {
          tokenRequests++;
          apiRef?.count('auth');
        },
      });
      const api = new SalesforceApi(conn, { log, signal, budgetShare: o.config.source.apiBudgetShare, requestTimeoutMs: o.config.source.requestTimeoutMs });
      for (let i = 0; i < tokenRequests; i++) api.count('auth');
      apiRef = api;
      return api;
    },
    async rawWarehouse(ro = {}) {
      const { warehouseEngine } = await import('./warehouse/engine.js');
      return warehouseEngine(o.config, o.stateDir).openRawWarehouse({ log: ro.log ?? o.logger, ...(ro.signal ? { signal: ro.signal } : {}) });
    },
    async close() {
      await o.onClose?.();
    },
  };
}

/**
 * Credentials from the configured source, or the simulator's public demo ones. In simulator mode
 * with salesforce.login_url set, that simulator (e.g. `sim serve`) is used and the embedded one is
 * not started (starting it would move its org on a day for nothing).
 */
export async function resolveEndpoint(config: PipelineConfig, simulatorUrl: () => Promise<{ url: string; credentials: SalesforceCredentials }>): Promise<SalesforceEndpoint> {
  if (config.salesforce.mode === 'simulator') {
    if (config.salesforce.loginUrl) {
      const { DEFAULT_CREDENTIALS } = await import('../sim/index.js');
      return { loginUrl: config.salesforce.loginUrl, credentials: { clientId: DEFAULT_CREDENTIALS.clientId, clientSecret: DEFAULT_CREDENTIALS.clientSecret, username: DEFAULT_CREDENTIALS.username } };
    }
    const sim = await simulatorUrl();
    return { loginUrl: sim.url, credentials: sim.credentials };
  }
  const credentials = await loadCredentials(config.salesforce.auth.credentials);
  requireCredentials(config.salesforce.auth.method, credentials, config.salesforce.auth.credentials);
  const loginUrl = config.salesforce.loginUrl ?? credentials.loginUrl ?? 'https://login.salesforce.com';
  return { loginUrl, credentials };
}
