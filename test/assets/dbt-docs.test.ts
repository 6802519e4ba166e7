import test from 'ava';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseS3Location, publishDocs } from '../../assets/dbt/docs.js';
import { startDocsServer } from '../../assets/dbt/docs-server.js';
import { silentLogger } from '../../runtime/logging.js';
import { runPipelineCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const MODELS = ['model.sf_user_pipeline.stg_sf_user', 'model.sf_user_pipeline.dim_sf_user_scd'];

interface Catalog {
  nodes: Record<string, { metadata: { schema: string; name: string }; columns: Record<string, { name: string; type: string }> }>;
}
interface Manifest {
  nodes: Record<string, { description: string; columns: Record<string, { description: string }> }>;
}

test('sfpipe docs generate after a materialize: the catalog lists both models with every column, each described', async (t) => {
  const home = tempDir();
  const env = { SFPIPE_HOME: home };
  const run = await runPipelineCli(['materialize', '--json'], env);
  t.is(run.code, 0, run.stderr);
  const gen = await runPipelineCli(['docs', 'generate'], env);
  t.is(gen.code, 0, gen.stderr);
  const target = path.join(home, 'dbt', 'target');
  t.regex(gen.stdout, /dbt docs: .*index\.html/);
  const catalog = JSON.parse(fs.readFileSync(path.join(target, 'catalog.json'), 'utf8')) as Catalog;
  const manifest = JSON.parse(fs.readFileSync(path.join(target, 'manifest.json'), 'utf8')) as Manifest;
  for (const id of MODELS) {
    const node = catalog.nodes[id];
    t.truthy(node, `${id} in the catalog`);
    const documented = manifest.nodes[id]!;
    t.true(documented.description.trim().length > 20, `${id} has a description`);
    const columns = Object.keys(node!.columns);
    t.true(columns.length >= 10, `${id}: ${columns.join(', ')}`);
    for (const column of columns) {
      // The catalog's column (from the warehouse) and its description (from the model's YAML).
      t.true((documented.columns[column]?.description ?? '').trim().length > 0, `${id}.${column} is described`);
    }
  }
  t.deepEqual(catalog.nodes[MODELS[0]!]!.metadata.schema, 'sf_staging');
  t.deepEqual(catalog.nodes[MODELS[1]!]!.metadata.schema, 'sf_curated');

  // `docs serve`'s server: the three files, nothing else of target/, read-only, loopback names only.
  const server = await startDocsServer({ dir: target, port: 0 });
  try {
    const get = (p: string, init: RequestInit = {}) => fetch(`${server.url}${p}`, init);
    const index = await get('/');
    t.is(index.status, 200);
    t.regex(index.headers.get('content-type')!, /text\/html/);
    t.regex(index.headers.get('content-security-policy')!, /frame-ancestors 'none'/);
    t.is((await get('/catalog.json').then((r) => r.json()) as Catalog).nodes[MODELS[1]!]!.metadata.name, 'dim_sf_user_scd');
    t.is((await get('/manifest.json')).status, 200);
    t.is((await get('/run_results.json')).status, 404);
    t.is((await get('/../../events.sqlite')).status, 404);
    t.is((await get('/', { method: 'POST', body: 'x' })).status, 405);
    const rebinding = await new Promise<number>((resolve, reject) => {
      const u = new URL(server.url);
      http.get({ host: u.hostname, port: u.port, path: '/', headers: { host: 'evil.example' } }, (res) => resolve(res.statusCode ?? 0)).on('error', reject);
    });
    t.is(rebinding, 403);
  } finally {
    await server.close();
  }
});

test('publishDocs uploads the three files under the prefix, index.html last, with their content types', async (t) => {
  const dir = tempDir();
  for (const f of ['index.html', 'catalog.json', 'manifest.json']) fs.writeFileSync(path.join(dir, f), f.endsWith('.html') ? '<html></html>' : '{}');
  const puts: { Bucket: string; Key: string; ContentType: string; Body: Buffer }[] = [];
  const keys = await publishDocs({ putObject: async (input) => void puts.push(input) }, dir, 's3://docs-bucket/sf-user-pipeline', silentLogger());
  t.deepEqual(puts.map((p) => `${p.Bucket}/${p.Key}`), ['docs-bucket/sf-user-pipeline/catalog.json', 'docs-bucket/sf-user-pipeline/manifest.json', 'docs-bucket/sf-user-pipeline/index.html']);
  t.deepEqual(puts.map((p) => p.ContentType), ['application/json', 'application/json', 'text/html; charset=utf-8']);
  t.is(puts[2]!.Body.toString(), '<html></html>');
  t.is(keys.length, 3);
  t.deepEqual(parseS3Location('s3://b-1/'), { bucket: 'b-1', prefix: '' });
  t.throws(() => parseS3Location('https://b/x'), { message: /is not an s3:\/\/ location/ });
  // A failed upload is an error of the command, not a silent partial publish.
  await t.throwsAsync(publishDocs({ putObject: async () => Promise.reject(new Error('AccessDenied')) }, dir, 's3://docs-bucket/x/', silentLogger()), { message: 'AccessDenied' });
});
