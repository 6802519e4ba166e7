import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { embeddedConfigPath } from '../../assets/config/load-config.js';
import { SimOrg } from '../../sim/index.js';
import { runPipelineCli } from '../helpers/cli.js';
import { receiver } from '../helpers/http-receiver.js';
import { tempDir } from '../helpers/temp.js';

const sfpipe = runPipelineCli;

test('a run that succeeds while fetching nothing for days: raw FAILs by data time, sfpipe check exits 1, one alert, metrics pushed', async (t) => {
  const home = tempDir();
  // The org does not move on by itself in this test: the clock is moved by hand.
  const config = path.join(home, 'pipeline.yaml');
  fs.writeFileSync(config, fs.readFileSync(embeddedConfigPath(), 'utf8').replace('advance_days_per_run: 1', 'advance_days_per_run: 0'));
  const rx = await receiver(t); // the webhook and the Pushgateway
  const secretPath = '/hooks/T000/B000/sup3rs3cret';
  const env = {
    SFPIPE_HOME: home,
    SFPIPE_CONFIG: config,
    SFPIPE_ALERT_WEBHOOK_URL: `${rx.base}${secretPath}`,
    SFPIPE_PUSHGATEWAY_URL: `${rx.base}/pushgateway`,
  };
  const first = await sfpipe(['materialize', '--select', 'sf_raw/sf_user'], env);
  t.is(first.code, 0, first.stderr);
  const fresh = await sfpipe(['check', '--select', 'sf_raw/sf_user', '--json'], env);
  t.is(fresh.code, 0, fresh.stderr);
  t.is(JSON.parse(fresh.stdout).evaluations[0].state, 'PASS');

  // Three days pass in Salesforce with no change at all.
  const org = new SimOrg({ stateFile: path.join(home, 'simulator', 'org.json') });
  org.setClock(new Date(org.now().getTime() + 3 * 86_400_000));
  org.persist();
  const second = await sfpipe(['materialize', '--select', 'sf_raw/sf_user', '--json'], env);
  t.is(second.code, 0, second.stderr);
  const run = JSON.parse(second.stdout);
  t.is(run.status, 'SUCCESS', 'the run itself succeeds');
  t.is(run.steps[0].metadata.versions_inserted, 0);

  const hooksBefore = rx.requests.filter((r) => r.url === secretPath).length;
  const stale = await sfpipe(['check', '--select', 'sf_raw/sf_user', '--json'], env);
  t.is(stale.code, 1, 'a FAIL exits 1 so the CronJob fails');
  const ev = JSON.parse(stale.stdout).evaluations[0];
  t.like(ev, { key: 'sf_raw/sf_user', state: 'FAIL', previousState: 'PASS', changed: true });
  t.regex(ev.reason, /by data time/);

  const hooks = rx.requests.filter((r) => r.url === secretPath);
  t.is(hooks.length - hooksBefore, 1, 'one message for the state change');
  const alert = JSON.parse(hooks.at(-1)!.body);
  t.like(alert, { kind: 'freshness', assetKey: 'sf_raw/sf_user', state: 'FAIL', previousState: 'PASS', recovered: false, command: 'sfpipe lineage --select sf_raw/sf_user' });
  // It names the run it judged: the last materialization (from `sfpipe check`, no run of its own).
  t.is(alert.runId, run.runId);
  t.is(ev.lastRunId, run.runId);

  // The state holds: no new message.
  const again = await sfpipe(['check', '--select', 'sf_raw/sf_user'], env);
  t.is(again.code, 1);
  // The table's header lines up with its rows (the state column starts after a two-character marker).
  const [header, row] = again.stdout.split('\n');
  t.is(row!.indexOf('FAIL'), header!.indexOf('FRESHNESS'), again.stdout);
  t.is(row!.indexOf('✗'), header!.indexOf('FRESHNESS') - 2, again.stdout);
  t.is(rx.requests.filter((r) => r.url === secretPath).length, hooks.length);

  // Metrics went to the Pushgateway in the text format, per asset.
  const pushes = rx.requests.filter((r) => r.url.startsWith('/pushgateway/metrics/job/sf-user-pipeline'));
  t.true(pushes.some((p) => p.method === 'PUT' && /^sfpipe_freshness_state\{asset="sf_raw\/sf_user"\} 2$/m.test(p.body)));
  t.true(pushes.some((p) => /^sfpipe_records_extracted\{asset="sf_raw\/sf_user"\} \d+$/m.test(p.body)));
  // The webhook URL's secret never reaches a log line.
  for (const out of [first, fresh, second, stale, again]) t.false((out.stderr + out.stdout).includes('sup3rs3cret'));

  // Lineage marks the failing asset.
  const lineage = await sfpipe(['lineage', '--select', 'sf_raw/sf_user'], env);
  t.regex(lineage.stdout, /✗ sf_raw\/sf_user/);
  t.regex(lineage.stdout, /freshness: FAIL/);
});

test('check on a selection of external assets only (they have no freshness) is a usage error, not an empty success', async (t) => {
  const r = await runPipelineCli(['check', '--select', 'salesforce/User'], { SFPIPE_HOME: tempDir() });
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /sfpipe: the selection "salesforce\/User" matches no asset that can be materialized \(only external assets\)/);
});
