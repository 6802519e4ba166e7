import test from 'ava';
import { generateKeyPairSync, createSign, type KeyObject } from 'node:crypto';
import jsforce from 'jsforce';
import { DEFAULT_CREDENTIALS as C, startSimulator, type Simulator } from '../../sim/index.js';
import { api, postForm, V } from './helpers.js';

// The connected app's key pair: the simulator holds the certificate's public key.
const appKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 });

let sim: Simulator;
test.before(async () => {
  sim = await startSimulator({ users: 300, jwtCertificate: appKey.publicKey.export({ type: 'spki', format: 'pem' }).toString() });
});
test.after.always(async () => {
  await sim.close();
});

function oauthConn(): jsforce.Connection {
  return new jsforce.Connection({
    oauth2: { loginUrl: sim.url, clientId: C.clientId, clientSecret: C.clientSecret },
    version: V,
  });
}

function jwt(claims: Record<string, unknown>, opts: { key?: KeyObject; alg?: string } = {}): string {
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: opts.alg ?? 'RS256' })}.${enc(claims)}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(opts.key ?? appKey.privateKey).toString('base64url')}`;
}

test('password grant via jsforce conn.login (password + security token)', async (t) => {
  const conn = oauthConn();
  const info = await conn.login(C.username, C.password + C.securityToken);
  t.regex(info.organizationId, /^00D/);
  t.regex(info.id, /^005/);
  t.is(conn.instanceUrl, sim.url);
  const res = await conn.query<{ Id: string }>('SELECT Id FROM User LIMIT 3');
  t.is(res.records.length, 3);
  const identity = await conn.identity();
  t.is(identity.username, C.username);
  t.is(identity.organization_id, info.organizationId);
});

test('password grant returns the Salesforce token shape with a refresh token', async (t) => {
  const res = await postForm(sim, { grant_type: 'password', client_id: C.clientId, client_secret: C.clientSecret, username: C.username, password: C.password + C.securityToken });
  t.is(res.status, 200);
  const body = (await res.json()) as Record<string, string>;
  t.is(body.token_type, 'Bearer');
  t.is(body.instance_url, sim.url);
  t.regex(body.id!, /\/id\/00D[A-Za-z0-9]{15}\/005[A-Za-z0-9]{15}$/);
  t.regex(body.issued_at!, /^\d{13}$/);
  t.truthy(body.signature);
  t.truthy(body.refresh_token);
  t.truthy(body.access_token);
});

test('bad credentials → 400 invalid_grant authentication failure', async (t) => {
  const res = await postForm(sim, { grant_type: 'password', client_id: C.clientId, client_secret: C.clientSecret, username: C.username, password: C.password });
  t.is(res.status, 400);
  t.deepEqual(await res.json(), { error: 'invalid_grant', error_description: 'authentication failure' });
  const conn = oauthConn();
  const err = await t.throwsAsync(conn.login(C.username, 'wrong'));
  t.is(err?.name, 'invalid_grant');
  const badClient = await postForm(sim, { grant_type: 'client_credentials', client_id: C.clientId, client_secret: 'nope' });
  t.is(badClient.status, 400);
  t.is(((await badClient.json()) as { error: string }).error, 'invalid_client');
  const unsupported = await postForm(sim, { grant_type: 'authorization_code', client_id: C.clientId, code: 'x' });
  t.is(((await unsupported.json()) as { error: string }).error, 'unsupported_grant_type');
});

test('client_credentials grant via jsforce authorize (and HTTP Basic client auth)', async (t) => {
  const conn = oauthConn();
  await conn.authorize({ grant_type: 'client_credentials' });
  const d = await conn.sobject('User').describe();
  t.is(d.name, 'User');
  const basic = await fetch(`${sim.url}/services/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${C.clientId}:${C.clientSecret}`).toString('base64')}` },
    body: 'grant_type=client_credentials',
  });
  t.is(basic.status, 200);
  t.falsy(((await basic.json()) as Record<string, unknown>).refresh_token);
});

test('JWT bearer grant: RS256 by the connected app key, iss=client_id, sub=username, aud=login URL', async (t) => {
  const conn = new jsforce.Connection({ oauth2: { loginUrl: sim.url, clientId: C.clientId }, version: V });
  const exp = Math.floor(Date.now() / 1000) + 300;
  await conn.authorize({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwt({ iss: C.clientId, sub: C.username, aud: sim.url, exp }) });
  t.is((await conn.query('SELECT COUNT() FROM User')).totalSize, 300);
  const grant = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
  const wrongSub = await postForm(sim, { grant_type: grant, assertion: jwt({ iss: C.clientId, sub: 'someone@else', aud: sim.url, exp }) });
  t.is(wrongSub.status, 400);
  t.is(((await wrongSub.json()) as { error: string }).error, 'invalid_grant');
  const wrongIss = await postForm(sim, { grant_type: grant, assertion: jwt({ iss: 'other', sub: C.username, exp }) });
  t.is(wrongIss.status, 400);
  const expired = await postForm(sim, { grant_type: grant, assertion: jwt({ iss: C.clientId, sub: C.username, exp: 1000 }) });
  t.is(expired.status, 400);
  const garbage = await postForm(sim, { grant_type: grant, assertion: 'not-a-jwt' });
  t.is(((await garbage.json()) as { error: string }).error, 'invalid_grant');

  const refused = async (assertion: string): Promise<{ status: number; error: string; error_description: string }> => {
    const res = await postForm(sim, { grant_type: grant, assertion });
    return { status: res.status, ...((await res.json()) as { error: string; error_description: string }) };
  };
  const good = { iss: C.clientId, sub: C.username, aud: sim.url, exp };
  t.like(await refused(jwt(good, { key: otherKey.privateKey })), { status: 400, error: 'invalid_grant', error_description: 'invalid assertion: the signature does not match the connected app certificate' });
  t.like(await refused(jwt(good, { alg: 'none' })), { status: 400, error: 'invalid_grant' });
  t.like(await refused(jwt({ ...good, aud: 'https://login.salesforce.com' })), { status: 400, error: 'invalid_grant', error_description: 'audience is invalid' });
  // A valid signature over other claims does not carry over: the signature covers header and claims.
  const [h, , sig] = jwt(good).split('.');
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...good, sub: 'admin@x' })).toString('base64url')}.${sig}`;
  t.like(await refused(forged), { status: 400, error: 'invalid_grant' });
});

test('JWT bearer grant: refused by a simulator that has no certificate for the connected app', async (t) => {
  const bare = await startSimulator({ users: 5 });
  t.teardown(() => bare.close());
  const exp = Math.floor(Date.now() / 1000) + 300;
  const res = await postForm(bare, { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwt({ iss: C.clientId, sub: C.username, aud: bare.url, exp }) });
  t.is(res.status, 400);
  t.like(await res.json(), { error: 'invalid_client', error_description: 'the connected app has no certificate for the JWT bearer flow' });
});

test('refresh_token grant: jsforce refreshes transparently after the session dies', async (t) => {
  const conn = oauthConn();
  await conn.authorize({ grant_type: 'password', username: C.username, password: C.password + C.securityToken });
  t.truthy(conn.refreshToken);
  const first = conn.accessToken;
  let refreshed = false;
  conn.on('refresh', () => { refreshed = true; });
  sim.expireAllTokens();
  const r = await conn.query('SELECT Id FROM User LIMIT 1');
  t.is(r.records.length, 1);
  t.true(refreshed);
  t.not(conn.accessToken, first);
  const bad = await postForm(sim, { grant_type: 'refresh_token', client_id: C.clientId, refresh_token: 'bogus' });
  t.is(bad.status, 400);
});

test('token expiry → 401 INVALID_SESSION_ID', async (t) => {
  const short = await startSimulator({ users: 10, tokenTtlMs: 2500 }); // long enough for the first call on a loaded machine
  try {
    const res = await postForm(short, { grant_type: 'client_credentials', client_id: C.clientId, client_secret: C.clientSecret });
    const token = ((await res.json()) as { access_token: string }).access_token;
    t.is((await api(short, token, '/limits')).status, 200);
    await new Promise((r) => setTimeout(r, 2600));
    const expired = await api(short, token, '/limits');
    t.is(expired.status, 401);
    t.deepEqual(await expired.json(), [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]);
    const conn = new jsforce.Connection({ instanceUrl: short.url, accessToken: token, version: V });
    const err = await t.throwsAsync(conn.query('SELECT Id FROM User'));
    t.is(err?.name, 'INVALID_SESSION_ID');
    t.is((await api(short, 'garbage', '/limits')).status, 401);
    t.is((await fetch(`${short.url}/services/data/v${V}/limits`)).status, 401, 'no Authorization header');
  } finally {
    await short.close();
  }
});
