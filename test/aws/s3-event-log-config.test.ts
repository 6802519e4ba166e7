/** The `event_log:` config section and the pipeline's openEventLog hook (no emulator needed). */
import fs from 'node:fs';
import path from 'node:path';

import test from 'ava';

import { ConfigError, embeddedConfigPath, parsePipelineConfig } from '../../assets/config/load-config.js';
import { readEventLogConfig } from '../../assets/config/event-log-config.js';
import { ConfigReader } from '../../assets/config/config-reader.js';
import { S3EventLog } from '../../assets/stores/s3-event-log.js';
import { loadPipeline } from '../../assets/sf-user-pipeline.js';
import { silentLogger } from '../../runtime/logging.js';
import { SqliteEventLog } from '../../runtime/storage/sqlite-event-log.js';
import { tempDir } from '../helpers/temp.js';

const read = (yaml: string, env: NodeJS.ProcessEnv = {}) => readEventLogConfig(new ConfigReader('p.yaml', yaml), env);

test('default: sqlite; the embedded config parses to it', (t) => {
  t.deepEqual(read('salesforce: {}\n'), { store: 'sqlite' });
  t.deepEqual(parsePipelineConfig('embedded.yaml', fs.readFileSync(embeddedConfigPath(), 'utf8')).eventLog, { store: 'sqlite' });
});

test('s3: settings from the file, else from SFPIPE_EVENT_LOG_S3 / SFPIPE_ATHENA_REGION / AWS_REGION / SFPIPE_AWS_ENDPOINT', (t) => {
  t.deepEqual(read('event_log:\n  store: s3\n  s3_location: s3://bkt/p\n  region: eu-west-1\n  endpoint: http://127.0.0.1:1\n'), {
    store: 's3',
    location: 's3://bkt/p/',
    region: 'eu-west-1',
    endpoint: 'http://127.0.0.1:1',
  });
  const env = { SFPIPE_EVENT_LOG_S3: 's3://lake/events/', SFPIPE_ATHENA_REGION: 'eu-central-1', AWS_REGION: 'us-west-2', SFPIPE_AWS_ENDPOINT: 'http://x:5' };
  t.deepEqual(read('event_log: { store: s3 }\n', env), { store: 's3', location: 's3://lake/events/', region: 'eu-central-1', endpoint: 'http://x:5' });
  t.is((read('event_log: { store: s3 }\n', { ...env, SFPIPE_ATHENA_REGION: '' }) as { region: string }).region, 'us-west-2');
  t.is((read('event_log: { store: s3 }\n', { ...env, SFPIPE_AWS_ENDPOINT: '' }) as { endpoint: string | null }).endpoint, null);
});

test('mistakes are ConfigErrors naming file, path, line and fix', (t) => {
  const cases: [string, NodeJS.ProcessEnv, RegExp][] = [
    ['event_log:\n  store: dynamo\n', {}, /^p\.yaml: event_log\.store \(line 2\): "dynamo" is not one of sqlite, s3\. Fix: use one of sqlite, s3$/],
    ['event_log:\n  store: s3\n', { AWS_REGION: 'x' }, /^p\.yaml: event_log\.s3_location: is missing\. Fix: set event_log\.s3_location .* or the SFPIPE_EVENT_LOG_S3 environment variable$/],
    ['event_log:\n  store: s3\n  s3_location: bucket/prefix\n', { AWS_REGION: 'x' }, /event_log\.s3_location \(line 3\): "bucket\/prefix" is not an s3:\/\/ location\. Fix: write s3:\/\/bucket\/prefix\//],
    ['event_log:\n  store: s3\n  s3_location: s3://bkt/p/\n', {}, /event_log\.region: is missing\. Fix: .*SFPIPE_ATHENA_REGION or AWS_REGION/],
    ['event_log:\n  store: s3\n  s3_location: s3://bkt/p/\n  region: eu-west-1\n  endpoint: localhost\n', {}, /event_log\.endpoint \(line 5\): "localhost" is not an http\(s\) URL/],
    ['event_log:\n  store: s3\n  s3_location: s3://bkt/p/\n  region: eu-west1\n', {}, /event_log\.region \(line 4\): "eu-west1" \(event_log\.region, \$SFPIPE_ATHENA_REGION or \$AWS_REGION\) is not an AWS region\. Fix: write a region name such as eu-west-1/],
    ['event_log:\n  s3_location: s3://bkt/p/\n', {}, /event_log\.s3_location \(line 2\): only applies to store: s3\. Fix: remove event_log\.s3_location or set event_log\.store: s3/],
    ['event_log: s3\n', {}, /event_log \(line 1\): must be a mapping/],
  ];
  for (const [yaml, env, message] of cases) t.throws(() => read(yaml, env), { instanceOf: ConfigError, message }, yaml);
});

test('openEventLog: sqlite opens <state dir>/events.sqlite; s3 builds an S3EventLog without touching the network', async (t) => {
  const dir = tempDir('sfpipe-evlog-config-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pipeline = await loadPipeline();
  const saved = process.env['SFPIPE_CONFIG'];
  t.teardown(() => {
    if (saved === undefined) delete process.env['SFPIPE_CONFIG'];
    else process.env['SFPIPE_CONFIG'] = saved;
  });

  process.env['SFPIPE_CONFIG'] = embeddedConfigPath();
  const sqlite = await pipeline.openEventLog!({ stateDir: dir, logger: silentLogger() });
  t.true(sqlite instanceof SqliteEventLog);
  t.is((sqlite as SqliteEventLog).path, path.join(dir, 'events.sqlite'));
  await sqlite.close();

  const file = path.join(dir, 's3.yaml');
  fs.writeFileSync(
    file,
    `${fs.readFileSync(embeddedConfigPath(), 'utf8')}\nevent_log:\n  store: s3\n  s3_location: s3://sfpipe-state/event-log\n  region: eu-west-1\n  endpoint: http://127.0.0.1:9\n`,
  );
  process.env['SFPIPE_CONFIG'] = file;
  const s3 = await pipeline.openEventLog!({ stateDir: dir, logger: silentLogger() });
  t.true(s3 instanceof S3EventLog);
  t.is((s3 as S3EventLog).location, 's3://sfpipe-state/event-log/');
  await s3.close();
});
