/**
 * dbt's documentation site: `dbt docs generate` for the configured target (the same project,
 * profile environment and invocation as the dbt asset), and publishing it to S3.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../runtime/logging.js';
import type { AwsClientSettings } from '../aws/clients.js';
import type { PipelineConfig } from '../config/pipeline-config.js';
import { dbtProfileEnv } from './dbt-env.js';
import { locateDbtProject } from './dbt-project.js';
import { runDbt } from './run-dbt.js';

/** What `dbt docs generate` writes into the target directory and the site needs. */
export const DOCS_FILES = ['index.html', 'catalog.json', 'manifest.json'] as const;

/** The target directory holding the generated site (the dbt asset's, under the state directory). */
export function docsDir(stateDir: string): string {
  return locateDbtProject(stateDir).targetPath;
}

/**
 * Runs `dbt docs generate` on the configured target. It reads the warehouse's catalog, so on
 * DuckDB it needs the file free (no run holding it). Throws with dbt's errors when it fails.
 */
export async function generateDocs(config: PipelineConfig, stateDir: string, log: Logger): Promise<{ dir: string; files: string[] }> {
  const project = locateDbtProject(stateDir);
  const args = ['docs', 'generate', '--target', config.environment.name];
  if (config.dbt.threads) args.push('--threads', String(config.dbt.threads));
  log.info(`dbt ${args.join(' ')}`);
  const outcome = await runDbt({ project, args, env: dbtProfileEnv(config, stateDir), log });
  const missing = DOCS_FILES.filter((f) => !fs.existsSync(path.join(project.targetPath, f)));
  if (outcome.exitCode !== 0 || missing.length > 0) {
    const why = [...outcome.errors, ...outcome.stderr.slice(-3)].join(' | ') || 'see the dbt log lines above';
    throw new Error(`dbt docs generate failed (exit ${outcome.exitCode}${missing.length ? `, no ${missing.join(', ')}` : ''}): ${why}`);
  }
  return { dir: project.targetPath, files: DOCS_FILES.map((f) => path.join(project.targetPath, f)) };
}

/** The part of the S3 client the publisher uses (injectable in tests). */
export interface DocsObjectStore {
  putObject(input: { Bucket: string; Key: string; Body: Buffer; ContentType: string; CacheControl: string }): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.json': 'application/json' };

/** `s3://bucket/prefix/` → bucket and prefix (with a trailing slash, or empty). */
export function parseS3Location(location: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(location.trim());
  if (!m) throw new Error(`"${location}" is not an s3:// location. Fix: write s3://bucket/prefix/`);
  const prefix = (m[2] ?? '').replace(/^\/+/, '');
  return { bucket: m[1]!, prefix: prefix && !prefix.endsWith('/') ? `${prefix}/` : prefix };
}

/**
 * Uploads the site's files under the location. index.html goes last, so a reader never sees an
 * index that points at a catalog or manifest not yet written.
 */
export async function publishDocs(store: DocsObjectStore, dir: string, location: string, log: Logger): Promise<string[]> {
  const { bucket, prefix } = parseS3Location(location);
  const order = [...DOCS_FILES].sort((a, b) => Number(a === 'index.html') - Number(b === 'index.html'));
  const keys: string[] = [];
  for (const name of order) {
    const key = `${prefix}${name}`;
    await store.putObject({
      Bucket: bucket,
      Key: key,
      Body: fs.readFileSync(path.join(dir, name)),
      ContentType: CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream',
      CacheControl: 'no-cache',
    });
    keys.push(`s3://${bucket}/${key}`);
  }
  log.info(`dbt docs published to s3://${bucket}/${prefix}`, { files: keys.length });
  return keys;
}

/** publishDocs through the pipeline's AWS clients (assets/aws/clients.ts): IRSA / the default chain in production. */
export async function publishDocsToS3(dir: string, location: string, settings: AwsClientSettings, log: Logger): Promise<string[]> {
  const [{ createAwsClients }, { PutObjectCommand }] = await Promise.all([import('../aws/clients.js'), import('@aws-sdk/client-s3')]);
  const aws = createAwsClients(settings);
  try {
    return await publishDocs({ putObject: async (input) => void (await aws.s3.send(new PutObjectCommand(input))) }, dir, location, log);
  } finally {
    aws.destroy();
  }
}
