import type { Connection } from 'jsforce';
import type { AuthMethod } from '../config/pipeline-config.js';
import type { SalesforceCredentials } from './credentials.js';
import { CredentialsError, REQUIRED_CREDENTIALS } from './credentials.js';
import { jwtBearerAssertion } from './jwt.js';

export interface ConnectOptions {
  method: AuthMethod;
  credentials: SalesforceCredentials;
  loginUrl: string;
  apiVersion: string;
  /** Called once per token request (initial and every re-authentication). */
  onTokenRequest?: () => void;
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
  const jsforce = (await import('jsforce')).default;
  const requestToken = async (conn: Connection) => {
    o.onTokenRequest?.();
    return conn.oauth2.requestToken(tokenParams(o));
  };
  const conn: Connection = new jsforce.Connection({
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
  let res;
  try {
    res = await requestToken(conn);
  } catch (err) {
    if (err instanceof CredentialsError) throw err; // what the flow lacks, said before any request
    const e = err as { name?: string; errorCode?: string; message?: string };
    // jsforce puts the OAuth error's code in the name; the description carries no secret.
    throw new CredentialsError(`Salesforce login (${o.method}) at ${o.loginUrl} failed: ${e.errorCode ?? e.name ?? 'error'}: ${e.message ?? ''}`.trim());
  }
  conn._establish({ instanceUrl: res.instance_url, accessToken: res.access_token });
  return conn;
}
