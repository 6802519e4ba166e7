import { Command } from 'commander';
import { MIN_RUN_ID_PREFIX, type RunRecord } from '../../storage/event-log.js';
import { jsonText, runEventsReport, runsReport } from '../../reports.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { parsePositiveInt } from '../parse.js';

export function runsCommand(ctx: () => CliContext, setExit: (code: number) => void): Command {
  return new Command('runs')
    .description('List recent runs, newest first')
    .option('-n, --limit <n>', 'how many runs', parsePositiveInt('--limit'), 20)
    .option('--json', 'print JSON', false)
    .action(async (opts: { limit: number; json: boolean }) => {
      const c = ctx();
      const eventLog = await c.openEventLog();
      try {
        const report = await runsReport(eventLog, opts.limit);
        if (opts.json) c.write(jsonText(report));
        else c.write(report.runs.length === 0 ? `no runs in the event log yet; start one with: ${c.program} materialize\n` : renderRuns(report.runs));
      } finally {
        await eventLog.close();
      }
      setExit(EXIT.OK);
    });
}

export function eventsCommand(ctx: () => CliContext, setExit: (code: number) => void): Command {
  return new Command('events')
    .description("Show one run and all of its events (a run id or a unique prefix of at least 6 characters)")
    .argument('<run-id>', 'the run id or a unique prefix')
    .option('--json', 'print JSON', false)
    .action(async (runIdArg: string, opts: { json: boolean }) => {
      const c = ctx();
      const eventLog = await c.openEventLog();
      try {
        const report = await runEventsReport(eventLog, runIdArg);
        if (!report) {
          const short = runIdArg.length < MIN_RUN_ID_PREFIX ? ` (a prefix needs at least ${MIN_RUN_ID_PREFIX} characters)` : '';
          c.reportError(`no run with id "${runIdArg}"${short}; list runs with: ${c.program} runs`, { exitCode: EXIT.FAILURE });
          setExit(EXIT.FAILURE);
          return;
        }
        const { run, events } = report;
        if (opts.json) {
          c.write(jsonText(report));
        } else {
          const lines = renderRuns([run]).trimEnd().split('\n').slice(1);
          for (const e of events) {
            const data = Object.keys(e.data).length ? ' ' + JSON.stringify(e.data) : '';
            lines.push(`  ${e.timestamp}  ${e.type.padEnd(22)} ${e.assetKey ?? ''}${data}`);
          }
          c.write(lines.join('\n') + '\n');
        }
      } finally {
        await eventLog.close();
      }
      setExit(EXIT.OK);
    });
}

function renderRuns(runs: RunRecord[]): string {
  const width = Math.max(9, ...runs.map((r) => r.trigger.length));
  const lines = [`RUN ID                                STATUS    ${'TRIGGER'.padEnd(width)} STARTED                   DURATION  SELECTION`];
  for (const r of runs) {
    const dur = r.endedAt ? `${((Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000).toFixed(1)}s` : '-';
    lines.push(`${r.runId.padEnd(37)} ${r.status.padEnd(9)} ${r.trigger.padEnd(width)} ${r.startedAt.padEnd(25)} ${dur.padEnd(9)} ${r.selection}${r.fullRefresh ? ' (full refresh)' : ''}`);
    if (r.error) lines.push(`    ${r.error}`);
  }
  return lines.join('\n') + '\n';
}
