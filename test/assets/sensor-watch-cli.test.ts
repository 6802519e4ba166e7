/**
 * `sfpipe sensor watch` as a process on the real pipeline: --help, the errors that name the fix,
 * the health endpoint that follows the subscription, a graceful stop on SIGTERM. Waits are on the
 * process's own output (its log lines) and its exit.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { embeddedConfigPath } from '../../assets/config/load-config.js';
import { startSimulator } from '../../sim/index.js';
import { runPipelineCli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

test('--help says what watch does and its exit codes', async (t) => {
  const r = await runPipelineCli(['sensor', 'watch', '--help'], { SFPIPE_HOME: tempDir() });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /Usage: sfpipe sensor watch \[options\] \[name\]/);
  t.regex(r.stdout, /--quiet-seconds <s>/);
  t.regex(r.stdout, /--health-port <n>/);
  t.regex(r.stdout, /misses no event the source still retains/);
  t.regex(r.stdout, /Exit codes: 0 stopped by a signal/);
});

test('a polled sensor, an unknown one, and the embedded simulator are refused naming the fix', async (t) => {
  const home = tempDir();
  const polled = await runPipelineCli(['sensor', 'watch', 'sf_user_changes'], { SFPIPE_HOME: home });
  t.is(polled.code, 2);
  t.regex(polled.stderr, /sensor sf_user_changes is polled, not pushed: evaluate it with `sfpipe sensor tick sf_user_changes`; the push sensors are: sf_user_cdc/);
  const unknown = await runPipelineCli(['sensor', 'watch', 'nope'], { SFPIPE_HOME: home });
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /no sensor named "nope"; the sensors are: sf_user_changes, sf_user_cdc/);
  const badQuiet = await runPipelineCli(['sensor', 'watch', '--quiet-seconds', 'soon'], { SFPIPE_HOME: home });
  t.is(badQuiet.code, 2);
  t.regex(badQuiet.stderr, /--quiet-seconds must be a number of seconds/);
  // The embedded default: its simulator lives for one run, so there is nothing to subscribe to.
  const embedded = await runPipelineCli(['sensor', 'watch'], { SFPIPE_HOME: home });
  t.is(embedded.code, 1);
  t.regex(embedded.stderr, /push mode needs a Salesforce that keeps running .*`sfpipe sim serve --state-file <file>` and set salesforce\.login_url/);
  // A push sensor is not ticked: `sensor tick` says where its changes come from, and records nothing.
  const tick = await runPipelineCli(['sensor', 'tick', 'sf_user_cdc', '--json'], { SFPIPE_HOME: home });
  t.is(tick.code, 0, tick.stderr);
  t.like(JSON.parse(tick.stdout).ticks[0], { evaluated: false, sensorName: 'sf_user_cdc', skipReason: 'a push sensor: its changes arrive through `sensor watch sf_user_cdc`, not ticks' });
});

test('the health endpoint follows the subscription; SIGTERM unsubscribes and exits 0', async (t) => {
  t.timeout(60_000);
  const sim = await startSimulator({ users: 50, streamingTimeoutMs: 5000 });
  t.teardown(() => sim.close());
  const home = tempDir();
  const config = path.join(home, 'pipeline.yaml');
  const yaml = fs.readFileSync(embeddedConfigPath(), 'utf8').replace(/users: 5000/, 'users: 50').replace(/^salesforce:\n/m, `salesforce:\n  login_url: ${sim.url}\n`);
  fs.writeFileSync(config, yaml);
  const { child, done } = startCli(['sensor', 'watch', '--health-port', '0', '--log-format', 'text'], { SFPIPE_PIPELINE: '', SFPIPE_CONFIG: config, SFPIPE_HOME: home });
  const output = (re: RegExp, stream: NodeJS.ReadableStream): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      let text = '';
      const on = (d: Buffer): void => {
        text += String(d);
        const m = re.exec(text);
        if (m) {
          stream.off('data', on);
          resolve(m);
        }
      };
      stream.on('data', on);
      void done.then((r) => reject(new Error(`exited ${r.code} before ${re}: ${r.stderr}`)));
    });
  const subscribedLine = output(/subscription subscribed/, child.stderr!);
  const [, url] = await output(/health on (http:\/\/\S+\/healthz)/, child.stdout!);
  await subscribedLine;
  const res = await fetch(url!);
  t.is(res.status, 200);
  t.like(await res.json(), { subscription: 'subscribed', cursor: null, pending: 0, waitingForRun: null });
  t.is(sim.streaming.subscribers(), 1);

  child.kill('SIGTERM');
  const r = await done;
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /received SIGTERM: stopping the watcher of sensor sf_user_cdc/);
  t.is(sim.streaming.subscribers(), 0, 'it unsubscribed (disconnected) before exiting');
});
