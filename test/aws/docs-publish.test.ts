/** `sfpipe docs generate --publish`'s upload through the pipeline's AWS clients, against moto's S3 over HTTP. */
import test from 'ava';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import fs from 'node:fs';
import path from 'node:path';
import { publishDocsToS3 } from '../../assets/dbt/docs.js';
import { silentLogger } from '../../runtime/logging.js';
import { tempDir } from '../helpers/temp.js';
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto } from '../services/moto/start.js';

test('publishDocsToS3 puts index.html, catalog.json and manifest.json under the prefix with their content types', async (t) => {
  const moto = await startMoto();
  const s3 = new S3Client({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS, forcePathStyle: true });
  t.teardown(async () => {
    s3.destroy();
    await moto.stop();
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'sfpipe-docs' }));
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>dbt docs</title>');
  fs.writeFileSync(path.join(dir, 'catalog.json'), JSON.stringify({ nodes: { 'model.x.y': {} } }));
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ nodes: {} }));
  const keys = await publishDocsToS3(dir, 's3://sfpipe-docs/sf-user-pipeline/', { region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS }, silentLogger());
  t.deepEqual(keys.sort(), ['catalog.json', 'index.html', 'manifest.json'].map((f) => `s3://sfpipe-docs/sf-user-pipeline/${f}`));
  const index = await s3.send(new GetObjectCommand({ Bucket: 'sfpipe-docs', Key: 'sf-user-pipeline/index.html' }));
  t.is(index.ContentType, 'text/html; charset=utf-8');
  t.is(await index.Body!.transformToString(), '<!doctype html><title>dbt docs</title>');
  const catalog = await s3.send(new GetObjectCommand({ Bucket: 'sfpipe-docs', Key: 'sf-user-pipeline/catalog.json' }));
  t.deepEqual(JSON.parse(await catalog.Body!.transformToString()), { nodes: { 'model.x.y': {} } });
  // A bucket that does not exist: the command fails (no silent partial publish).
  await t.throwsAsync(publishDocsToS3(dir, 's3://no-such-bucket/x/', { region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS }, silentLogger()));
});
