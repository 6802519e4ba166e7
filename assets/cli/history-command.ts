import path from 'node:path';
import { Command } from 'commander';
import type { PipelineContext } from '../../runtime/pipeline.js';
import { loadPipelineConfig } from '../config/load-config.js';

const COLUMNS = ['valid_from', 'valid_to', 'is_current', 'division', 'audit_phase__c', 'is_deleted', 'is_active', 'name', 'update_date', 'user_key'];

/** `sfpipe history <user-id>`: one user's versions in the SCD2 dimension of the embedded warehouse. */
export function historyCommand(ctx: () => PipelineContext): Command {
  return new Command('history')
    .description("Show one Salesforce user's versions in sf_curated.dim_sf_user_scd (embedded DuckDB warehouse)")
    .argument('<user-id>', 'the Salesforce User Id (15 or 18 characters)')
    .option('--json', 'print JSON', false)
    .action(async (userId: string, opts: { json: boolean }) => {
      if (!/^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$/.test(userId)) {
        throw new (await import('../../runtime/errors.js')).UsageError(`"${userId}" is not a Salesforce Id (15 or 18 letters and digits)`);
      }
      const config = loadPipelineConfig();
      if (config.warehouse.engine !== 'duckdb') throw new Error('sfpipe history reads the embedded DuckDB warehouse; query Athena for production');
      const file = path.resolve(ctx().stateDir, config.warehouse.duckdb.path);
      const { withDuckDbReadOnly } = await import('../warehouse/duckdb-stats.js');
      const rows = await withDuckDbReadOnly(file, (query) =>
        query(`select ${COLUMNS.join(', ')} from sf_curated.dim_sf_user_scd where user_id = $1 order by valid_from`, [userId]),
      );
      if (opts.json) {
        process.stdout.write(JSON.stringify({ userId, versions: rows }, null, 2) + '\n');
        return;
      }
      if (rows.length === 0) {
        process.stdout.write(`no versions of ${userId} in sf_curated.dim_sf_user_scd (run sfpipe materialize first?)\n`);
        return;
      }
      const widths = COLUMNS.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
      const line = (cells: string[]) => cells.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
      process.stdout.write([line(COLUMNS), ...rows.map((r) => line(COLUMNS.map((c) => String(r[c] ?? ''))))].join('\n') + '\n');
    });
}
