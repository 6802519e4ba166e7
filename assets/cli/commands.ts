import fs from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../../runtime/errors.js';
import type { PipelineContext } from '../../runtime/pipeline.js';
import { simulatorStateFile } from '../salesforce/embedded-simulator.js';
import { docsCommand } from './docs-command.js';
import { historyCommand } from './history-command.js';

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}.`);
  return n;
};

/** The pipeline's own commands: `sfpipe sim serve`, `sfpipe history` and `sfpipe docs`. */
export function registerPipelineCommands(program: Command, ctx: () => PipelineContext, setExit: (code: number) => void): void {
  const sim = new Command('sim').description('The Salesforce API simulator of the embedded default');
  sim
    .command('serve')
    .description('Serve the simulated Salesforce org over HTTP until interrupted')
    .option('-p, --port <n>', 'port (0 = any free port)', int('--port', 0), 8765)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--users <n>', 'org size for a new org', int('--users', 1), 5000)
    .option('--seed <n>', 'generator seed for a new org', int('--seed', 0), 42)
    .option('--state-file <path>', 'org state file (default: the embedded default\'s, in the state directory)')
    .addOption(new Option('--ephemeral', 'keep the org in memory only (no state file)').default(false).conflicts('stateFile'))
    .option('--jwt-certificate <file>', 'PEM certificate (or public key) of the connected app: enables the JWT bearer flow for its key')
    .action(async (opts: { port: number; host: string; users: number; seed: number; stateFile?: string; ephemeral: boolean; jwtCertificate?: string }) => {
      const { serveCommand } = await import('../../sim/serve.js');
      const stateFile = opts.ephemeral ? undefined : (opts.stateFile ?? simulatorStateFile(ctx().stateDir));
      let jwtCertificate: string | undefined;
      if (opts.jwtCertificate) {
        try {
          jwtCertificate = fs.readFileSync(opts.jwtCertificate, 'utf8');
        } catch (err) {
          throw new UsageError(`--jwt-certificate ${opts.jwtCertificate}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
        }
      }
      await serveCommand({ port: opts.port, host: opts.host, users: opts.users, seed: opts.seed, ...(stateFile ? { stateFile } : {}), ...(jwtCertificate ? { jwtCertificate } : {}) });
    });
  program.addCommand(sim);
  program.addCommand(historyCommand(ctx, setExit));
  program.addCommand(docsCommand(ctx, setExit));
}
