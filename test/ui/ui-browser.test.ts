/**
 * `sfpipe ui` in a real headless browser: Debian's chromium driven by puppeteer-core (no browser
 * download), against the real pipeline on the embedded default after two `materialize` runs.
 * The browser starts once for the file; the tests run in order on one state directory, and each
 * page's screenshot is written to <state dir>/ui-screenshots/.
 *
 * Chromium: $SFPIPE_CHROMIUM, else chromium on PATH (.ci/run installs Debian's package when absent).
 * Every wait is on an event (the server's "listening" line, a page's load, an attribute the page
 * script sets), never on a sleep.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { HEALTH_COLOURS } from '../../runtime/ui/client.js';
import type { Health } from '../../runtime/ui/health.js';
import { queryFile } from '../assets/fixtures/duckdb-fixture.js';
import { runPipelineCli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

// Page functions run in the browser (this project compiles without the DOM library).
declare const document: { body: { getAttribute(name: string): string | null } };
declare const window: { __pwned?: number };
declare function getComputedStyle(el: unknown): { fill: string };

const home = tempDir('sfpipe-ui-');
const env = { SFPIPE_HOME: home };
const shots = path.join(home, 'ui-screenshots');
const sfpipe = (args: string[]) => runPipelineCli(args, env);

let browser: Browser | null = null;
let ui: { child: ChildProcess; url: string } | null = null;
let setupError: string | null = null;

function chromiumPath(): string | null {
  if (process.env.SFPIPE_CHROMIUM) return process.env.SFPIPE_CHROMIUM;
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || null;
    } catch {
      // not this one
    }
  }
  return null;
}

/** Starts `sfpipe ui --port 0` and resolves with its URL once it prints the line saying it listens. */
async function startUi(): Promise<{ child: ChildProcess; url: string }> {
  const { child, done } = startCli(['ui', '--port', '0'], { SFPIPE_PIPELINE: '', SFPIPE_CONFIG: '', ...env });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /sfpipe ui: listening on (http:\/\/\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    done.then((r) => reject(new Error(`sfpipe ui exited ${r.code}: ${r.stderr}`)));
  });
  return { child, url };
}

test.before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  const executablePath = chromiumPath();
  if (!executablePath) {
    setupError = 'no chromium: install Debian\'s package (apt-get install -y chromium; .ci/run does) or set SFPIPE_CHROMIUM';
    return;
  }
  for (let i = 1; i <= 2; i++) {
    const r = await sfpipe(['materialize', '--json']);
    if (r.code !== 0) {
      setupError = `materialize ${i} exited ${r.code}: ${r.stderr.slice(-2000)}`;
      return;
    }
  }
  ui = await startUi();
  browser = await puppeteer.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
});

test.after.always(async () => {
  await browser?.close();
  if (ui && ui.child.exitCode === null) {
    const exited = once(ui.child, 'exit');
    ui.child.kill('SIGTERM');
    await exited;
  }
});

function ready(t: ExecutionContext): { browser: Browser; url: string } | null {
  if (setupError || !browser || !ui) {
    t.fail(setupError ?? 'set-up did not finish');
    return null;
  }
  return { browser, url: ui.url };
}

/** A page loaded (its load event) with a fixed viewport; the caller closes it. */
async function open(b: Browser, url: string, options: { javaScript?: boolean } = {}): Promise<Page> {
  const page = await b.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  if (options.javaScript === false) await page.setJavaScriptEnabled(false);
  const res = await page.goto(url, { waitUntil: 'load' });
  if (!res) throw new Error(`no response for ${url}`);
  return page;
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

const rgb = (hex: string) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;

interface NodeView {
  key: string;
  health: string;
  fill: string;
  classes: string;
}

async function nodes(page: Page): Promise<NodeView[]> {
  return page.$$eval('svg.graph .node', (els) =>
    els.map((el) => ({
      key: el.getAttribute('data-key')!,
      health: el.getAttribute('data-health')!,
      fill: getComputedStyle(el.querySelector('.node-box')!).fill,
      classes: el.getAttribute('class')!,
    })),
  );
}

async function lineage(select?: string): Promise<{ assets: { key: string; deps: string[] }[] }> {
  const r = await sfpipe(['lineage', '--json', ...(select ? ['--select', select] : [])]);
  return JSON.parse(r.stdout);
}

test.serial('the graph page lays out every asset and dependency of `sfpipe lineage`, coloured by health', async (t) => {
  const s = ready(t);
  if (!s) return;
  const { assets } = await lineage();
  const page = await open(s.browser, `${s.url}/`);
  const shown = await nodes(page);
  t.deepEqual(shown.map((n) => n.key).sort(), assets.map((a) => a.key).sort());
  t.is(shown.length, 4, 'salesforce/User, raw, staging, the dimension');
  const edges = await page.$$eval('svg.graph .edge', (els) => els.map((e) => `${e.getAttribute('data-from')} -> ${e.getAttribute('data-to')}`).sort());
  t.deepEqual(edges, assets.flatMap((a) => a.deps.map((d) => `${d} -> ${a.key}`)).sort());
  // The dimension reads staging and raw: 4 dependencies, not a chain of 3.
  t.is(edges.length, 4);
  const expected: Record<string, Health> = {
    'salesforce/User': 'external',
    'sf_raw/sf_user': 'ok',
    'sf_staging/stg_sf_user': 'ok',
    // The seeded invalid Division / Audit_Phase__c values fail two WARN checks.
    'sf_curated/dim_sf_user_scd': 'warn',
  };
  for (const n of shown) {
    t.is(n.health, expected[n.key]!, n.key);
    t.is(n.fill, rgb(HEALTH_COLOURS[expected[n.key]!].fill), `${n.key} is drawn ${expected[n.key]}`);
  }
  // The table lists the same assets (no script needed for it).
  t.is(await page.$$eval('#assets tbody tr', (rows) => rows.length), 4);
  await shoot(page, '1-graph');
  await page.close();
});

test.serial("the selection box highlights what the CLI's selection selects; a syntax error shows the CLI's message", async (t) => {
  const s = ready(t);
  if (!s) return;
  const page = await open(s.browser, `${s.url}/`);
  const select = async (text: string, n: number) => {
    await page.click('#select', { count: 3 });
    await page.keyboard.press('Backspace');
    await page.type('#select', text);
    await page.keyboard.press('Enter');
    await page.waitForFunction((want) => document.body.getAttribute('data-selection-updates') === want, {}, String(n));
  };
  await select('+sf_staging/stg_sf_user', 1);
  const cli = (await lineage('+sf_staging/stg_sf_user')).assets.map((a) => a.key);
  t.deepEqual(cli, ['salesforce/User', 'sf_raw/sf_user', 'sf_staging/stg_sf_user']);
  const highlighted = (await nodes(page)).filter((n) => n.classes.split(' ').includes('selected')).map((n) => n.key);
  t.deepEqual(highlighted.sort(), [...cli].sort());
  t.true((await nodes(page)).find((n) => n.key === 'sf_curated/dim_sf_user_scd')!.classes.includes('dimmed'));
  t.is(await page.$eval('#selection-result', (e) => e.className), 'ok');
  await shoot(page, '2-graph-selection');

  await select('key:((', 2);
  const cliError = await sfpipe(['lineage', '--select', 'key:((']);
  t.is(cliError.code, 2);
  const message = await page.$eval('#selection-result', (e) => e.textContent);
  t.is(message, cliError.stderr.replace(/^sfpipe: /, '').replace(/\n$/, ''));
  t.regex(message!, /^selection syntax error at column 5: expected a value, found "\("\n  key:\(\(\n      \^$/);
  t.is(await page.$eval('#selection-result', (e) => e.className), 'error');
  await shoot(page, '3-graph-selection-error');
  await page.close();

  // Without script the form is a GET: the server renders the same highlight.
  const plain = await open(s.browser, `${s.url}/?select=${encodeURIComponent('kind:dbt')}`, { javaScript: false });
  const selected = (await nodes(plain)).filter((n) => n.classes.split(' ').includes('selected')).map((n) => n.key).sort();
  t.deepEqual(selected, (await lineage('kind:dbt')).assets.map((a) => a.key).sort());
  await plain.close();
});

test.serial("the runs page filters by status and trigger; a run's page lists its events and the command that reproduces it", async (t) => {
  const s = ready(t);
  if (!s) return;
  const { runs } = JSON.parse((await sfpipe(['runs', '--json'])).stdout) as { runs: { runId: string; status: string }[] };
  t.is(runs.length, 2);
  const list = await open(s.browser, `${s.url}/runs?status=SUCCESS&trigger=cli`, { javaScript: false });
  t.deepEqual(await list.$$eval('#runs tbody tr', (rows) => rows.map((r) => r.getAttribute('data-run-id'))), runs.map((r) => r.runId));
  await shoot(list, '4-runs');
  await list.goto(`${s.url}/runs?status=FAILURE`, { waitUntil: 'load' });
  t.deepEqual(await list.$$eval('#runs tbody tr[data-run-id]', (rows) => rows.length), 0);
  await list.goto(`${s.url}/runs?trigger=schedule`, { waitUntil: 'load' });
  t.deepEqual(await list.$$eval('#runs tbody tr[data-run-id]', (rows) => rows.length), 0);
  await list.close();

  const latest = runs[0]!.runId;
  const { events } = JSON.parse((await sfpipe(['events', latest, '--json'])).stdout) as { events: { type: string; assetKey: string | null }[] };
  const page = await open(s.browser, `${s.url}/runs/${latest.slice(0, 8)}`);
  const shown = await page.$$eval('#events tbody tr', (rows) => rows.map((r) => r.getAttribute('data-type')));
  t.deepEqual(shown, events.map((e) => e.type));
  t.true(shown.includes('ASSET_MATERIALIZATION') && shown.includes('ASSET_CHECK_EVALUATION') && shown[0] === 'RUN_START');
  t.is(await page.$eval('#reproduce', (e) => e.textContent), 'sfpipe materialize');
  await shoot(page, '5-run');
  await page.close();
});

test.serial("an asset's page charts its materializations and shows its checks, upstream and downstream and its dbt SQL", async (t) => {
  const s = ready(t);
  if (!s) return;
  const page = await open(s.browser, `${s.url}/asset?key=${encodeURIComponent('sf_curated/dim_sf_user_scd')}`);
  t.is(await page.$$eval('#materializations tbody tr', (rows) => rows.length), 2);
  const charts = await page.$$eval('figure.chart svg', (svgs) => svgs.map((s) => ({ title: s.getAttribute('aria-label'), bars: s.querySelectorAll('rect.bar').length })));
  t.like(charts.find((c) => c.title === 'versions_opened'), { bars: 2 });
  t.like(charts.find((c) => c.title === 'versions_closed'), { bars: 2 });
  t.deepEqual(await page.$$eval('#upstream a', (as) => as.map((a) => a.textContent)), ['sf_raw/sf_user', 'sf_staging/stg_sf_user']);
  t.deepEqual(await page.$$eval('#downstream a', (as) => as.length), 0);
  const integrity = await page.$$eval('#checks tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)).find((c) => c[0] === 'assert_dim_sf_user_scd_integrity'));
  t.deepEqual(integrity?.slice(1, 3), ['ERROR, blocking', 'PASSED']);
  t.regex((await page.$eval('#dbt-sql', (e) => e.textContent))!, /ref\('stg_sf_user'\)/);
  await shoot(page, '6-asset');
  // Raw: the extraction's numbers over time.
  await page.goto(`${s.url}/asset?key=${encodeURIComponent('sf_raw/sf_user')}`, { waitUntil: 'load' });
  const raw = await page.$$eval('figure.chart svg', (svgs) => svgs.map((s) => s.getAttribute('aria-label')));
  t.true(raw.includes('records_fetched') && raw.includes('versions_inserted') && raw.includes('api_calls_total'), raw.join(', '));
  t.is(await page.$('#dbt-sql'), null);
  await page.close();
});

/** A user with more than one version in the dimension. */
async function changedUser(): Promise<string> {
  const [row] = await queryFile(path.join(home, 'warehouse.duckdb'), 'select user_id from sf_curated.dim_sf_user_scd group by 1 having count(*) > 1 order by 1 limit 1');
  return String(row!.user_id);
}

test.serial("a user's history page shows the `sfpipe history` versions, on a timeline too", async (t) => {
  const s = ready(t);
  if (!s) return;
  const id = await changedUser();
  const { versions } = JSON.parse((await sfpipe(['history', id, '--json'])).stdout) as { versions: { valid_from: string; name: string }[] };
  t.true(versions.length >= 2);
  const page = await open(s.browser, `${s.url}/history?id=${id.slice(0, 15)}`, { javaScript: false });
  const rows = await page.$$eval('#history tbody tr', (trs) => trs.map((tr) => tr.querySelector('td')!.textContent));
  t.deepEqual(rows, versions.map((v) => String(v.valid_from)));
  t.deepEqual(await page.$$eval('svg.timeline .version-bar', (gs) => gs.map((g) => g.getAttribute('data-valid-from'))), rows);
  t.is(await page.$$eval('svg.timeline rect.current', (r) => r.length), 1);
  await shoot(page, '7-history');
  // An Id that is none is the CLI's message, as text.
  await page.goto(`${s.url}/history?id=${encodeURIComponent('not-an-id')}`, { waitUntil: 'load' });
  t.is(await page.$eval('#error', (e) => e.textContent), '"not-an-id" is not a Salesforce Id (15 or 18 letters and digits)');
  await page.close();
});

const HOSTILE = `O'Brien "<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">`;

test.serial('a hostile name (quotes, <script>) renders as text, in a page and in the selection box', async (t) => {
  const s = ready(t);
  if (!s) return;
  const id = await changedUser();
  await queryFile(path.join(home, 'warehouse.duckdb'), `update sf_curated.dim_sf_user_scd set name = '${HOSTILE.replace(/'/g, "''")}' where user_id = '${id}'`);
  const page = await open(s.browser, `${s.url}/history/${id}`);
  t.is(await page.$eval('#user-name', (e) => e.textContent), HOSTILE);
  t.true((await page.$$eval('#history tbody td', (tds) => tds.map((td) => td.textContent))).includes(HOSTILE));
  t.is(await page.evaluate(() => window.__pwned), undefined);
  t.is(await page.$$eval('main script, main img', (els) => els.length), 0);
  await shoot(page, '8-hostile-name');
  // The same text typed into the selection box comes back as the CLI's error, as text.
  await page.goto(`${s.url}/?select=${encodeURIComponent(`key:"${HOSTILE.replace(/"/g, '')}`)}`, { waitUntil: 'load' });
  t.regex((await page.$eval('#selection-result', (e) => e.textContent))!, /^selection syntax error/);
  t.is(await page.evaluate(() => window.__pwned), undefined);
  await page.close();
});

test.serial("the JSON endpoints print what the CLI's --json prints for the same data", async (t) => {
  const s = ready(t);
  if (!s) return;
  const get = async (p: string) => {
    const res = await fetch(`${s.url}${p}`);
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };
  // Freshness ages move on between the two reads: compare everything else.
  const steady = (text: string) => {
    const doc = JSON.parse(text) as { assets: { freshness: { lagMs: unknown; reason: unknown } }[] };
    for (const a of doc.assets) a.freshness.lagMs = a.freshness.reason = null;
    return doc;
  };
  for (const select of [undefined, '+sf_staging/stg_sf_user']) {
    const api = await get(`/api/lineage${select ? `?select=${encodeURIComponent(select)}` : ''}`);
    t.is(api.status, 200);
    t.is(api.type, 'application/json; charset=utf-8');
    t.deepEqual(steady(api.text), steady((await sfpipe(['lineage', '--json', ...(select ? ['--select', select] : [])])).stdout), select ?? 'all');
  }
  t.is((await get('/api/runs?limit=5')).text, (await sfpipe(['runs', '--json', '--limit', '5'])).stdout);
  const { runs } = JSON.parse((await sfpipe(['runs', '--json'])).stdout) as { runs: { runId: string }[] };
  for (const r of runs) t.is((await get(`/api/runs/${r.runId.slice(0, 8)}`)).text, (await sfpipe(['events', r.runId.slice(0, 8), '--json'])).stdout);
  const id = await changedUser();
  const history = await get(`/api/history/${id}`);
  t.is(history.status, 200);
  t.is(history.text, (await sfpipe(['history', id, '--json'])).stdout);
  // No versions: the CLI's document (and its exit 1 as a 404).
  const nobody = await get('/api/history/005000000000000AAA');
  t.is(nobody.status, 404);
  t.is(nobody.text, (await sfpipe(['history', '005000000000000AAA', '--json'])).stdout);
  // A selection the CLI refuses is refused with its message.
  const bad = await get(`/api/lineage?select=${encodeURIComponent('key:((')}`);
  t.is(bad.status, 400);
  t.is(JSON.parse(bad.text).error + '\n', (await sfpipe(['lineage', '--select', 'key:((', '--json'])).stderr.replace(/^sfpipe: /, ''));
});

test.serial('only GET and HEAD; localhost only; a strict CSP; bad inputs are 400s, escaped; no secret in any page', async (t) => {
  const s = ready(t);
  if (!s) return;
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const res = await fetch(`${s.url}/runs`, { method });
    t.is(res.status, 405, method);
    t.is(res.headers.get('allow'), 'GET, HEAD');
  }
  const head = await fetch(`${s.url}/`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.regex(head.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'/);
  t.is(head.headers.get('x-content-type-options'), 'nosniff');
  t.true(s.url.startsWith('http://127.0.0.1:'), 'binds to loopback by default');
  // A DNS-rebinding page (another Host) is refused.
  const rebound = await new Promise<number>((resolve, reject) => {
    http.get(`${s.url}/`, { headers: { host: 'evil.example' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    }).on('error', reject);
  });
  t.is(rebound, 421);
  const bad = await fetch(`${s.url}/runs/${encodeURIComponent('<script>alert(1)</script>')}`);
  t.is(bad.status, 400);
  t.notRegex(await bad.text(), /<script>alert/);
  t.is((await fetch(`${s.url}/asset?key=${encodeURIComponent('no/such')}`)).status, 404);
  t.is((await fetch(`${s.url}/runs?status=${encodeURIComponent('"><b>')}`)).status, 400);
  t.is((await fetch(`${s.url}/api/history/not-an-id`)).status, 400);
  t.is((await fetch(`${s.url}/api/runs?limit=0`)).status, 400);
  // A Job's retried attempt (`<run id>.2`) is a run id too, and a sensor's trigger a filter.
  t.is((await fetch(`${s.url}/api/runs/0123abcd-0000-8000-8000-000000000000.2`)).status, 404);
  t.is((await fetch(`${s.url}/runs?trigger=${encodeURIComponent('sensor:sf_user_changes')}`)).status, 200);
  t.is((await fetch(`${s.url}/runs?trigger=${encodeURIComponent('sensor:Bad Name')}`)).status, 400);
  const { runs } = JSON.parse((await sfpipe(['runs', '--json'])).stdout) as { runs: { runId: string }[] };
  const pages = ['/', '/runs', `/runs/${runs[0]!.runId}`, '/history', `/history/${await changedUser()}`, '/api/lineage', '/api/runs', '/static/ui.js', '/static/ui.css'];
  for (const key of ['salesforce/User', 'sf_raw/sf_user', 'sf_staging/stg_sf_user', 'sf_curated/dim_sf_user_scd']) pages.push(`/asset?key=${encodeURIComponent(key)}`);
  for (const p of pages) {
    const res = await fetch(`${s.url}${p}`);
    t.is(res.status, 200, p);
    // The simulator's (public demo) client secret stands for any credential: none is served.
    t.notRegex(await res.text(), /sfpipe-sim-secret|client_secret|password/i, p);
  }
});

test.serial('a failed blocking check turns its node red', async (t) => {
  const s = ready(t);
  if (!s) return;
  // Break the dimension's SCD integrity for one user (a closed version marked current) and build
  // the dimension again. Its rows are dated after every raw row (_dbt_updated_at, the model's
  // watermark), so the incremental build recomputes no user and dbt's blocking integrity test fails.
  const id = await changedUser();
  const dim = 'sf_curated.dim_sf_user_scd';
  await queryFile(path.join(home, 'warehouse.duckdb'), `update ${dim} set is_current = true where user_id = '${id}' and valid_to is not null`);
  await queryFile(path.join(home, 'warehouse.duckdb'), `update ${dim} set _dbt_updated_at = _dbt_updated_at + interval 30 day`);
  const run = await sfpipe(['materialize', '--select', 'sf_curated/dim_sf_user_scd', '--json']);
  t.is(run.code, 1, run.stderr.slice(-2000));
  const { assets } = await lineage('sf_curated/dim_sf_user_scd');
  const checks = (assets[0] as unknown as { checks: { name: string; lastResult: string; blocking: boolean }[] }).checks;
  t.like(checks.find((c) => c.name === 'assert_dim_sf_user_scd_integrity'), { lastResult: 'FAILED', blocking: true });

  const page = await open(s.browser, `${s.url}/`);
  const byKey = Object.fromEntries((await nodes(page)).map((n) => [n.key, n]));
  t.is(byKey['sf_curated/dim_sf_user_scd']!.health, 'fail');
  t.is(byKey['sf_curated/dim_sf_user_scd']!.fill, rgb(HEALTH_COLOURS.fail.fill));
  t.is(byKey['sf_staging/stg_sf_user']!.health, 'ok');
  t.is(byKey['sf_raw/sf_user']!.health, 'ok');
  const why = await page.$eval('#assets tr[data-key="sf_curated/dim_sf_user_scd"]', (tr) => tr.textContent);
  t.regex(why!, /check assert_dim_sf_user_scd_integrity failed \(ERROR, blocking\)/);
  await shoot(page, '9-graph-failed-check');
  // The failed run in the runs list.
  await page.goto(`${s.url}/runs?status=FAILURE`, { waitUntil: 'load' });
  t.is(await page.$$eval('#runs tbody tr[data-run-id]', (rows) => rows.length), 1);
  await page.close();
  t.log(`screenshots: ${shots}`);
});
