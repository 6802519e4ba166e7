import { Command } from 'commander';
import { parseHost, parsePort } from '../parse.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';

export const DEFAULT_UI_PORT = 8642;

/**
 * `sfpipe ui`: serves the read-only web view (runtime/ui) over the event log and the pipeline's
 * pages until SIGINT or SIGTERM. Prints one line with its URL when it listens.
 */
export function uiCommand(ctx: () => CliContext, setExit: (code: number) => void): Command {
  return new Command('ui')
    .description('Serve a read-only web view of the asset graph, runs and events (and the pipeline\'s pages) until interrupted')
    .option('-p, --port <n>', `port (0 = any free port)`, parsePort('--port'), DEFAULT_UI_PORT)
    .option('--host <host>', 'address to listen on (another than loopback serves everyone who can reach it)', parseHost('--host'), '127.0.0.1')
    .action(async (opts: { port: number; host: string }) => {
      const c = ctx();
      const definitions = await c.definitions();
      const eventLog = await c.openEventLog();
      const { startUiServer } = await import('../../ui/server.js');
      let ui;
      try {
        const extension = (await c.pipeline.ui?.(c.pipelineContext())) ?? {};
        ui = await startUiServer({
          host: opts.host,
          port: opts.port,
          title: c.pipeline.name,
          program: c.program,
          ...(c.pipeline.chartedMetadata ? { chartedMetadata: c.pipeline.chartedMetadata } : {}),
          definitions,
          sensors: await c.sensors(),
          ...(c.pipeline.environments ? { environment: c.pipeline.environments.describe() } : {}),
          eventLog,
          extension,
          log: c.logger,
        });
      } catch (err) {
        await eventLog.close();
        throw err;
      }
      if (!/^(127\.|::1$|localhost$)/.test(opts.host)) c.logger.warn(`${c.program} ui listens on ${opts.host}: anyone who can reach it can read the event log and the warehouse's history pages`);
      c.write(`${c.program} ui: listening on ${ui.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await ui.close();
      await eventLog.close();
      setExit(EXIT.OK);
    });
}
