/**
 * kill -9 of the extraction mid-load (a real child process running the real asset over HTTP), then
 * a rerun over the same state dir: raw equals an undisturbed run's, with nothing left of the
 * killed attempt.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { startHarness } from '../helpers/extract-harness.js';
import { tempDir } from '../helpers/temp.js';
import { queryFile } from './fixtures/duckdb-fixture.js';
import { KILL_TEST_CONFIG, mutateForIncrementalKill } from './fixtures/extract-kill-config.js';
import { assertRawHoldsOrg, rawContent, stepError } from './fixtures/extract-helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/extract-kill-child.js', import.meta.url));
const USERS = 50_000;
const SEED = 7;

/** Runs the child until it prints "paging …", SIGKILLs it, and resolves with what it printed. */
function killWhilePaging(stateDir: string, pagesBeforeHang: number, mode: 'full' | 'incremental' = 'full'): Promise<{ stdout: string; stderr: string; signal: NodeJS.Signals | null; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, stateDir, String(USERS), String(SEED), String(pagesBeforeHang), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!killed && /^paging \d+$/m.test(stdout)) killed = child.kill('SIGKILL');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, signal, code });
    });
  });
}

function digest(lines: string[]): string {
  const h = createHash('sha256');
  for (const l of lines) h.update(l).update('\n');
  return h.digest('hex');
}

test('kill -9 while paging leaves raw empty; the rerun over the same state dir equals an undisturbed run', async (t) => {
  t.timeout(110_000);
  const stateDir = tempDir('sfpipe-extract-kill-');
  const control = startHarness({ sim: { users: USERS, seed: SEED }, editConfig: KILL_TEST_CONFIG }).then(async (c) => {
    try {
      const r = await c.run();
      if (r.result.status !== 'SUCCESS') throw new Error(`control run failed: ${stepError(r)}`);
      const content = await rawContent(c);
      return { content, metadata: r.metadata };
    } finally {
      await c.close();
    }
  });

  const child = await killWhilePaging(stateDir, 3);
  t.is(child.signal, 'SIGKILL', `child stdout: ${child.stdout} stderr: ${child.stderr.slice(0, 2000)}`);
  t.regex(child.stdout, /^paging 6000$/m, 'killed after three pages (6,000 records) were staged');
  t.notRegex(child.stdout, /done/);

  // Straight after the kill: the table exists (created before the load) but holds nothing.
  const duckdbPath = path.join(stateDir, 'warehouse.duckdb');
  const [afterKill] = await queryFile(duckdbPath, 'SELECT (SELECT count(*) FROM sf_raw.sf_user) AS raw, (SELECT count(*) FROM sf_raw.sf_user_quarantine) AS q');
  t.is(Number(afterKill?.['raw']), 0, 'no staged row reached raw');
  t.is(Number(afterKill?.['q']), 0);

  const h = await startHarness({ stateDir, sim: { users: USERS, seed: SEED }, editConfig: KILL_TEST_CONFIG });
  t.teardown(() => h.close());
  const rerun = await h.run();
  t.is(rerun.result.status, 'SUCCESS', stepError(rerun));
  t.is(rerun.metadata['mode'], 'full', 'nothing committed, so no watermark');
  t.is(rerun.metadata['path'], 'rest');
  t.is(rerun.metadata['versions_inserted'], USERS);
  t.is(rerun.metadata['duplicates_skipped'], 0);

  const mine = await rawContent(h);
  const ctl = await control;
  t.is(mine.length, USERS);
  t.is(ctl.content.length, USERS);
  t.is(digest(mine), digest(ctl.content), 'raw (without load columns) equals the undisturbed run');
  t.is(rerun.metadata['watermark_after'], ctl.metadata['watermark_after']);
  await assertRawHoldsOrg(t, h, { exact: true });
});

test('kill -9 during an incremental load leaves raw as the previous run committed it; the rerun equals an undisturbed run', async (t) => {
  t.timeout(110_000);
  const stateDir = tempDir('sfpipe-extract-kill-inc-');
  const control = startHarness({ sim: { users: USERS, seed: SEED }, editConfig: KILL_TEST_CONFIG }).then(async (c) => {
    try {
      const r1 = await c.run();
      if (r1.result.status !== 'SUCCESS') throw new Error(`control run 1 failed: ${stepError(r1)}`);
      const afterFirst = digest(await rawContent(c));
      mutateForIncrementalKill(c.sim);
      const r2 = await c.run();
      if (r2.result.status !== 'SUCCESS') throw new Error(`control run 2 failed: ${stepError(r2)}`);
      return { afterFirst, afterSecond: digest(await rawContent(c)), rows: (await rawContent(c)).length, metadata: r2.metadata };
    } finally {
      await c.close();
    }
  });

  const child = await killWhilePaging(stateDir, 2, 'incremental');
  t.is(child.signal, 'SIGKILL', `child stdout: ${child.stdout} stderr: ${child.stderr.slice(0, 2000)}`);
  t.regex(child.stdout, /^loaded$/m);
  t.regex(child.stdout, /^paging 4000$/m);
  t.notRegex(child.stdout, /done/);

  const duckdbPath = path.join(stateDir, 'warehouse.duckdb');
  const direct = { query: (sql: string) => queryFile(duckdbPath, sql) };
  const ctl = await control;
  const afterKill = await rawContent(direct);
  t.is(afterKill.length, USERS, 'only the first run\'s rows');
  t.is(digest(afterKill), ctl.afterFirst, 'raw is exactly what the first run committed');

  const h = await startHarness({ stateDir, sim: { users: USERS, seed: SEED }, editConfig: KILL_TEST_CONFIG });
  t.teardown(() => h.close());
  mutateForIncrementalKill(h.sim);
  const rerun = await h.run();
  t.is(rerun.result.status, 'SUCCESS', stepError(rerun));
  t.is(rerun.metadata['mode'], 'incremental');
  t.true(rerun.metadata['records_fetched'] > 4 * 2000, `the rerun pages through ${rerun.metadata['records_fetched']} records`);
  t.is(rerun.metadata['versions_inserted'], ctl.metadata['versions_inserted']);
  t.is(rerun.metadata['watermark_before'], ctl.metadata['watermark_before']);
  t.is(rerun.metadata['watermark_after'], ctl.metadata['watermark_after']);
  const mine = await rawContent(h);
  t.is(mine.length, ctl.rows);
  t.is(digest(mine), ctl.afterSecond, 'raw (without load columns) equals the undisturbed run');
  await assertRawHoldsOrg(t, h);
});
