import type { Connection } from 'jsforce';
import type { AuthMethod } from '../config/pipeline-config.js';
import type { Logger } from '../../runtime/logging.js';
import { abortableSleep, backoffDelay } from '../../runtime/retry.js';
import type { SalesforceCredentials } from './credentials.js';
import { CredentialsError, REQUIRED_CREDENTIALS } from './credentials.js';
import { jwtBearerAssertion } from './jwt.js';

export interface ConnectOptions {
  method: AuthMethod;
  credentials: SalesforceCredentials;
  loginUrl: string;
  apiVersion: string;
  /** Called once per token request (initial and every re-authentication, retries included). */
  onTokenRequest?: () => void;
  /** Retries of a login the server could not answer (network error, 429, 5xx, no answer in time). */
  retry?: { maxRetries: number; baseDelayMs: number; maxDelayMs: number };
  /** Deadline of one token request. */
  timeoutMs?: number;
  log?: Logger;
  signal?: AbortSignal;
}

const LOGIN_RETRY = { maxRetries: 5, baseDelayMs: 500, maxDelayMs: 30_000 };

/**
 * Whether a failed token request may succeed when repeated. jsforce names an OAuth error after
 * its `error` field (invalid_grant, invalid_client…: the credentials are refused, retrying does not
 * help), or ERROR_HTTP_<status> when the body was not JSON; anything else never got an answer.
 */
function loginRetryable(err: { name?: string; code?: string }): boolean {
  const name = err.name ?? '';
  const http = /^ERROR_HTTP_(\d{3})$/.exec(name);
  if (http) return http[1] === '429' || http[1]!.startsWith('5');
  if (name === 'server_error' || name === 'temporarily_unavailable') return true;
  return !/^[a-z][a-z_]*$/.test(name);
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${Math.round(ms / 1000)} s`), { name: 'REQUEST_TIMEOUT' })), ms);
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

function tokenParams(o: ConnectOptions): { grant_type: string; [name: string]: string } {
  const c = o.credentials;
  const missing = REQUIRED_CREDENTIALS[o.method].filter((k) => !c[k]);
  if (missing.length) {
    throw new CredentialsError(`the ${o.method} flow needs ${missing.join(', ')} in the Salesforce credentials; add them to the configured credentials source`);
  }
  switch (o.method) {
    case 'client_credentials':
      return { grant_type: 'client_credentials' };
    case 'password':
      return { grant_type: 'password', username: c.username!, password: `${c.password!}${c.securityToken ?? ''}` };
    case 'refresh_token':
      return { grant_type: 'refresh_token', refresh_token: c.refreshToken! };
    case 'jwt':
      return {
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion: jwtBearerAssertion({ clientId: c.clientId!, username: c.username!, audience: o.loginUrl, privateKey: c.privateKey! }),
      };
  }
}

/**
 * A jsforce Connection authenticated with the configured OAuth flow. Its refreshFn
 * re-runs the same flow, so an INVALID_SESSION_ID mid-extraction re-authenticates
 * and jsforce repeats the request that failed.
 */
export async function connect(o: ConnectOptions): Promise<Connection> {
  // The connection module alone: jsforce's index also loads every API module (metadata, SOAP,
  // Bulk v1, Tooling…), ~10 MB of heap for code sfpipe never calls.
  const JsforceConnection = (await import('jsforce/lib/connection.js')).default.default;
  const policy = o.retry ?? LOGIN_RETRY;
  const timeoutMs = o.timeoutMs ?? 120_000;
  // A login the server could not answer is retried like any other call; a refused one fails at once.
  const requestToken = async (conn: Connection) => {
    for (let attempt = 1; ; attempt++) {
      if (o.signal?.aborted) throw new CredentialsError(`Salesforce login (${o.method}) was canceled`);
      const params = tokenParams(o); // a fresh JWT assertion each time
      o.onTokenRequest?.();
      try {
        return await withDeadline(conn.oauth2.requestToken(params), timeoutMs);
      } catch (err) {
        const e = err as { name?: string; errorCode?: string; code?: string; cause?: { code?: string }; message?: string };
        const retryable = loginRetryable(e);
        // jsforce puts the OAuth error's code in the name; the description carries no secret.
        const what = `${e.errorCode ?? e.cause?.code ?? e.code ?? e.name ?? 'error'}: ${e.message ?? ''}`.trim();
        if (!retryable || attempt > policy.maxRetries) {
          const tries = retryable ? ` (gave up after ${attempt} attempt${attempt === 1 ? '' : 's'})` : '';
          throw new CredentialsError(`Salesforce login (${o.method}) at ${o.loginUrl} failed: ${what}${tries}`, { retryable });
        }
        const delay = backoffDelay({ ...policy, jitter: 0.5 }, attempt);
        o.log?.warn(`Salesforce login failed (${what}), retry ${attempt}/${policy.maxRetries} in ${delay} ms`, { retryable: true });
        try {
          await abortableSleep(delay, o.signal);
        } catch {
          throw new CredentialsError(`Salesforce login (${o.method}) was canceled`);
        }
      }
    }
  };
  const conn: Connection = new JsforceConnection({
    oauth2: {
      loginUrl: o.loginUrl,
      clientId: o.credentials.clientId,
      ...(o.method === 'jwt' ? {} : { clientSecret: o.credentials.clientSecret }),
    },
    version: o.apiVersion,
    refreshFn: (c, callback) => {
      requestToken(c).then(
        (res) => callback(null, res.access_token, res),
        (err: Error) => callback(err),
      );
    },
  });
  const res = await requestToken(conn);
  conn._establish({ instanceUrl: res.instance_url, accessToken: res.access_token });
  return conn;
}
