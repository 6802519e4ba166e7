import { Command, CommanderError, Option } from 'commander';
import { DefinitionError, errorMessage, UsageError, WaitTimeoutError } from '../errors.js';
import { programName, type PipelineLoader } from '../pipeline.js';
import { checkCommand } from './commands/check.js';
import { lineageCommand } from './commands/lineage.js';
import { materializeCommand } from './commands/materialize.js';
import { eventsCommand, runsCommand } from './commands/runs.js';
import { uiCommand } from './commands/ui.js';
import { sensorCommand } from './commands/sensor.js';
import { CliContext } from './context.js';
import { EXIT } from './exit-codes.js';
import { LOG_LEVELS } from './context.js';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * Runs the CLI of the pipeline `loadPipeline` loads and resolves to its exit code. Its name and
 * description are the pipeline's (Pipeline.program, .description); `fallbackName` names it in the
 * one line said when the pipeline cannot be loaded.
 */
export async function runCli(
  argv: string[],
  loadPipeline: PipelineLoader,
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
  fallbackName = 'cli',
): Promise<number> {
  let exitCode: number = EXIT.OK;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const program = new Command()
    .addOption(new Option('--log-format <format>', 'log lines: json, text, or auto (json when not a TTY or in a cluster)').choices(['auto', 'json', 'text']).default('auto'))
    .addOption(new Option('--log-level <level>', 'error, warn, info or debug (default: $SFPIPE_LOG_LEVEL or info)').choices(LOG_LEVELS))
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride();

  let pipeline;
  try {
    pipeline = await loadPipeline();
  } catch (err) {
    io.stderr.write(`${fallbackName}: could not load the pipeline definitions: ${errorMessage(err)}\n`);
    return EXIT.FAILURE;
  }
  program.name(programName(pipeline));
  const environments = pipeline.environments;
  if (environments) {
    // Set before any command loads the pipeline's config, and seen by the processes it starts (dbt).
    program.addOption(new Option('--env <name>', `the environment: its config overlay and locations (default: $${environments.variable}, else ${environments.defaultName})`).choices(environments.names));
    program.hook('preAction', () => {
      const env = program.opts<{ env?: string }>().env;
      if (env) process.env[environments.variable] = env;
    });
  }
  if (pipeline.description) program.description(pipeline.description);
  let context: CliContext | null = null;
  const ctx = () => (context ??= new CliContext(pipeline, program, io));

  program.addCommand(materializeCommand(ctx, setExit));
  program.addCommand(lineageCommand(ctx, setExit));
  program.addCommand(runsCommand(ctx, setExit));
  program.addCommand(eventsCommand(ctx, setExit));
  program.addCommand(checkCommand(ctx, setExit));
  program.addCommand(uiCommand(ctx, setExit));
  program.addCommand(sensorCommand(ctx, setExit));
  pipeline.registerCommands?.(program, () => ctx().pipelineContext(), setExit);
  for (const cmd of allCommands(program)) {
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.OK;
      // Help shown because no (sub)command was given: a usage error, so a CronJob with broken args fails.
      if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      if (err.code === 'commander.executeSubCommandAsync') return EXIT.FAILURE;
      // Commander already printed the message.
      return EXIT.USAGE;
    }
    const report = (message: string, code: number) => {
      let context: CliContext | null = null;
      try {
        context = ctx();
      } catch {
        // e.g. an unusable state directory: fall back to the plain line
      }
      if (context) context.reportError(message, { exitCode: code });
      else io.stderr.write(`${program.name()}: ${message}\n`);
      return code;
    };
    if (err instanceof UsageError) return report(err.message, EXIT.USAGE);
    if (err instanceof WaitTimeoutError) return report(err.message, EXIT.TIMEOUT);
    if (err instanceof DefinitionError) return report(`invalid asset definitions: ${err.message}`, EXIT.FAILURE);
    return report(errorMessage(err), EXIT.FAILURE);
  }
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap((c) => allCommands(c as Command))];
}
