/** Salesforce credentials from AWS Secrets Manager (assets/salesforce/credentials.ts) against moto. */
import test from 'ava';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

import { CredentialsError, loadCredentials } from '../../assets/salesforce/credentials.js';
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto, type MotoServer } from '../services/moto/start.js';

let moto: MotoServer;
let sm: SecretsManagerClient;

test.before(async () => {
  moto = await startMoto();
  // loadCredentials uses the SDK's default provider chain: give it the fake keys through env.
  process.env['AWS_ACCESS_KEY_ID'] = MOTO_CREDENTIALS.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = MOTO_CREDENTIALS.secretAccessKey;
  process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
  sm = new SecretsManagerClient({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS });
});
test.after.always(async () => {
  sm?.destroy();
  await moto?.stop();
});

test.serial('reads the credentials JSON from a secret', async (t) => {
  const secret = {
    client_id: '3MVG9-client',
    client_secret: "s3cr3t'\"\\\n名",
    username: 'integration@example.com',
    private_key: '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n',
    login_url: 'https://login.salesforce.com',
  };
  await sm.send(new CreateSecretCommand({ Name: 'sfpipe/salesforce', SecretString: JSON.stringify(secret) }));
  const creds = await loadCredentials({ source: 'aws_secrets_manager', secretName: 'sfpipe/salesforce', region: MOTO_REGION, endpoint: moto.endpoint });
  t.deepEqual(creds, {
    clientId: secret.client_id,
    clientSecret: secret.client_secret,
    username: secret.username,
    privateKey: secret.private_key,
    loginUrl: secret.login_url,
  });
});

test.serial('an invalid JSON secret is an error that does not echo the secret', async (t) => {
  const value = 'client_secret=hunter2-DO-NOT-LEAK';
  await sm.send(new CreateSecretCommand({ Name: 'sfpipe/broken', SecretString: value }));
  const err = await t.throwsAsync(
    loadCredentials({ source: 'aws_secrets_manager', secretName: 'sfpipe/broken', region: MOTO_REGION, endpoint: moto.endpoint }),
    { instanceOf: CredentialsError },
  );
  t.regex(err!.message, /sfpipe\/broken is not valid JSON/);
  t.false(err!.message.includes('hunter2'));
  t.false(String(err!.stack).includes('hunter2'));
});

test.serial('a missing secret names the secret and the error, nothing else', async (t) => {
  const err = await t.throwsAsync(
    loadCredentials({ source: 'aws_secrets_manager', secretName: 'sfpipe/nope', region: MOTO_REGION, endpoint: moto.endpoint }),
    { instanceOf: CredentialsError },
  );
  t.regex(err!.message, /^cannot read the secret sfpipe\/nope from AWS Secrets Manager: ResourceNotFoundException: Secrets Manager can.t find the specified secret\.?$/);
});
