/**
 * A run on a live terminal, in process: a fake TTY stream records what the runtime writes and
 * test/helpers/screen.ts replays it as a terminal would (redraws replace lines). The real CLI
 * under a pseudo-terminal is test/assets/calm-terminal.test.ts.
 */
import path from 'node:path';
import { Writable } from 'node:stream';

import test from 'ava';

import { defineAsset, type AssetDef } from '../../runtime/definitions.js';
import { StepError } from '../../runtime/errors.js';
import { SqliteEventLog } from '../../runtime/storage/sqlite-event-log.js';
import { executeRun } from '../../runtime/executor.js';
import { LiveTerminal, TerminalRunReporter } from '../../runtime/live-terminal.js';
import { createLogger, summarized } from '../../runtime/logging.js';
import { buildAssetGraph } from '../../runtime/registry.js';
import { captureLogger, settleLogs } from '../helpers/capture-logger.js';
import { finalScreen } from '../helpers/screen.js';
import { tempDir } from '../helpers/temp.js';

class FakeTty extends Writable {
  readonly isTTY = true;
  output = '';
  constructor(readonly columns: number) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    // A terminal's line discipline turns each \n into \r\n (onlcr), as a pseudo-terminal does.
    this.output += chunk.toString('utf8').replace(/\n/g, '\r\n');
    cb();
  }
}

function liveRun(columns = 100) {
  const tty = new FakeTty(columns);
  const terminal = new LiveTerminal(tty as unknown as NodeJS.WriteStream, { now: () => 0 });
  const logger = createLogger({ terminal, level: 'info' });
  return { tty, terminal, logger, reporter: new TerminalRunReporter(terminal) };
}

test('a run on a live terminal: live lines while steps run, then one line per asset, its failed checks once, warnings once', async (t) => {
  const { tty, terminal, logger, reporter } = liveRun();
  const screens: string[][] = [];
  const defs: AssetDef<unknown>[] = [
    defineAsset({
      key: 'raw/a',
      materialize: async (ctx) => {
        ctx.status.update('extracting', { done: 50, total: 200, unit: 'records' });
        ctx.log.info('an info line the terminal leaves out', { detail: { big: true } });
        ctx.log.warn('the source lacks a field', { field: 'X' });
        await settleLogs();
        screens.push(finalScreen(tty.output, tty.columns));
        ctx.log.warn('said already in another form', summarized);
        return { metadata: { summary: '200 records', rows: 200 } };
      },
      checks: [
        {
          name: 'accepted_values_raw_a_division__North__South__East__West__Central_5436030499',
          label: 'accepted_values on division',
          severity: 'WARN',
          blocking: false,
          evaluate: async () => ({ passed: false, description: '4 failing row(s): Got 4 results, configured to warn if != 0', summary: '4 failing rows' }),
        },
        { name: 'fine', severity: 'ERROR', blocking: true, evaluate: async () => ({ passed: true }) },
      ],
    }),
    defineAsset({
      key: 'mid/b',
      deps: ['raw/a'],
      materialize: async () => {
        throw new StepError('the warehouse refused: permission denied\non table x', { retryable: false });
      },
    }),
    defineAsset({ key: 'top/c', deps: ['mid/b'], materialize: async () => undefined }),
  ];
  const graph = buildAssetGraph(defs);
  const result = await executeRun({
    graph,
    selection: new Set(graph.keys()),
    eventLog: SqliteEventLog.open(path.join(tempDir(), 'events.sqlite')),
    resources: {},
    logger,
    reporter,
  });
  await settleLogs();
  terminal.close();
  t.is(result.status, 'FAILURE');

  // While raw/a ran: the warning above its live line, which has the step's text and a bar.
  t.deepEqual(screens[0], ['⚠ raw/a  the source lacks a field', '▸ raw/a  extracting [█████░░░░░░░░░░░░░░░] 50/200 records']);
  const screen = finalScreen(tty.output, tty.columns).map((l) => l.replace(/ {2}\d+\.\ds$/, '  <t>'));
  t.deepEqual(screen, [
    '⚠ raw/a  the source lacks a field',
    '✓ raw/a  200 records  <t>',
    '    ⚠ accepted_values on division: 4 failing rows (WARN)',
    '✗ mid/b  failed: the warehouse refused: permission denied',
    '    on table x  <t>',
    '- top/c  skipped: upstream mid/b failed',
  ]);
  t.regex(tty.output, /\u001b\[\?25h$/, 'the cursor is shown again at the end');
});

test('an asset whose blocking check failed is marked ✗ (materialized, blocked), with the check under it and its downstream skipped', async (t) => {
  const { tty, terminal, logger, reporter } = liveRun();
  const defs: AssetDef<unknown>[] = [
    defineAsset({
      key: 'raw/a',
      materialize: async () => ({ metadata: { summary: '10 records' } }),
      checks: [{ name: 'row_count_in_range', severity: 'ERROR', blocking: true, evaluate: async () => ({ passed: false, description: 'row count 0 outside [4000, 6000]' }) }],
    }),
    defineAsset({ key: 'mid/b', deps: ['raw/a'], materialize: async () => undefined }),
  ];
  const graph = buildAssetGraph(defs);
  const result = await executeRun({ graph, selection: new Set(graph.keys()), eventLog: SqliteEventLog.open(path.join(tempDir(), 'events.sqlite')), resources: {}, logger, reporter });
  await settleLogs();
  terminal.close();
  t.is(result.status, 'FAILURE');
  const screen = finalScreen(tty.output, tty.columns).map((l) => l.replace(/ {2}\d+\.\ds$/, '  <t>'));
  t.deepEqual(screen, [
    '✗ raw/a  10 records, blocked by a failed check  <t>',
    '    ✗ row_count_in_range: row count 0 outside [4000, 6000] (ERROR, blocks downstream)',
    '- mid/b  skipped: blocking check row_count_in_range on raw/a failed',
  ]);
});

test('live lines are cut to the terminal width, so that none wraps and a redraw replaces them all', async (t) => {
  const { tty, terminal, reporter } = liveRun(40);
  reporter.stepStarted('sf_curated/dim_sf_user_scd');
  reporter.stepStarted('sf_staging/stg_sf_user');
  reporter.status('sf_curated/dim_sf_user_scd').update('node 14/30 test accepted_values_dim_sf_user_scd_division__North__South');
  terminal.print('a line above');
  const raw = tty.output.split('\r\n');
  t.true(raw.every((l) => l.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').length < 40), tty.output);
  t.deepEqual(finalScreen(tty.output, 40), ['a line above', '▸ sf_curated/dim_sf_user_scd  node 14/…', '▸ sf_staging/stg_sf_user  running']);
  // Updates for a step that ended change nothing.
  reporter.stepFinished({ key: 'sf_staging/stg_sf_user', status: 'SKIPPED', attempts: 0, startedAt: null, endedAt: null, error: null, reason: 'n/a', metadata: {}, checks: [], blocked: false });
  reporter.status('sf_staging/stg_sf_user').update('late news');
  terminal.close();
  t.deepEqual(finalScreen(tty.output, 40), ['a line above', '- sf_staging/stg_sf_user  skipped: n/a']);
});

test('a line marked summarized is the same JSON line as before: the mark is never serialized', async (t) => {
  const { log, lines, flush } = captureLogger('info');
  log.child({ runId: 'r1', assetKey: 'k' }).warn('check x failed (WARN)', { attempt: 1, ...summarized });
  log.child({ runId: 'r1', assetKey: 'k' }).warn('check x failed (WARN)', { attempt: 1 });
  await flush();
  const [marked, plain] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  delete marked!.timestamp;
  delete plain!.timestamp;
  t.deepEqual(marked, plain);
  t.deepEqual(Object.keys(marked!).sort(), ['assetKey', 'attempt', 'level', 'message', 'runId']);
});
