import { spawn } from 'node:child_process';
import { summarized, type Logger } from '../../runtime/logging.js';
import type { DbtProject } from './dbt-project.js';

export interface DbtInvocation {
  project: DbtProject;
  args: string[];
  env: Record<string, string>;
  log: Logger;
  signal?: AbortSignal;
  /**
   * Log lines of a node go to this logger (its asset key), others to `log`. A node with a logger
   * is an asset's model or check, whose outcome the runtime shows on a live terminal: its lines
   * are marked `summarized` there (every other log format keeps them all).
   */
  loggerForNode?: (uniqueId: string) => Logger | undefined;
  /** dbt's progress as it goes: each node as it starts ("node 12/30 …"), and dbt's own info lines. */
  onProgress?: (progress: DbtProgress) => void;
  /** After a cancel, how long dbt gets to stop its queries before it is killed (default 30 s). */
  killAfterMs?: number;
  /** Every Athena statement dbt-athena started, with its query execution id. */
  onAthenaQuery?: (query: DbtAthenaQuery) => void;
}

export interface DbtAthenaQuery {
  queryExecutionId: string;
  sql: string;
  /** The dbt node it ran for (absent for dbt's own catalog queries). */
  uniqueId?: string;
}

/** dbt-athena 1.11's debug lines around StartQueryExecution (connections.py, AthenaCursor). */
const ATHENA_EXECUTE = /^Execute: ([\s\S]*)$/;
const ATHENA_STARTED = /^Athena query (?:ID )?([0-9a-zA-Z-]+)(?: started)?$/;

/** A line of dbt's progress for a live terminal. */
export interface DbtProgress {
  /** The node it is about; absent for dbt's own lines (start-up, the end of the run). */
  uniqueId?: string;
  /** e.g. "node 12/30 sql incremental model sf_curated.dim_sf_user_scd" or "Found 3 models, …". */
  text: string;
}

interface DbtLogLine {
  info?: { level?: string; msg?: string; name?: string; thread?: string };
  data?: { node_info?: { unique_id?: string }; base_msg?: string; index?: number; total?: number; description?: string };
}

export interface DbtOutcome {
  exitCode: number;
  /** The last error lines dbt printed, for messages. */
  errors: string[];
  /** The last lines dbt wrote on stderr (e.g. a Python traceback when dbt crashes before logging). */
  stderr: string[];
}

export class DbtNotFoundError extends Error {
  override name = 'DbtNotFoundError';
}

/**
 * Runs dbt with JSON log lines and routes each through our logger, tagged with the node's
 * asset key where there is one. A canceled run interrupts dbt (SIGINT), as Ctrl-C would.
 */
export function runDbt(inv: DbtInvocation): Promise<DbtOutcome> {
  const args = [
    ...inv.args,
    '--project-dir', inv.project.projectDir,
    '--profiles-dir', inv.project.projectDir,
    '--target-path', inv.project.targetPath,
    '--log-path', inv.project.logPath,
    '--log-format', 'json',
    // Debug events carry each statement and dbt-athena's query execution ids (~10× the lines):
    // asked for only when they are logged or read.
    ...(inv.onAthenaQuery || inv.log.isDebugEnabled() ? ['--log-level', 'debug'] : []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(inv.project.executable, args, {
      env: { ...process.env, DBT_SEND_ANONYMOUS_USAGE_STATS: 'false', DBT_USE_COLORS: 'false', ...inv.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const errors: string[] = [];
    /** The statement each dbt thread is executing, until Athena names its execution id. */
    const executing = new Map<string, string>();
    let buffered = '';
    const onAthenaDebug = (parsed: DbtLogLine, uid: string | undefined): void => {
      const thread = parsed.info?.thread ?? '';
      const msg = parsed.data?.base_msg ?? '';
      const exec = ATHENA_EXECUTE.exec(msg);
      if (exec) executing.set(thread, exec[1]!);
      const started = ATHENA_STARTED.exec(msg);
      if (started && inv.onAthenaQuery) inv.onAthenaQuery({ queryExecutionId: started[1]!, sql: executing.get(thread) ?? '', ...(uid ? { uniqueId: uid } : {}) });
    };
    const onLine = (line: string) => {
      if (!line.trim()) return;
      let parsed: DbtLogLine;
      try {
        parsed = JSON.parse(line);
      } catch {
        inv.log.info(`dbt: ${line}`);
        return;
      }
      const level = parsed.info?.level ?? 'info';
      const msg = parsed.info?.msg ?? '';
      const uid = parsed.data?.node_info?.unique_id;
      const nodeLog = uid ? inv.loggerForNode?.(uid) : undefined;
      const target = nodeLog || inv.log;
      const meta = { dbtEvent: parsed.info?.name, ...(uid ? { dbtNode: uid } : {}), ...(nodeLog ? summarized : {}) };
      if (parsed.info?.name === 'AdapterEventDebug') onAthenaDebug(parsed, uid);
      if (!msg.trim()) return; // dbt's blank "Formatting" lines
      if (inv.onProgress) {
        const d = parsed.data ?? {};
        if (parsed.info?.name === 'LogStartLine' && uid) inv.onProgress({ uniqueId: uid, text: `node ${d.index ?? '?'}/${d.total ?? '?'} ${d.description ?? uid}` });
        else if (!uid && level === 'info') inv.onProgress({ text: msg.trim() });
      }
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
    const stderr: string[] = [];
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) {
        if (!line.trim()) continue;
        inv.log.warn(`dbt (stderr): ${line}`);
        stderr.push(line.trim());
        if (stderr.length > 5) stderr.shift();
      }
    });
    // SIGINT is dbt's Ctrl-C: it cancels its open connections (dbt-athena stops its running
    // queries with StopQueryExecution) before exiting; SIGKILL only if it does not exit.
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      child.kill('SIGINT');
      killTimer = setTimeout(() => child.kill('SIGKILL'), inv.killAfterMs ?? 30_000);
      killTimer.unref();
    };
    inv.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err: NodeJS.ErrnoException) => {
      inv.signal?.removeEventListener('abort', onAbort);
      reject(
        err.code === 'ENOENT'
          ? new DbtNotFoundError(
              inv.project.executableFrom === 'SFPIPE_DBT'
                ? `dbt is not installed at "${inv.project.executable}" (named by SFPIPE_DBT). Fix: point SFPIPE_DBT at a dbt executable (the image's is /opt/venv/bin/dbt), or unset it to use .venv/bin/dbt from \`make setup\``
                : `dbt is not installed at "${inv.project.executable}". Fix: run \`make setup\` (it creates .venv with dbt) or set SFPIPE_DBT to a dbt executable`,
            )
          : err,
      );
    });
    child.on('close', (code) => {
      clearTimeout(killTimer);
      inv.signal?.removeEventListener('abort', onAbort);
      if (buffered) onLine(buffered);
      resolve({ exitCode: code ?? 1, errors, stderr });
    });
  });
}
