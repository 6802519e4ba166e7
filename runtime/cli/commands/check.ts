import { Command } from 'commander';
import type { Unavailability } from '../../definitions.js';
import type { FreshnessState } from '../../event-log.js';
import { evaluateAssetFreshness, formatDuration } from '../../freshness.js';
import { buildAssetGraph } from '../../registry.js';
import { selectAssets } from '../../selection/index.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { metricPrefix } from '../../pipeline.js';
import { alertOnTransitions, freshnessSamples, pushSamples } from '../observability.js';

interface Evaluation {
  key: string;
  state: FreshnessState;
  previousState: FreshnessState | null;
  changed: boolean;
  lagMs: number | null;
  deadline: string | null;
  reason: string;
  /** The run of the last materialization the evaluation judged (null if never materialized). */
  lastRunId: string | null;
  /** Present when the asset's definition could not be loaded here (its freshness is still judged from the event log). */
  unavailable?: Unavailability;
}

export function checkCommand(ctx: () => CliContext, setExit: (code: number) => void): Command {
  return new Command('check')
    .description('Evaluate freshness; record each evaluation and state change; exit 1 when something FAILs or an asset that should load here could not')
    .option('-s, --select <expr>', 'asset selection (all by default)')
    .option('--json', 'print JSON', false)
    .action(async (opts: { select?: string; json: boolean }) => {
      const c = ctx();
      const graph = buildAssetGraph(await c.definitions());
      const selection = selectAssets(opts.select, graph);
      const eventLog = await c.openEventLog();
      const now = new Date();
      const evaluations: Evaluation[] = [];
      try {
        for (const key of graph.sort(selection)) {
          const def = graph.get(key);
          if (def.external) continue;
          const last = await eventLog.lastMaterialization(key);
          const ev = evaluateAssetFreshness(def.freshness, last, now);
          const previous = await eventLog.lastFreshness(key);
          const changed = previous?.state !== ev.state;
          if (ev.state !== 'NOT_APPLICABLE') {
            await eventLog.recordFreshness({
              runId: null,
              assetKey: key,
              state: ev.state,
              previousState: previous?.state ?? null,
              timestamp: now.toISOString(),
              metadata: { lagMs: ev.lagMs, deadline: ev.deadline, reason: ev.reason, changed, lastRunId: last?.runId ?? null },
            });
            if (changed) c.logger.info(`freshness of ${key}: ${previous?.state ?? 'none'} → ${ev.state}: ${ev.reason}`, { assetKey: key });
          }
          evaluations.push({
            key,
            state: ev.state,
            previousState: previous?.state ?? null,
            changed,
            lagMs: ev.lagMs,
            deadline: ev.deadline,
            reason: ev.reason,
            lastRunId: last?.runId ?? null,
            ...(def.unavailable ? { unavailable: { ...def.unavailable } } : {}),
          });
        }
      } catch (err) {
        await eventLog.close();
        throw err;
      }
      const obs = c.pipeline.observability ? await c.pipeline.observability(c.pipelineContext()) : null;
      try {
        // The event log's alert ledger: alerts left unresolved are escalated from here (every check run).
        await alertOnTransitions(
          obs,
          evaluations
            .filter((e) => e.changed && e.state !== 'NOT_APPLICABLE')
            .map((e) => ({ kind: 'freshness' as const, assetKey: e.key, previousState: e.previousState, state: e.state, reason: e.reason, runId: e.lastRunId })),
          c.logger,
          c.program,
          eventLog.alerts,
        );
      } finally {
        await eventLog.close();
      }
      await pushSamples(obs, freshnessSamples(evaluations, metricPrefix(c.pipeline)), 'check', c.logger);
      c.write(opts.json ? JSON.stringify({ evaluatedAt: now.toISOString(), evaluations }, null, 2) + '\n' : render(evaluations, Boolean((c.stdout as NodeJS.WriteStream).isTTY)));
      setExit(evaluations.some((e) => e.state === 'FAIL' || e.unavailable?.expected) ? EXIT.FAILURE : EXIT.OK);
    });
}

function render(evals: Evaluation[], color: boolean): string {
  const paint = (code: number, s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
  // The state column starts with a two-character marker (✗ / !): the header leaves room for it.
  const lines = [`${'ASSET'.padEnd(34)}   ${'FRESHNESS'.padEnd(15)} ${'AGE'.padEnd(8)} ${'DEADLINE'.padEnd(25)} REASON`];
  for (const e of evals) {
    const state = (e.unavailable ? 'UNAVAILABLE' : e.state).padEnd(15);
    const shown =
      e.state === 'FAIL' || e.unavailable?.expected ? paint(31, `✗ ${state}`) : e.state === 'WARN' || e.unavailable ? paint(33, `! ${state}`) : `  ${state}`;
    const age = e.lagMs === null ? '-' : formatDuration(e.lagMs);
    const freshness = `${e.state === 'NOT_APPLICABLE' ? 'no freshness policy' : e.reason}${e.changed && e.previousState ? ` (was ${e.previousState})` : ''}`;
    // An unavailable asset's row leads with why; its freshness, still judged, follows.
    const reason = e.unavailable ? `${e.unavailable.reason} (freshness ${e.state}: ${freshness})` : freshness;
    lines.push(`${e.key.padEnd(34)} ${shown} ${age.padEnd(8)} ${(e.deadline ?? '-').padEnd(25)} ${reason}`);
  }
  return lines.join('\n') + '\n';
}
