import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command, InvalidArgumentError } from 'commander';
import { UsageError } from '../../errors.js';
import { watchSensor, type WatchState } from '../../sensor-watch.js';
import type { RunLauncher, SensorDef } from '../../sensors.js';
import type { CliContext } from '../context.js';
import type { EventLog } from '../../storage/event-log.js';
import { EXIT } from '../exit-codes.js';
import { parseHost, parsePort } from '../parse.js';

const seconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 3600) throw new InvalidArgumentError('--quiet-seconds must be a number of seconds from 0 to 3600.');
  return n;
};

interface WatchOpts {
  quietSeconds: number;
  healthPort?: number;
  healthHost: string;
}

/** `sfpipe sensor watch [NAME]`: a push sensor's long-running watcher (runtime/sensor-watch.ts). */
export function sensorWatchCommand(ctx: () => CliContext, setExit: (code: number) => void, launcher: (ctx: CliContext, eventLog: EventLog) => RunLauncher): Command {
  return new Command('watch')
    .description("Watch a push sensor's change events and request a run for each burst of them, until interrupted")
    .argument('[name]', 'the push sensor (the only one by default)')
    .option('--quiet-seconds <s>', 'request the run once no event came for this long (a burst of changes makes one run)', seconds, 5)
    .option('--health-port <n>', 'serve GET /healthz (200 while subscribed, 503 otherwise, JSON state) on this port (0: any free port; printed)', parsePort('--health-port'))
    .option('--health-host <host>', 'address the health endpoint listens on (in a pod: 0.0.0.0 for the kubelet\'s probe)', parseHost('--health-host'), '127.0.0.1')
    .addHelpText(
      'after',
      [
        '',
        'The watcher subscribes after the sensor\'s cursor (the last event a requested run covers),',
        'so a watcher stopped and started again misses no event the source still retains. Events',
        'are gathered until the quiet period passes, then one run is requested: its run key comes',
        'from the last event it covers (a key is run once), it is launched as `sensor tick`',
        'launches (a Job from the materialize CronJob in a pod, in this process elsewhere), and the',
        'cursor moves only once that run is claimed. A run already going is not doubled: the burst',
        'waits for it. A duplicate delivery (an event at or before the newest one taken) is dropped.',
        'One watcher per sensor: it holds the sensor\'s lock while it runs.',
        '',
        'SIGINT or SIGTERM stops it: it unsubscribes, lets a run request under way finish and exits',
        '0; events not yet covered by a run are replayed by the next watcher.',
        '',
        'Exit codes: 0 stopped by a signal; 1 the subscription or a run request failed; 2 no such',
        'push sensor, or another watcher holds the sensor.',
        '',
      ].join('\n'),
    )
    .action(async (name: string | undefined, opts: WatchOpts) => setExit(await watch(ctx(), name, opts, launcher)));
}

async function pickPush(ctx: CliContext, name: string | undefined): Promise<SensorDef> {
  const sensors = await ctx.sensors();
  const pushed = sensors.filter((s) => s.push);
  if (name !== undefined) {
    const found = sensors.find((s) => s.name === name);
    if (!found) throw new UsageError(`no sensor named "${name}"; the sensors are: ${sensors.map((s) => s.name).join(', ') || 'none'}`);
    if (!found.push) throw new UsageError(`sensor ${name} is polled, not pushed: evaluate it with \`${ctx.program} sensor tick ${name}\`${pushed.length ? `; the push sensors are: ${pushed.map((s) => s.name).join(', ')}` : ''}`);
    return found;
  }
  if (pushed.length === 1) return pushed[0]!;
  if (pushed.length === 0) throw new UsageError(`this pipeline defines no push sensor (only polled ones: use \`${ctx.program} sensor tick\`)`);
  throw new UsageError(`name the push sensor to watch: ${pushed.map((s) => s.name).join(', ')}`);
}

async function watch(ctx: CliContext, name: string | undefined, opts: WatchOpts, launcher: (ctx: CliContext, eventLog: EventLog) => RunLauncher): Promise<number> {
  const sensor = await pickPush(ctx, name);
  const eventLog = await ctx.openEventLog();
  let health: Server | null = null;
  try {
    const { WatcherRunningError } = await import('../../sensor-watch.js');
    let watcher;
    try {
      watcher = await watchSensor({
        sensor,
        eventLog,
        sensorLock: await ctx.sensorLock(sensor.name),
        runLock: await ctx.runLock(),
        launcher: launcher(ctx, eventLog),
        log: ctx.logger,
        stateDir: ctx.stateDir,
        quietMs: opts.quietSeconds * 1000,
      });
    } catch (err) {
      if (err instanceof WatcherRunningError) throw new UsageError(err.message);
      throw err;
    }
    if (opts.healthPort !== undefined) {
      health = await serveHealth(opts.healthHost, opts.healthPort, () => watcher.state());
      const a = health.address() as AddressInfo;
      ctx.write(`${ctx.program} sensor watch ${sensor.name}: health on http://${opts.healthHost.includes(':') ? `[${opts.healthHost}]` : opts.healthHost}:${a.port}/healthz\n`);
    }
    const stopped = new Promise<'signal'>((resolve) => {
      const stop = (sig: NodeJS.Signals): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        ctx.logger.info(`received ${sig}: stopping the watcher of sensor ${sensor.name}`, { sensor: sensor.name });
        resolve('signal');
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    const outcome = await Promise.race([stopped, watcher.done.then(() => 'signal' as const, (err: unknown) => err)]);
    await watcher.stop();
    if (outcome !== 'signal') {
      ctx.reportError(`sensor watch ${sensor.name}: ${outcome instanceof Error ? outcome.message : String(outcome)}`, { sensor: sensor.name });
      return EXIT.FAILURE;
    }
    return EXIT.OK;
  } finally {
    await new Promise<void>((resolve) => (health ? health.close(() => resolve()) : resolve()));
    await eventLog.close();
  }
}

/** GET /healthz: the subscription's state (200 while subscribed, 503 otherwise). */
function serveHealth(hostname: string, portNumber: number, state: () => WatchState): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/healthz') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: GET /healthz\n');
      return;
    }
    const s = state();
    res.writeHead(s.subscription === 'subscribed' ? 200 : 503, { 'Content-Type': 'application/json' }).end(JSON.stringify(s) + '\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new UsageError(`the health endpoint cannot listen on ${hostname}:${portNumber}: ${err.message}; choose another --health-port`)));
    server.listen(portNumber, hostname, () => resolve(server));
  });
}
