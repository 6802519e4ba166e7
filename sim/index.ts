import { FaultInjector } from './faults.js';
import { makeId } from './ids.js';
import { SimOrg } from './org.js';
import { SimServer, type SimStats } from './http/server.js';
import { jwtVerificationKey, TokenStore, type Credentials } from './http/oauth.js';

export { SimOrg } from './org.js';
export type { DayChanges, SfUser, UpdateOptions } from './org.js';
export { FaultInjector } from './faults.js';
export type { FaultSpec, FaultAction, FaultOn, RequestKind } from './faults.js';
export type { FieldType } from './schema.js';
export type { SfValue } from './record.js';
export { formatSf, parseSfDatetime } from './datetime.js';
export { USER_CHANGE_CHANNEL, type ChangeEventData, type ChangeEventHeader } from './cdc.js';

export interface SimulatorOptions {
  /** Initial org size (ignored when stateFile exists). Default 5000. */
  users?: number;
  /** Deterministic generator seed. Default 42. */
  seed?: number;
  /** Load the org from this JSON file when present; save it after each change. */
  stateFile?: string;
  /** 0 = ephemeral (default). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Newest supported API version; any vNN.N path from v31.0 up to it is accepted. Default '62.0'. */
  apiVersion?: string;
  /** Access tokens expire after this many (wall-clock) ms. Default 2 h. */
  tokenTtlMs?: number;
  /** Daily API request allocation. Default 105000. */
  dailyApiLimit?: number;
  /** Simulated clock start. Default '2025-05-01T00:00:00.000Z'. */
  startTime?: string;
  /** Default page size of Bulk 2.0 results when the client sends no maxRecords. Default 50000. */
  bulkMaxRecords?: number;
  /**
   * Datetimes in Bulk CSV results: 'iso' (default) = 2025-05-01T10:30:00.000Z as real
   * Bulk API results carry them; 'salesforce' = the REST form …000+0000.
   */
  bulkDatetimeFormat?: 'iso' | 'salesforce';
  clientId?: string;
  clientSecret?: string;
  username?: string;
  password?: string;
  /** Appended to the password in the password grant; '' accepts the bare password. */
  securityToken?: string;
  /** How long change events are kept for replay, in simulated time. Default 72 h (as Salesforce). */
  changeEventRetentionMs?: number;
  /** How long a Streaming API (CometD) connect waits for events before it is answered. Default 110 s. */
  streamingTimeoutMs?: number;
  /** PEM certificate or public key of the connected app; without it the JWT bearer grant is refused. */
  jwtCertificate?: string;
}

export interface Simulator {
  /** Login URL and instance_url, e.g. http://127.0.0.1:PORT */
  readonly url: string;
  readonly org: SimOrg;
  readonly faults: FaultInjector;
  /** Counted server-side since start or the last resetStats(). */
  readonly stats: SimStats;
  /** The Streaming API endpoint: subscribers, and a duplicate delivery for tests. */
  readonly streaming: { subscribers(): number; redeliver(replayId: number): boolean };
  /** Invalidates every issued access token (refresh tokens stay valid). */
  expireAllTokens(): void;
  resetStats(): void;
  close(): Promise<void>;
}

/** Public defaults of the embedded simulator; not secrets. */
export const DEFAULT_CREDENTIALS: Readonly<Credentials> = Object.freeze({
  clientId: 'sfpipe-sim-client',
  clientSecret: 'sfpipe-sim-secret',
  username: 'integration@sfpipe-sim.example',
  password: 'sim-password',
  securityToken: 'SIMTOKEN',
});

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const org = new SimOrg({
    users: opts.users, seed: opts.seed, startTime: opts.startTime, stateFile: opts.stateFile,
    ...(opts.changeEventRetentionMs !== undefined ? { changeEventRetentionMs: opts.changeEventRetentionMs } : {}),
  });
  const creds: Credentials = {
    clientId: opts.clientId ?? DEFAULT_CREDENTIALS.clientId,
    clientSecret: opts.clientSecret ?? DEFAULT_CREDENTIALS.clientSecret,
    username: opts.username ?? DEFAULT_CREDENTIALS.username,
    password: opts.password ?? DEFAULT_CREDENTIALS.password,
    securityToken: opts.securityToken ?? DEFAULT_CREDENTIALS.securityToken,
    ...(opts.jwtCertificate ? { jwtPublicKey: jwtVerificationKey(opts.jwtCertificate) } : {}),
  };
  const ident = { orgId: makeId('00D', org.pod, 1), userId: makeId('005', org.pod, 0) };
  const tokens = new TokenStore(opts.tokenTtlMs ?? 2 * 3_600_000, ident.orgId);
  const faults = new FaultInjector();
  const stats: SimStats = { apiCalls: 0, callsByKind: {}, requests: [] };
  const server = new SimServer({
    org, faults, tokens, creds, ident, stats,
    apiVersion: opts.apiVersion ?? '62.0',
    dailyApiLimit: opts.dailyApiLimit ?? 105_000,
    bulkMaxRecords: opts.bulkMaxRecords ?? 50_000,
    bulkDatetimeFormat: opts.bulkDatetimeFormat ?? 'iso',
    streamingTimeoutMs: opts.streamingTimeoutMs ?? 110_000,
  });
  const url = await server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  let closed = false;
  return {
    url, org, faults, stats,
    streaming: {
      subscribers: () => server.bayeux.subscribers(),
      redeliver: (replayId) => server.bayeux.redeliver(replayId),
    },
    expireAllTokens: () => tokens.invalidateAll(),
    resetStats() {
      stats.apiCalls = 0;
      stats.callsByKind = {};
      stats.requests = [];
    },
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      org.persist();
    },
  };
}
