import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { csvRecordGroups } from '../../assets/salesforce/bulk-query.js';
import { CredentialsError, describeCredentials, loadCredentials, requireCredentials } from '../../assets/salesforce/credentials.js';
import { FieldTypeMismatchError, planFields } from '../../assets/salesforce/describe.js';
import { jwtBearerAssertion } from '../../assets/salesforce/jwt.js';
import { convertRecord } from '../../assets/salesforce/records.js';
import { extractionQuery, parseSalesforceDatetime, soqlDatetime } from '../../assets/salesforce/soql.js';
import { embeddedConfigPath, parsePipelineConfig } from '../../assets/config/load-config.js';
import { resolveEndpoint } from '../../assets/resources.js';
import { DEFAULT_CREDENTIALS } from '../../sim/index.js';
import { tempDir } from '../helpers/temp.js';

const COLUMNS = [
  { name: 'Id', type: 'string' as const },
  { name: 'Name', type: 'string' as const },
  { name: 'IsActive', type: 'boolean' as const },
  { name: 'SystemModstamp', type: 'timestamp' as const },
];

test('SOQL: unquoted datetime literal floored to the second; WHERE only when incremental', (t) => {
  t.is(soqlDatetime(new Date('2025-05-01T10:30:05.987Z')), '2025-05-01T10:30:05Z');
  t.is(extractionQuery({ object: 'User', fields: ['Id', 'Name'], cursorField: 'SystemModstamp', since: null }), 'SELECT Id, Name FROM User');
  t.is(
    extractionQuery({ object: 'User', fields: ['Id'], cursorField: 'SystemModstamp', since: new Date('2025-05-01T09:30:00Z') }),
    'SELECT Id FROM User WHERE SystemModstamp >= 2025-05-01T09:30:00Z',
  );
});

test('Salesforce datetimes parse in REST (+0000) and ISO (Z, +hh:mm) forms; garbage is null', (t) => {
  t.is(parseSalesforceDatetime('2025-05-01T10:30:00.000+0000')?.toISOString(), '2025-05-01T10:30:00.000Z');
  t.is(parseSalesforceDatetime('2025-05-01T10:30:00.123Z')?.toISOString(), '2025-05-01T10:30:00.123Z');
  t.is(parseSalesforceDatetime('2025-05-01T12:30:00.000+02:00')?.toISOString(), '2025-05-01T10:30:00.000Z');
  for (const bad of ['', 'yesterday', '2025-13-45T99:00:00.000+0000', 12, null]) t.is(parseSalesforceDatetime(bad), null);
});

test('records: REST JSON and Bulk CSV strings convert alike; bad ones go to quarantine with a reason', (t) => {
  const rest = convertRecord({ attributes: { type: 'User' }, Id: '005A', Name: "O'Brien", IsActive: true, SystemModstamp: '2025-05-01T10:30:00.000+0000' }, COLUMNS, false);
  const csv = convertRecord({ Id: '005A', Name: "O'Brien", IsActive: 'true', SystemModstamp: '2025-05-01T10:30:00.000Z' }, COLUMNS, true);
  t.deepEqual(rest, csv);
  t.deepEqual(rest, { row: { id: '005A', name: "O'Brien", isactive: true, systemmodstamp: new Date('2025-05-01T10:30:00.000Z') } });
  const emptyCsv = convertRecord({ Id: '005B', Name: '', IsActive: 'false', SystemModstamp: '2025-05-01T10:30:00.000Z' }, COLUMNS, true);
  t.is((emptyCsv as { row: Record<string, unknown> }).row.name, null);

  const noId = convertRecord({ attributes: { type: 'User' }, Name: 'x', SystemModstamp: '2025-05-01T10:30:00.000+0000' }, COLUMNS, false);
  t.deepEqual(noId, { quarantine: { rawJson: '{"Name":"x","SystemModstamp":"2025-05-01T10:30:00.000+0000"}', reason: 'missing Id' } });
  const badTs = convertRecord({ Id: '005C', SystemModstamp: 'not a time' }, COLUMNS, false);
  t.is((badTs as { quarantine: { reason: string } }).quarantine.reason, 'unparseable SystemModstamp: "not a time"');
});

test('field plan: configured ∩ describe, missing ones reported, a type change is an error naming the field', (t) => {
  const describe = [
    { name: 'Id', type: 'id' },
    { name: 'Name', type: 'string' },
    { name: 'IsActive', type: 'boolean' },
    { name: 'SystemModstamp', type: 'datetime' },
  ];
  const plan = planFields('User', [...COLUMNS, { name: 'IsDeleted', type: 'boolean' }], describe);
  t.deepEqual(plan.selected.map((c) => c.name), ['Id', 'Name', 'IsActive', 'SystemModstamp']);
  t.deepEqual(plan.missing.map((c) => c.name), ['IsDeleted']);
  const err = t.throws(() => planFields('User', COLUMNS, describe.map((f) => (f.name === 'IsActive' ? { ...f, type: 'string' } : f))), { instanceOf: FieldTypeMismatchError });
  t.regex(err!.message, /User\.IsActive is a Salesforce string \(string\) but the config says boolean/);
});

test('credentials from env, a JSON file and a mounted Secret; errors never echo secret values', async (t) => {
  const env = { SF_CLIENT_ID: 'cid', SF_CLIENT_SECRET: 's3cr3t', SF_USERNAME: 'u@x' };
  t.deepEqual(await loadCredentials({ source: 'env', prefix: 'SF_' }, env), { clientId: 'cid', clientSecret: 's3cr3t', username: 'u@x' });
  t.is(describeCredentials({ clientId: 'cid', clientSecret: 's3cr3t' }), 'clientId, clientSecret');

  const dir = tempDir();
  const file = path.join(dir, 'creds.json');
  fs.writeFileSync(file, JSON.stringify({ client_id: 'cid', client_secret: 's3cr3t', refresh_token: 'rt' }));
  t.deepEqual(await loadCredentials({ source: 'file', path: file }), { clientId: 'cid', clientSecret: 's3cr3t', refreshToken: 'rt' });
  fs.writeFileSync(file, '{"client_secret": "s3cr3t"');
  const err = await t.throwsAsync(loadCredentials({ source: 'file', path: file }), { instanceOf: CredentialsError });
  t.notRegex(err!.message, /s3cr3t/);

  const mount = path.join(dir, 'secret');
  fs.mkdirSync(mount);
  fs.writeFileSync(path.join(mount, 'client_id'), 'cid\n');
  fs.writeFileSync(path.join(mount, 'client_secret'), 's3cr3t\n');
  t.deepEqual(await loadCredentials({ source: 'k8s_secret', dir: mount }), { clientId: 'cid', clientSecret: 's3cr3t' });
  await t.throwsAsync(loadCredentials({ source: 'k8s_secret', dir: path.join(dir, 'absent') }), { message: /does not exist/ });
});

test('requireCredentials names what a flow lacks where its source keeps it', (t) => {
  const lacks = (method: Parameters<typeof requireCredentials>[0], creds: Parameters<typeof requireCredentials>[1], source: Parameters<typeof requireCredentials>[2]) =>
    t.throws(() => requireCredentials(method, creds, source), { instanceOf: CredentialsError })!.message;
  t.notThrows(() => requireCredentials('client_credentials', { clientId: 'c', clientSecret: 's' }, { source: 'env', prefix: 'SF_' }));
  t.regex(lacks('client_credentials', {}, { source: 'env', prefix: 'SF_' }), /needs client_id, client_secret, which the credentials lack\. Fix: set the environment variables SF_CLIENT_ID, SF_CLIENT_SECRET$/);
  t.regex(lacks('jwt', { clientId: 'c', username: 'u' }, { source: 'env', prefix: 'SFX_' }), /Fix: set the environment variable SFX_PRIVATE_KEY \(or SFX_PRIVATE_KEY_FILE naming the key's file\)$/);
  t.regex(lacks('password', { clientId: 'c' }, { source: 'file', path: '/etc/sf.json' }), /needs username, password.*Fix: add "username", "password" to the JSON of the credentials file \/etc\/sf\.json$/);
  t.regex(lacks('refresh_token', { clientId: 'c' }, { source: 'k8s_secret', dir: '/var/run/sf' }), /Fix: add the key refresh_token to the Secret mounted at \/var\/run\/sf$/);
  t.regex(lacks('client_credentials', { clientId: 'c' }, { source: 'aws_secrets_manager', secretName: 'sfpipe/sf' }), /Fix: add "client_secret" to the JSON of the secret sfpipe\/sf$/);
});

test('requireCredentials refuses a login_url with credentials, a query or no URL, naming where it was read and not its value', (t) => {
  const full = { clientId: 'c', clientSecret: 's' };
  t.notThrows(() => requireCredentials('client_credentials', { ...full, loginUrl: 'https://test.salesforce.com' }, { source: 'env', prefix: 'SF_' }));
  const refused = (loginUrl: string, source: Parameters<typeof requireCredentials>[2]) =>
    t.throws(() => requireCredentials('client_credentials', { ...full, loginUrl }, source), { instanceOf: CredentialsError })!.message;
  const env = refused('http://admin:hunter2pass@127.0.0.1:9/', { source: 'env', prefix: 'SF_' });
  t.regex(env, /^the login_url of the credentials \(the environment variable SF_LOGIN_URL\) holds credentials \(user:password@\) in its URL\. Fix: write the org's login URL alone/);
  t.notRegex(env, /hunter2pass/);
  t.regex(refused('https://login.salesforce.com/?token=tok3nSecret', { source: 'file', path: '/etc/sf.json' }), /\("login_url" in the credentials file \/etc\/sf\.json\) has a query or a fragment/);
  t.regex(refused('login.salesforce.com', { source: 'k8s_secret', dir: '/var/run/sf' }), /\(the key login_url of the Secret mounted at \/var\/run\/sf\) is not an http\(s\) URL/);
  t.regex(refused('ftp://x', { source: 'aws_secrets_manager', secretName: 'sfpipe/sf' }), /\("login_url" in the secret sfpipe\/sf\) is not an http\(s\) URL/);
  t.notRegex(refused('https://login.salesforce.com/?token=tok3nSecret', { source: 'env', prefix: 'SF_' }), /tok3nSecret/);
  t.regex(refused('http://login.salesforce.com', { source: 'env', prefix: 'SF_' }), /\(the environment variable SF_LOGIN_URL\) is plain http to another host/);
  t.notThrows(() => requireCredentials('client_credentials', { ...full, loginUrl: 'http://127.0.0.1:8765' }, { source: 'env', prefix: 'SF_' }));
});

test('JWT bearer assertion: RS256 over iss/sub/aud/exp, verifiable with the public key', (t) => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwt = jwtBearerAssertion({ clientId: 'cid', username: 'u@x', audience: 'https://login.salesforce.com', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), now: new Date('2025-05-01T00:00:00Z') });
  const [h, c, s] = jwt.split('.');
  t.deepEqual(JSON.parse(Buffer.from(h!, 'base64url').toString()), { alg: 'RS256', typ: 'JWT' });
  t.deepEqual(JSON.parse(Buffer.from(c!, 'base64url').toString()), { iss: 'cid', sub: 'u@x', aud: 'https://login.salesforce.com', exp: 1746057780 });
  t.true(crypto.verify('RSA-SHA256', Buffer.from(`${h}.${c}`), publicKey, Buffer.from(s!, 'base64url')));
});

test('simulator mode: the embedded simulator is started only when salesforce.login_url names no other one', async (t) => {
  const yaml = fs.readFileSync(embeddedConfigPath(), 'utf8');
  let started = 0;
  const embedded = async () => (started++, { url: 'http://127.0.0.1:1/embedded', credentials: { clientId: 'c', clientSecret: 's' } });
  const plain = await resolveEndpoint(parsePipelineConfig('embedded.yaml', yaml), embedded);
  t.is(plain.loginUrl, 'http://127.0.0.1:1/embedded');
  t.is(started, 1);
  const served = parsePipelineConfig('served.yaml', yaml.replace(/^salesforce:\n/m, 'salesforce:\n  login_url: http://127.0.0.1:8642\n'));
  const endpoint = await resolveEndpoint(served, embedded);
  t.is(started, 1, 'the embedded simulator was not started (its org would have moved on a day)');
  t.is(endpoint.loginUrl, 'http://127.0.0.1:8642');
  t.is(endpoint.credentials.clientId, DEFAULT_CREDENTIALS.clientId);
});

test('Bulk CSV pages are parsed in groups, and a slice boundary never splits a character', async (t) => {
  // Names with astral characters (surrogate pairs in a JS string), quotes, commas and newlines.
  const names = ['Zoë', '😀 "smile", ok', 'line\nbreak', '𝔘𝔫𝔦', 'plain', '👩‍👩‍👧 family', ''];
  const rows = Array.from({ length: 23 }, (_, i): [string, string] => [`005${String(i).padStart(15, '0')}`, names[i % names.length]!]);
  const csv = '\ufeffId,Name\n' + rows.map(([id, name]) => `${id},"${name.replace(/"/g, '""')}"`).join('\n') + '\n';
  const whole = parseCsv(csv, { columns: true, bom: true }) as Record<string, string>[];
  t.deepEqual(whole.map((r) => r['Name']), rows.map(([, n]) => n));
  for (const slice of [1, 2, 3, 5, 8, 64 * 1024]) {
    const groups: Record<string, string>[][] = [];
    for await (const g of csvRecordGroups(csv, 5, slice)) groups.push(g);
    t.deepEqual(groups.map((g) => g.length), [5, 5, 5, 5, 3], `group sizes, slices of ${slice}`);
    t.deepEqual(groups.flat(), whole, `records, slices of ${slice}`);
  }
  const none: unknown[] = [];
  for await (const g of csvRecordGroups('  \n', 5)) none.push(g);
  t.deepEqual(none, []);
});
