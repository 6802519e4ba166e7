import { Command, Option } from 'commander';
import { renderLineage, type LineageFormat } from '../../lineage-format.js';
import { UsageError } from '../../errors.js';
import { lineageReport } from '../../reports.js';
import { sensorLines } from './sensor.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { parseChoice } from '../parse.js';

export function lineageCommand(ctx: () => CliContext, setExit: (code: number) => void): Command {
  return new Command('lineage')
    .description('Show the assets, their dependencies, last materialization, checks and freshness; exit 1 when an asset that should load here could not')
    .option('-s, --select <expr>', 'asset selection (all by default)')
    .addOption(
      new Option('-f, --format <format>', 'output format: text, json, mermaid or dot')
        .argParser(parseChoice('--format', ['text', 'json', 'mermaid', 'dot'] as const))
        .default('text'),
    )
    .option('--json', 'same as --format json', false)
    .action(async (opts: { select?: string; format: LineageFormat; json: boolean }, cmd: Command) => {
      if (opts.json && cmd.getOptionValueSource('format') === 'cli' && opts.format !== 'json') {
        throw new UsageError(`--json and --format ${opts.format} ask for two outputs: pass one of them`);
      }
      const c = ctx();
      const definitions = await c.definitions();
      const eventLog = await c.openEventLog();
      let assets;
      try {
        const report = await lineageReport(definitions, opts.select, eventLog, new Date(), await c.sensors(), c.pipeline.environments?.describe());
        ({ assets } = report);
        const format = opts.json ? 'json' : opts.format;
        const reported = report.sensors ?? [];
        if (format === 'json') c.write(JSON.stringify(report, null, 2) + '\n');
        else {
          if (format === 'text' && report.environment) c.write(`environment: ${report.environment.name} (${report.environment.summary})\n\n`);
          c.write(renderLineage(assets, format, { color: Boolean((c.stdout as NodeJS.WriteStream).isTTY) }));
          if (format === 'text' && reported.length) c.write(reported.map((s) => sensorLines(s).join('\n') + '\n').join('\n'));
        }
      } finally {
        await eventLog.close();
      }
      // An asset that should load here but could not is a broken installation, not a view of it.
      setExit(assets.some((a) => a.unavailable?.expected) ? EXIT.FAILURE : EXIT.OK);
    });
}
