import fs from 'node:fs';
import path from 'node:path';
import type { AssetDef, CheckOutcome, MemberOutcome, MultiAssetContext } from '../../runtime/definitions.js';
import { StepError } from '../../runtime/errors.js';
import { summarized } from '../../runtime/logging.js';
import type { AssetKey } from '../../runtime/keys.js';
import { defineMultiAsset } from '../../runtime/multi-asset.js';
import type { PipelineResources } from '../resources.js';
import type { DbtProject } from './dbt-project.js';
import type { DbtModelAsset } from './manifest.js';
import { MODEL_STATS, previousMetadata, type StatsRelations } from './model-stats.js';
import { runDbt, type DbtAthenaQuery, type DbtProgress } from './run-dbt.js';
import { planDbtTests } from './test-scope.js';
import { dbtProfileEnv } from './dbt-env.js';
import { dbtProjectChecksum } from './dbt-project.js';
import { manifestPath, readManifestFile } from './manifest.js';
import { logAthenaStatement } from '../warehouse/athena-sql.js';
import type { ReadOnlyQuery } from '../warehouse/duckdb-stats.js';
import { warehouseEngine } from '../warehouse/engine.js';

interface RunResult {
  unique_id: string;
  status: string;
  message?: string | null;
  failures?: number | null;
  execution_time?: number;
  adapter_response?: Record<string, unknown>;
}

/** What a model is as an asset (its key, deps, attributes and checks), whether or not it can run here. */
export function modelAssetSpec(m: DbtModelAsset) {
  return {
    key: m.key,
    deps: m.deps,
    description: m.description || `dbt model ${m.name}`,
    group: m.key.split('/')[0] ?? 'dbt',
    kinds: ['dbt', m.materialized],
    owners: ['team:data-platform'],
    tags: Object.fromEntries([['dbt_model', m.name], ...m.tags.map((t) => [t, ''] as [string, string])]),
    checks: m.checks.map((c) => ({ name: c.name, severity: c.severity, blocking: c.blocking, description: c.description, ...(c.label ? { label: c.label } : {}) })),
  };
}

/** The dbt models as one multi-asset: one `dbt build` per run for all selected models. */
export function dbtAssets(models: DbtModelAsset[], project: DbtProject): AssetDef<PipelineResources>[] {
  const byKey = new Map(models.map((m) => [m.key, m]));
  const byUniqueId = new Map(models.map((m) => [m.uniqueId, m]));
  const checkOwner = new Map<string, { model: DbtModelAsset; name: string }>();
  for (const m of models) for (const c of m.checks) checkOwner.set(c.uniqueId, { model: m, name: c.name });

  return defineMultiAsset<PipelineResources>({
    name: 'dbt',
    assets: models.map(modelAssetSpec),
    run: async (ctx) => {
      const selected = ctx.selectedKeys.map((k) => byKey.get(k)!);
      const { config, stateDir } = ctx.resources;
      const engine = warehouseEngine(config, stateDir);
      const plan = planDbtTests({
        fullRefresh: ctx.fullRefresh,
        previous: selected.map((m) => previousMetadata(ctx.previous.get(m.key))),
        everyMs: config.dbt.fullTestEveryMs,
        now: new Date(),
        codeChecksum: projectCodeChecksum(project, `${config.dbt.profile}.${config.environment.name}`),
        unitTestsEnabled: config.dbt.unitTests,
      });
      const args = ['build', '--select', ...selected.map((m) => m.name), '--target', config.environment.name];
      if (!plan.unitTests) args.push('--exclude-resource-type', 'unit_test');
      if (config.dbt.threads) args.push('--threads', String(config.dbt.threads));
      if (ctx.fullRefresh) args.push('--full-refresh');
      ctx.log.info(`dbt ${args.join(' ')} (project ${project.projectDir})`);
      if (!config.dbt.unitTests) ctx.log.info('dbt unit tests are not run (dbt.unit_tests: false)');
      ctx.log.info(`dbt data tests: ${plan.scope === 'all' ? 'every row' : 'the touched users'}, SFPIPE_DBT_TEST_SCOPE=${plan.scope} (${plan.reason})`);
      const loggerForNode = (uid: string) => {
        const model = byUniqueId.get(uid) ?? checkOwner.get(uid)?.model;
        return model ? ctx.logFor(model.key) : undefined;
      };
      // A node's progress goes to its asset's live line, dbt's own lines to every selected asset's.
      const onProgress = (p: DbtProgress) => {
        const model = p.uniqueId ? (byUniqueId.get(p.uniqueId) ?? checkOwner.get(p.uniqueId)?.model) : undefined;
        for (const key of p.uniqueId ? (model ? [model.key] : []) : ctx.selectedKeys) {
          if (ctx.selectedKeys.includes(key)) ctx.statusFor(key).update(p.text);
        }
      };
      const resultsFile = path.join(project.targetPath, 'run_results.json');
      fs.rmSync(resultsFile, { force: true });
      const outcome = await runDbt({
        project,
        args,
        env: { ...dbtProfileEnv(config, stateDir), SFPIPE_DBT_TEST_SCOPE: plan.scope },
        log: ctx.log,
        signal: ctx.signal,
        loggerForNode,
        onProgress,
        ...(engine.tracesDbtQueries
          ? {
              onAthenaQuery: (q: DbtAthenaQuery) =>
                logAthenaStatement(loggerForNode(q.uniqueId ?? '') ?? ctx.log, q.queryExecutionId, q.sql, q.uniqueId ? { dbtNode: q.uniqueId } : {}),
            }
          : {}),
      });
      if (ctx.signal.aborted) throw new StepError('dbt was stopped: the run was canceled', { retryable: false });
      if (!fs.existsSync(resultsFile)) {
        throw new StepError(`dbt build wrote no run_results.json (exit ${outcome.exitCode}): ${outcome.errors.join(' | ') || 'see the dbt log lines above'}`, { retryable: false });
      }
      const results = (JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as { results: RunResult[] }).results;
      const out = outcomes(selected, results, checkOwner, ctx);
      for (const m of selected) {
        const o = out[m.key];
        if (o?.status !== 'SUCCESS') continue;
        const failedChecks = m.checks.filter((c) => o.checks?.[c.name]?.passed === false);
        const failed = {
          errorTest: failedChecks.some((c) => c.severity === 'ERROR' && !c.name.startsWith('unit_test:')),
          unitTest: failedChecks.some((c) => c.name.startsWith('unit_test:')),
        };
        o.metadata = { ...(o.metadata ?? {}), ...plan.metadata(previousMetadata(ctx.previous.get(m.key)), failed) };
      }
      await addRowStats(out, statsRelations(project, config.environment.schemaSuffix), (fn) => engine.withReadOnly({ log: ctx.log, signal: ctx.signal, purpose: 'row statistics' }, fn), ctx);
      return out;
    },
  });
}

function outcomes(
  selected: DbtModelAsset[],
  results: RunResult[],
  checkOwner: Map<string, { model: DbtModelAsset; name: string }>,
  ctx: MultiAssetContext<PipelineResources>,
): Record<AssetKey, MemberOutcome> {
  const out: Record<AssetKey, MemberOutcome> = {};
  const checks = new Map<AssetKey, Record<string, CheckOutcome>>();
  for (const r of results) {
    const owner = checkOwner.get(r.unique_id);
    if (!owner || r.status === 'skipped') continue;
    const passed = r.status === 'pass' || r.status === 'success';
    const description =
      passed ? null : r.failures ? `${r.failures} failing row(s)${r.message ? `: ${r.message}` : ''}` : (r.message ?? r.status);
    // For a terminal: the count, not dbt's "Got 4 results, configured to warn if != 0".
    const summary = passed ? null : r.failures ? `${r.failures} failing row${r.failures === 1 ? '' : 's'}` : (r.message ?? r.status).trim().split('\n')[0]!;
    const forModel = checks.get(owner.model.key) ?? {};
    forModel[owner.name] = { passed, ...(description ? { description } : {}), ...(summary ? { summary } : {}), metadata: { dbt_status: r.status, failures: r.failures ?? null } };
    checks.set(owner.model.key, forModel);
  }
  for (const m of selected) {
    const r = results.find((x) => x.unique_id === m.uniqueId);
    const modelChecks = checks.get(m.key) ?? {};
    if (!r) {
      out[m.key] = { status: 'FAILED', error: `dbt reported no result for ${m.name}`, checks: modelChecks };
    } else if (r.status === 'success') {
      out[m.key] = {
        status: 'SUCCESS',
        metadata: { dbt_model: m.uniqueId, dbt_status: r.status, execution_time_s: round(r.execution_time ?? 0), adapter_response: r.adapter_response ?? {} },
        checks: modelChecks,
      };
    } else if (r.status === 'skipped') {
      const failedUnit = Object.entries(modelChecks).find(([name, c]) => name.startsWith('unit_test:') && !c.passed);
      out[m.key] = { status: 'SKIPPED', error: failedUnit ? `dbt skipped ${m.name}: its ${failedUnit[0]} failed` : `dbt skipped ${m.name} (an upstream model or test failed)` };
    } else {
      ctx.logFor(m.key).error(`dbt model ${m.name} ${r.status}: ${r.message ?? ''}`, summarized);
      out[m.key] = { status: 'FAILED', error: `dbt model ${m.name} ${r.status}: ${r.message ?? 'no message'}`, checks: modelChecks };
    }
  }
  return out;
}

type StatsReader = <T>(fn: (query: ReadOnlyQuery) => Promise<T>) => Promise<T>;

/** Row counts (and versions opened / closed) for the summary. */
async function addRowStats(
  out: Record<AssetKey, MemberOutcome>,
  relations: StatsRelations,
  read: StatsReader,
  ctx: MultiAssetContext<PipelineResources>,
): Promise<void> {
  const wanted = Object.entries(out).filter(([key, outcome]) => MODEL_STATS[key] && outcome.status === 'SUCCESS');
  if (wanted.length === 0) return;
  await read(async (query) => {
    for (const [key, outcome] of wanted) {
      const stats = MODEL_STATS[key]!;
      try {
        const [row] = await query(stats.sql(relations));
        const numbers = Object.fromEntries(Object.entries(row ?? {}).map(([k, v]) => [k, Number(v)]));
        const { metadata, summary } = stats.summarize(numbers, previousMetadata(ctx.previous.get(key)));
        outcome.metadata = { ...(outcome.metadata ?? {}), ...metadata, summary };
      } catch (err) {
        ctx.logFor(key).warn(`could not read row statistics: ${(err as Error).message}`);
      }
    }
  }).catch((err: Error) => ctx.log.warn(`could not read row statistics from the warehouse: ${err.message}`));
}

/** Relations as the manifest dbt just wrote names them for this target. */
function statsRelations(project: DbtProject, schemaSuffix: string): StatsRelations {
  try {
    const manifest = readManifestFile(manifestPath(project.targetPath));
    const raw = Object.values(manifest.sources).find((s) => s.source_name === 'sf_raw' && s.name === 'sf_user');
    return { rawUsers: raw?.relation_name ?? null, schemaSuffix };
  } catch {
    return { rawUsers: null, schemaSuffix };
  }
}

/** The project's code, dbt's version and the target: what a unit test's verdict depends on. */
function projectCodeChecksum(project: DbtProject, target: string): string {
  let dbtVersion = 'unknown';
  try {
    dbtVersion = readManifestFile(manifestPath(project.targetPath)).metadata.dbt_version ?? dbtVersion;
  } catch {
    /* no manifest: the checksum then differs from any recorded one, and unit tests run */
  }
  return dbtProjectChecksum(project.projectDir, [`dbt ${dbtVersion}`, `target ${target}`]);
}

const round = (x: number) => Math.round(x * 1000) / 1000;
