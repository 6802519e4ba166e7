import { Command, InvalidArgumentError } from 'commander';
import { UsageError } from '../../runtime/errors.js';
import { parseHost, parsePort } from '../../runtime/cli/parse.js';
import type { PipelineContext } from '../../runtime/pipeline.js';
import { loadPipelineConfig } from '../config/load-config.js';
import type { PipelineConfig } from '../config/pipeline-config.js';
import { parseLocation, protectedOverlap } from '../config/environment.js';

const s3Location = (v: string): string => {
  if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9._=\/-]*)?$/.test(v)) throw new InvalidArgumentError('--publish must be an s3:// location, e.g. s3://my-docs-bucket/sf-user-pipeline/.');
  return v;
};

/** The region for publishing: --region, else the config's AWS region (event log, Athena), else the environment's. */
export function publishRegion(config: PipelineConfig, flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const region =
    flag ||
    (config.eventLog.store === 's3' ? config.eventLog.region : null) ||
    config.warehouse.athena?.region ||
    env.SFPIPE_ATHENA_REGION ||
    env.AWS_REGION ||
    env.AWS_DEFAULT_REGION;
  if (!region) throw new UsageError('--publish needs an AWS region: pass --region, or set AWS_REGION');
  return region;
}

/** Outside prod, publishing where prod's locations are is refused, as the config refuses them. */
function refuseProtected(config: PipelineConfig, publish: string): void {
  const location = parseLocation(publish);
  const hit = location ? protectedOverlap(config.environment, location) : null;
  if (!hit) return;
  const env = config.environment.name;
  throw new Error(`--publish ${publish} is a prod location (${hit}), and this is the ${env} environment: a ${env} run must never write there. Fix: publish ${env}'s docs under a prefix of its own (e.g. a bucket for ${env}), or run with --env prod`);
}

/** `sfpipe docs generate [--publish s3://…]` and `sfpipe docs serve`: dbt's documentation of the models. */
export function docsCommand(ctx: () => PipelineContext, setExit: (code: number) => void): Command {
  const docs = new Command('docs').description("dbt's documentation of the models (descriptions, columns, lineage)");
  docs
    .command('generate')
    .description('Run dbt docs generate on the configured target (after a materialize: it reads the warehouse\'s catalog); optionally publish the site to S3')
    .option('--publish <s3-location>', 'upload index.html, catalog.json and manifest.json under this s3:// prefix', s3Location)
    .option('--region <region>', 'AWS region of the bucket (default: the config\'s, else $AWS_REGION)')
    .action(async (opts: { publish?: string; region?: string }) => {
      const { stateDir, logger } = ctx();
      const config = loadPipelineConfig();
      const { generateDocs, publishDocsToS3 } = await import('../dbt/docs.js');
      // Checked before dbt runs: a missing region or a prod location fails at once.
      const region = opts.publish ? publishRegion(config, opts.region) : null;
      if (opts.publish) refuseProtected(config, opts.publish);
      const { dir } = await generateDocs(config, stateDir, logger);
      process.stdout.write(`dbt docs: ${dir}/index.html\n`);
      if (opts.publish && region) {
        await publishDocsToS3(dir, opts.publish, { region, endpoint: process.env.SFPIPE_AWS_ENDPOINT || undefined }, logger);
        process.stdout.write(`dbt docs published: ${opts.publish.replace(/\/?$/, '/')}index.html\n`);
      }
      setExit(0);
    });
  docs
    .command('serve')
    .description('Serve the generated docs read-only (index.html, catalog.json, manifest.json) until interrupted')
    .option('-p, --port <n>', 'port (0 = any free port)', parsePort('--port'), 8643)
    .option('--host <host>', 'address to listen on', parseHost('--host'), '127.0.0.1')
    .action(async (opts: { port: number; host: string }) => {
      const { stateDir, logger } = ctx();
      const { docsDir } = await import('../dbt/docs.js');
      const { startDocsServer } = await import('../dbt/docs-server.js');
      const server = await startDocsServer({ dir: docsDir(stateDir), host: opts.host, port: opts.port });
      if (!/^(127\.|::1$|localhost$)/.test(opts.host)) logger.warn(`sfpipe docs serve listens on ${opts.host}: anyone who can reach it can read the models' documentation`);
      process.stdout.write(`sfpipe docs: listening on ${server.url}\n`);
      const { untilStopSignal } = await import('../../sim/serve.js');
      await untilStopSignal();
      await server.close();
      setExit(0);
    });
  return docs;
}
