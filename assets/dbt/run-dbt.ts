import { spawn } from 'node:child_process';
import type { Logger } from '../../runtime/logging.js';
import type { DbtProject } from './dbt-project.js';

export interface DbtInvocation {
  project: DbtProject;
  args: string[];
  env: Record<string, string>;
  log: Logger;
  signal?: AbortSignal;
  /** Log lines of a node go to this logger (its asset key), others to `log`. */
  loggerForNode?: (uniqueId: string) => Logger | undefined;
}

export interface DbtOutcome {
  exitCode: number;
  /** The last error lines dbt printed, for messages. */
  errors: string[];
}

export class DbtNotFoundError extends Error {
  override name = 'DbtNotFoundError';
}

/**
 * Runs dbt with JSON log lines and routes each through our logger, tagged with the node's
 * asset key where there is one. SIGTERM reaches dbt when the run is canceled.
 */
export function runDbt(inv: DbtInvocation): Promise<DbtOutcome> {
  const args = [
    ...inv.args,
    '--project-dir', inv.project.projectDir,
    '--profiles-dir', inv.project.projectDir,
    '--target-path', inv.project.targetPath,
    '--log-path', inv.project.logPath,
    '--log-format', 'json',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(inv.project.executable, args, {
      env: { ...process.env, DBT_SEND_ANONYMOUS_USAGE_STATS: 'false', DBT_USE_COLORS: 'false', ...inv.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const errors: string[] = [];
    let buffered = '';
    const onLine = (line: string) => {
      if (!line.trim()) return;
      let parsed: { info?: { level?: string; msg?: string; name?: string }; data?: { node_info?: { unique_id?: string } } };
      try {
        parsed = JSON.parse(line);
      } catch {
        inv.log.info(`dbt: ${line}`);
        return;
      }
      const level = parsed.info?.level ?? 'info';
      const msg = parsed.info?.msg ?? '';
      const uid = parsed.data?.node_info?.unique_id;
      const target = (uid && inv.loggerForNode?.(uid)) || inv.log;
      const meta = { dbtEvent: parsed.info?.name, ...(uid ? { dbtNode: uid } : {}) };
      if (level === 'error') {
        errors.push(msg);
        if (errors.length > 20) errors.shift();
        target.error(`dbt: ${msg}`, meta);
      } else if (level === 'warn') target.warn(`dbt: ${msg}`, meta);
      else if (level === 'debug') target.debug(`dbt: ${msg}`, meta);
      else target.info(`dbt: ${msg}`, meta);
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      lines.forEach(onLine);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim()) inv.log.warn(`dbt (stderr): ${line}`);
    });
    const onAbort = () => child.kill('SIGTERM');
    inv.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err: NodeJS.ErrnoException) => {
      inv.signal?.removeEventListener('abort', onAbort);
      reject(
        err.code === 'ENOENT'
          ? new DbtNotFoundError(`dbt is not installed at "${inv.project.executable}". Fix: run \`make setup\` (it creates .venv with dbt) or set SFPIPE_DBT to a dbt executable`)
          : err,
      );
    });
    child.on('close', (code) => {
      inv.signal?.removeEventListener('abort', onAbort);
      if (buffered) onLine(buffered);
      resolve({ exitCode: code ?? 1, errors });
    });
  });
}
