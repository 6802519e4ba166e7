import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SFPIPE = path.resolve(here, '../../bin/sfpipe.js');
export const FIXTURE_PIPELINE = path.resolve(here, '../fixtures/pipeline.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Settings of the machine running the tests that would change how the CLI behaves (a CI runner
 * inside Kubernetes has KUBERNETES_SERVICE_HOST: JSON errors and the Lease lock): a test that
 * wants one sets it in `env`.
 */
const MACHINE_SETTINGS = ['KUBERNETES_SERVICE_HOST', 'SFPIPE_LOCK', 'SFPIPE_LEASE_NAME', 'SFPIPE_LOG_LEVEL', 'SFPIPE_TRIGGER', 'SFPIPE_ENV', 'SFPIPE_DEVELOPER'];

function testEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of MACHINE_SETTINGS) delete env[name];
  return env;
}

/** The CLI on the test-only fixture pipeline (SFPIPE_PIPELINE may be overridden in `env`). */
export function startCli(args: string[], env: Record<string, string>): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [SFPIPE, ...args], {
    env: { ...testEnv(), SFPIPE_PIPELINE: FIXTURE_PIPELINE, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function runCliProcess(args: string[], env: Record<string, string>): Promise<CliResult> {
  return startCli(args, env).done;
}

/** The CLI on the real pipeline in assets/ (what `make run` runs). */
export function runPipelineCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return startCli(args, { SFPIPE_PIPELINE: '', SFPIPE_CONFIG: '', ...env }).done;
}

export interface PtyResult {
  code: number | null;
  /** Everything the terminal received (stdout and stderr interleaved, with its escape sequences). */
  output: string;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The CLI on the real pipeline under a pseudo-terminal of `columns` × 50, as a person at a
 * terminal runs it: util-linux `script` gives it a pty for stdin, stdout and stderr. Resolves
 * when it exits, with the exit code of the CLI.
 */
export function runPipelineCliInTerminal(args: string[], env: Record<string, string>, columns = 160): Promise<PtyResult> {
  const command = `stty cols ${columns} rows 50 && exec ${[process.execPath, SFPIPE, ...args].map(shellQuote).join(' ')}`;
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    env: { ...testEnv(), SFPIPE_PIPELINE: '', SFPIPE_CONFIG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error('these tests need util-linux `script` (apt-get install bsdutils) to run the CLI under a pseudo-terminal') : err),
    );
    child.on('close', (code) => (stderr.trim() ? reject(new Error(`script: ${stderr}`)) : resolve({ code, output })));
  });
}
