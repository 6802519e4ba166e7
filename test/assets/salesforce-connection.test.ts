/**
 * connect(): every configured OAuth flow logs in to the simulator over HTTP through jsforce, the
 * JWT bearer flow with a key whose X.509 certificate the simulator holds (as a Salesforce connected
 * app does); a dead session re-runs the same flow; a refused login names the flow and echoes no secret.
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

import test from 'ava';

import { connect } from '../../assets/salesforce/connection.js';
import { CredentialsError, type SalesforceCredentials } from '../../assets/salesforce/credentials.js';
import { DEFAULT_CREDENTIALS as C, startSimulator, type Simulator } from '../../sim/index.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('sfpipe-connect-');
/** A self-signed certificate and its key, as made for a connected app (openssl req -x509). */
function certificate(name: string): { key: string; cert: string } {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-days', '2', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(cert, 'utf8') };
}
const app = certificate('sfpipe-app');
const stranger = certificate('stranger');

let sim: Simulator;
test.before(async () => {
  sim = await startSimulator({ users: 50, jwtCertificate: app.cert });
});
test.after.always(async () => {
  await sim?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function refreshToken(): Promise<string> {
  const res = await fetch(`${sim.url}/services/oauth2/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', client_id: C.clientId, client_secret: C.clientSecret, username: C.username, password: C.password + C.securityToken }),
  });
  return ((await res.json()) as { refresh_token: string }).refresh_token;
}

const flows: [string, 'client_credentials' | 'password' | 'refresh_token' | 'jwt', () => Promise<SalesforceCredentials>][] = [
  ['client_credentials', 'client_credentials', async () => ({ clientId: C.clientId, clientSecret: C.clientSecret })],
  ['password', 'password', async () => ({ clientId: C.clientId, clientSecret: C.clientSecret, username: C.username, password: C.password, securityToken: C.securityToken })],
  ['refresh_token', 'refresh_token', async () => ({ clientId: C.clientId, clientSecret: C.clientSecret, refreshToken: await refreshToken() })],
  ['jwt (X.509 certificate)', 'jwt', async () => ({ clientId: C.clientId, username: C.username, privateKey: app.key })],
];

for (const [title, method, credentials] of flows) {
  test.serial(`${title}: logs in, queries, and re-runs the flow when the session dies`, async (t) => {
    let tokenRequests = 0;
    const conn = await connect({ method, credentials: await credentials(), loginUrl: sim.url, apiVersion: '62.0', onTokenRequest: () => tokenRequests++ });
    t.is((await conn.query('SELECT COUNT() FROM User')).totalSize, 50);
    t.is(tokenRequests, 1);
    sim.expireAllTokens();
    t.is((await conn.query('SELECT COUNT() FROM User')).totalSize, 50, 'jsforce retried after re-authenticating');
    t.is(tokenRequests, 2);
  });
}

test('jwt signed by a key the connected app does not know: a login error naming the flow, no key material', async (t) => {
  const err = await t.throwsAsync(
    connect({ method: 'jwt', credentials: { clientId: C.clientId, username: C.username, privateKey: stranger.key }, loginUrl: sim.url, apiVersion: '62.0' }),
    { instanceOf: CredentialsError },
  );
  t.regex(err!.message, /^Salesforce login \(jwt\) at http:\/\/127\.0\.0\.1:\d+ failed: .*signature does not match the connected app certificate/);
  t.false(err!.message.includes('PRIVATE KEY'));
  t.false(err!.message.includes(stranger.key.split('\n')[1]!));
});

test('a flow missing what it needs says which credentials to add', async (t) => {
  const err = await t.throwsAsync(connect({ method: 'jwt', credentials: { clientId: C.clientId, username: C.username }, loginUrl: sim.url, apiVersion: '62.0' }), {
    instanceOf: CredentialsError,
  });
  t.is(err!.message, 'the jwt flow needs privateKey in the Salesforce credentials; add them to the configured credentials source');
});

const QUICK = { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 1 };
const clientCredentials = (): SalesforceCredentials => ({ clientId: C.clientId, clientSecret: C.clientSecret });

test.serial('a login answered 503 is retried like any other call, with a warning each time', async (t) => {
  sim.faults.clear();
  sim.faults.add({ on: 'token', kind: 'http', status: 503, times: 2 });
  const cap = captureLogger('info');
  let tokenRequests = 0;
  const conn = await connect({ method: 'client_credentials', credentials: clientCredentials(), loginUrl: sim.url, apiVersion: '62.0', retry: QUICK, log: cap.log, onTokenRequest: () => tokenRequests++ });
  t.is((await conn.query('SELECT COUNT() FROM User')).totalSize, 50);
  t.is(tokenRequests, 3);
  await cap.flush();
  const warnings = cap.lines.map((l) => JSON.parse(l) as { level: string; message: string }).filter((l) => l.level === 'warn');
  t.deepEqual(warnings.map((w) => w.message.replace(/ in \d+ ms$/, '')), [
    'Salesforce login failed (server_error: injected fault), retry 1/2',
    'Salesforce login failed (server_error: injected fault), retry 2/2',
  ]);
});

test('a login to a port nobody listens on is retried, then fails saying how often it was tried', async (t) => {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  let tokenRequests = 0;
  const err = await t.throwsAsync(
    connect({ method: 'client_credentials', credentials: clientCredentials(), loginUrl: `http://127.0.0.1:${port}`, apiVersion: '62.0', retry: QUICK, onTokenRequest: () => tokenRequests++ }),
    { instanceOf: CredentialsError },
  );
  t.is(tokenRequests, 3);
  t.true((err as CredentialsError).retryable);
  t.regex(err!.message, /^Salesforce login \(client_credentials\) at http:\/\/127\.0\.0\.1:\d+ failed: ECONNREFUSED.* \(gave up after 3 attempts\)$/);
});

test('a login with no answer by the deadline is retried', async (t) => {
  let received = 0;
  const server = http.createServer(() => {
    received++; // never answered
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  let tokenRequests = 0;
  const err = await t.throwsAsync(
    connect({ method: 'client_credentials', credentials: clientCredentials(), loginUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}`, apiVersion: '62.0', retry: { ...QUICK, maxRetries: 1 }, timeoutMs: 200, onTokenRequest: () => tokenRequests++ }),
    { instanceOf: CredentialsError },
  );
  t.is(tokenRequests, 2);
  t.regex(err!.message, /REQUEST_TIMEOUT: no answer within .* \(gave up after 2 attempts\)$/);
});

test.serial('refused credentials fail the login at once, not retryable', async (t) => {
  sim.faults.clear();
  let tokenRequests = 0;
  const err = await t.throwsAsync(
    connect({ method: 'client_credentials', credentials: { clientId: C.clientId, clientSecret: 'wrong' }, loginUrl: sim.url, apiVersion: '62.0', retry: QUICK, onTokenRequest: () => tokenRequests++ }),
    { instanceOf: CredentialsError },
  );
  t.is(tokenRequests, 1);
  t.false((err as CredentialsError).retryable);
  t.notRegex(err!.message, /attempts/);
});
