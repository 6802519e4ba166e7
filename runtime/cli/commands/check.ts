import { Command } from 'commander';
import { sweepFreshness, type FreshnessEvaluation } from '../../api/sweep-freshness.js';
import { formatDuration } from '../../freshness.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';

export function checkCommand(ctx: () => CliContext, setExit: (code: number) => void): Command {
  return new Command('check')
    .description('Evaluate freshness; record each evaluation and state change; exit 1 when something FAILs or an asset that should load here could not')
    .option('-s, --select <expr>', 'asset selection (all by default)')
    .option('--json', 'print JSON', false)
    .action(async (opts: { select?: string; json: boolean }) => {
      const c = ctx();
      const sweep = await sweepFreshness(c.instance(), opts.select !== undefined ? { selection: opts.select } : {});
      const { evaluations } = sweep;
      c.write(opts.json ? JSON.stringify(sweep, null, 2) + '\n' : render(evaluations, Boolean((c.stdout as NodeJS.WriteStream).isTTY)));
      setExit(evaluations.some((e) => e.state === 'FAIL' || e.unavailable?.expected) ? EXIT.FAILURE : EXIT.OK);
    });
}

function render(evals: FreshnessEvaluation[], color: boolean): string {
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
