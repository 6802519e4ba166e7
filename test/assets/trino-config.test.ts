/** `warehouse.engine: trino`: the config section, its secrets by reference, and the engine it selects. */
import fs from 'node:fs';
import path from 'node:path';

import test from 'ava';

import { ConfigError, embeddedConfigPath, parsePipelineConfig } from '../../assets/config/load-config.js';
import { trinoConnection, warehouseEngine } from '../../assets/warehouse/engine.js';
import { tempDir } from '../helpers/temp.js';

const withTrino = (trino: string): string =>
  fs.readFileSync(embeddedConfigPath(), 'utf8').replace(/^warehouse:\n  engine: duckdb\n/m, `warehouse:\n  engine: trino\n  trino:\n${trino.replace(/^/gm, '    ')}\n`);

test('a Trino config parses with its defaults and selects the Trino engine and dbt profile', (t) => {
  const c = parsePipelineConfig('cfg.yaml', withTrino('server: http://trino.internal:8080/'));
  t.is(c.warehouse.engine, 'trino');
  t.deepEqual(c.warehouse.trino, {
    server: 'http://trino.internal:8080',
    catalog: 'iceberg',
    rawSchema: 'sf_raw',
    schemaLocation: null,
    user: 'sfpipe',
    auth: 'none',
    secret: null,
    caFile: null,
  });
  t.is(c.dbt.profile, 'sf_user_pipeline_trino');
  const engine = warehouseEngine(c, '/state');
  t.is(engine.name, 'trino');
  t.like(engine.dbtEnv(), { SFPIPE_TRINO_HOST: 'trino.internal', SFPIPE_TRINO_PORT: '8080', SFPIPE_TRINO_SCHEME: 'http', SFPIPE_TRINO_CATALOG: 'iceberg', SFPIPE_RAW_SCHEMA: 'sf_raw', SFPIPE_TRINO_AUTH: 'none' });
});

const bad: [string, string, RegExp, string?][] = [
  ['no server', 'catalog: iceberg', /warehouse\.trino\.server.*is missing.*SFPIPE_TRINO_SERVER/],
  ['a server with a path', 'server: http://trino:8080/ui', /"http:\/\/trino:8080\/ui" is not a Trino server URL/],
  ['credentials in the URL', 'server: https://u:hunter2@trino:8443', /warehouse\.trino\.server.*holds credentials \(user:password@\) in its URL/],
  ['a password over plain HTTP', 'server: http://trino:8080\nauth: password', /password authentication needs HTTPS/],
  ['a catalog that is not a plain name', 'server: http://trino:8080\ncatalog: "Ice-Berg"', /warehouse\.trino\.catalog.*not a plain lower-case name/],
  ['a JWT setting with auth: password', 'server: https://trino:8443\nauth: password\njwt: { env: X }', /warehouse\.trino\.jwt.*only applies to auth: jwt/],
  ['a password written into the config', 'server: https://trino:8443\nauth: password\npassword: hunter2', /warehouse\.trino\.password.*holds the password itself; it is a secret.*SFPIPE_TRINO_PASSWORD/],
];
for (const [name, section, expected] of bad) {
  test(`Trino config error: ${name}`, (t) => {
    const err = t.throws(() => parsePipelineConfig('cfg.yaml', withTrino(section)), { instanceOf: ConfigError });
    t.regex(err!.message, expected);
    t.notRegex(err!.message, /hunter2/);
  });
}

test('the password is read from its reference when a connection is made, and a missing one is named', (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'password');
  const c = parsePipelineConfig('cfg.yaml', withTrino(`server: https://trino:8443\nauth: password\npassword: { file: ${file} }`));
  t.throws(() => trinoConnection(c.warehouse.trino!, 'sf_raw'), { message: new RegExp(`auth is password, but the file ${file} is empty or missing`) });
  fs.writeFileSync(file, 's3cret\n');
  const conn = trinoConnection(c.warehouse.trino!, 'sf_raw');
  t.is(conn.password, 's3cret');
  t.is(conn.jwt, undefined);
  const env = warehouseEngine(c, dir).dbtEnv();
  t.like(env, { SFPIPE_TRINO_AUTH: 'ldap', SFPIPE_TRINO_PASSWORD: 's3cret', SFPIPE_TRINO_SCHEME: 'https', SFPIPE_TRINO_PORT: '8443' });
});
