import { Command } from 'commander';
import { UsageError } from '../../runtime/errors.js';
import { silentLogger } from '../../runtime/logging.js';
import type { PipelineContext } from '../../runtime/pipeline.js';
import { jsonText } from '../../runtime/reports.js';
import { loadPipelineConfig } from '../config/load-config.js';
import { caseSafeId } from '../salesforce/ids.js';

export const HISTORY_COLUMNS = ['valid_from', 'valid_to', 'is_current', 'division', 'audit_phase__c', 'is_deleted', 'is_active', 'name', 'update_date', 'user_key'];
export const DIMENSION = 'sf_curated.dim_sf_user_scd';

/** The dimension in this environment's schema (sf_curated plus its suffix, e.g. sf_curated_alice in dev). */
function dimensionIn(schemaSuffix: string): { schema: string; relation: string } {
  const schema = `sf_curated${schemaSuffix}`;
  return { schema, relation: `${schema}.dim_sf_user_scd` };
}

/**
 * A Salesforce User Id as `sfpipe history` takes it: 15 letters and digits (case-sensitive), or
 * 18 in any case (returned as Salesforce writes it); a UsageError otherwise.
 */
export function checkUserId(userId: string): string {
  if (!/^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$/.test(userId)) {
    throw new UsageError(`"${userId}" is not a Salesforce Id (15 or 18 letters and digits)`);
  }
  if (userId.length === 15) return userId;
  const id = caseSafeId(userId);
  if (id === null) {
    throw new UsageError(`"${userId}" is not a Salesforce Id: its last 3 characters are not the case-safe suffix of the first 15 (check for a typo, or give the 15-character Id)`);
  }
  return id;
}

/**
 * One user's versions in the dimension, oldest first, on the configured warehouse: what
 * `sfpipe history --json` prints and `sfpipe ui`'s history page shows. `userId` is checked first.
 */
export async function userHistory(typedId: string, stateDir: string): Promise<{ userId: string; versions: Record<string, unknown>[] }> {
  const userId = checkUserId(typedId);
  const config = loadPipelineConfig();
  const { warehouseEngine } = await import('../warehouse/engine.js');
  const engine = warehouseEngine(config, stateDir);
  const missing = engine.missingWarehouse();
  if (missing) throw new Error(`${missing}; run sfpipe materialize first`);
  // The Id is letters and digits only (checked above), so it is safe as a literal on every engine.
  const literal = `'${userId}'`;
  const dim = dimensionIn(config.environment.schemaSuffix);
  const rows = await engine.withReadOnly({ log: silentLogger(), purpose: 'history' }, async (query) => {
    const [found] = await query(
      `select count(*) as n from information_schema.tables where table_schema = '${dim.schema}' and table_name = 'dim_sf_user_scd'`,
    );
    if (Number(found?.n ?? 0) === 0) throw new Error(`${dim.relation} does not exist yet in ${engine.description}; run sfpipe materialize (it builds the dimension)`);
    // A 15-character Id is the case-sensitive prefix of the 18-character one the table holds.
    const match = userId.length === 15 ? `substr(user_id, 1, 15) = ${literal}` : `user_id = ${literal}`;
    return query(`select user_id, ${HISTORY_COLUMNS.join(', ')} from ${dim.relation} where ${match} order by valid_from`);
  });
  const fullId = rows.length > 0 ? String(rows[0]!.user_id) : userId;
  return { userId: fullId, versions: rows.map(({ user_id: _id, ...rest }) => rest) };
}

/**
 * `sfpipe history <user-id>`: one user's versions in the SCD2 dimension of the embedded warehouse.
 * Exit 1 when there are none, so a script can tell "no such user" from an answer.
 */
export function historyCommand(ctx: () => PipelineContext, setExit: (code: number) => void): Command {
  return new Command('history')
    .description(`Show one Salesforce user's versions in ${DIMENSION} (the configured warehouse: DuckDB, Athena or Trino); exit 1 when it has none`)
    .argument('<user-id>', 'the Salesforce User Id: 18 characters in any case, or the 15-character (case-sensitive) form')
    .option('--json', 'print {userId, versions} as JSON', false)
    .action(async (userId: string, opts: { json: boolean }) => {
      const { userId: fullId, versions } = await userHistory(userId, ctx().stateDir);
      setExit(versions.length === 0 ? 1 : 0);
      if (opts.json) {
        process.stdout.write(jsonText({ userId: fullId, versions }));
        return;
      }
      if (versions.length === 0) {
        process.stderr.write(`sfpipe: no versions of ${fullId} in ${DIMENSION}: no such user, or not extracted yet\n`);
        return;
      }
      const cells = versions.map((r) => HISTORY_COLUMNS.map((c) => escapeControl(String(r[c] ?? ''))));
      const widths = HISTORY_COLUMNS.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
      const line = (row: string[]) => row.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
      process.stdout.write([`user ${fullId}`, line(HISTORY_COLUMNS), ...cells.map(line)].join('\n') + '\n');
    });
}

const NAMED_ESCAPES: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '\\': '\\\\' };

/**
 * A value as one table cell: control characters (a tab or newline in a name would break the
 * table, an escape sequence would drive the terminal) as \t, \n, \r or \xNN / \uNNNN, and a
 * backslash doubled so that an escape is never ambiguous.
 */
export function escapeControl(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\\]/g, (ch) => {
    const named = NAMED_ESCAPES[ch];
    if (named) return named;
    const code = ch.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
