/** AWS failures name what was being reached and the fix (assets/aws/error-hints.ts), through the CLI and the clients. */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { S3EventLog } from '../../assets/stores/s3-event-log.js';
import { createAwsClients } from '../../assets/aws/clients.js';
import { GetTableCommand } from '@aws-sdk/client-glue';
import { runPipelineCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/http-receiver.js';
import { tempDir } from '../helpers/temp.js';
import { embeddedConfigPath } from '../../assets/config/load-config.js';

/** No credentials anywhere: no env keys, no ~/.aws, no instance metadata. */
function noCredentials(home: string): Record<string, string> {
  return { HOME: home, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_PROFILE: '', AWS_WEB_IDENTITY_TOKEN_FILE: '', AWS_CONTAINER_CREDENTIALS_FULL_URI: '', AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '', AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: path.join(home, 'none'), AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'none') };
}

test('the S3 event log without AWS credentials: the CLI names the event log and how to give credentials', async (t) => {
  const home = tempDir();
  const config = path.join(home, 'pipeline.yaml');
  fs.writeFileSync(config, `${fs.readFileSync(embeddedConfigPath(), 'utf8')}\nevent_log:\n  store: s3\n  s3_location: s3://acme-sfpipe-state/events/\n  region: eu-west-1\n`);
  const r = await runPipelineCli(['runs'], { SFPIPE_HOME: home, SFPIPE_CONFIG: config, ...noCredentials(home) });
  t.is(r.code, 1);
  t.regex(r.stderr, /^sfpipe: S3 event log s3:\/\/acme-sfpipe-state\/events\/ \(region eu-west-1\): Could not load credentials from any providers\. Fix: give the process AWS credentials: in a pod the ServiceAccount's IAM role \(serviceAccount\.irsaRoleArn\)/);
  t.notRegex(r.stderr, /NodeVersionSupportWarning/, "the SDK's Node-version notice does not break the log stream");
});

test('an unreachable endpoint names the target and says to check region and network (the event log and the Athena/Glue/S3 clients)', async (t) => {
  const port = await closedPort();
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
  const log = new S3EventLog({ location: 's3://bkt/ev/', region: 'eu-west-1', endpoint: `http://127.0.0.1:${port}`, credentials });
  t.teardown(() => log.close());
  const err = await t.throwsAsync(log.recentRuns(5));
  t.regex(err!.message, /^S3 event log s3:\/\/bkt\/ev\/ \(region eu-west-1\): .*\. Fix: check the region \(and the endpoint, if one is set\) and that this network reaches AWS$/);

  const clients = createAwsClients({ region: 'eu-west-1', endpoint: `http://127.0.0.1:${port}`, credentials, maxAttempts: 1 });
  t.teardown(() => clients.destroy());
  const glue = await t.throwsAsync(clients.glue.send(new GetTableCommand({ DatabaseName: 'sf_raw', Name: 'sf_user' })));
  t.regex(glue!.message, new RegExp(`^Glue \\(region eu-west-1, endpoint http://127\\.0\\.0\\.1:${port}\\): .*\\. Fix: check the region`));
});
