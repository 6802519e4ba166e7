/**
 * moto (an AWS API emulator, from PyPI) in server mode on loopback, for the AWS test tier.
 *
 * `startMoto()` makes the virtualenv `.tools/moto-venv` from `test/services/moto/requirements.txt`
 * when it is missing, the requirements changed or it was made at another path (a stamp holds their
 * hash and its path; a lock directory keeps parallel test workers from installing twice), starts `moto_server -H 127.0.0.1 -p <free port>`,
 * waits until it answers and kills it on `stop()` or process exit.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, repoRoot, sleep, withLock } from '../process-utils.js';

export const MOTO_REGION = 'us-east-1';
/** Fake static credentials: the SDK signs with SigV4 over HTTP; moto accepts any key by default. */
export const MOTO_CREDENTIALS = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

export interface MotoServer {
  endpoint: string;
  pid: number;
  stop(): Promise<void>;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${(r.stderr || r.stdout || '').slice(-4000)}`);
  }
}

/** Creates or refreshes the venv; returns the moto_server path. Idempotent. */
export async function ensureMotoVenv(): Promise<string> {
  const root = repoRoot();
  const venv = path.join(root, '.tools', 'moto-venv');
  const requirements = path.join(root, 'test', 'services', 'moto', 'requirements.txt');
  // A venv's scripts name its interpreter by absolute path, and its python links to the Python it
  // was made from: one made at another path (a copied or symlinked .tools), or from a Python that
  // is gone (a cached .tools after a Python upgrade), cannot start. It is made again.
  const want = `${createHash('sha256').update(fs.readFileSync(requirements)).digest('hex')} ${venv}`;
  const stamp = path.join(venv, '.stamp-requirements');
  const server = path.join(venv, 'bin', 'moto_server');
  const python = path.join(venv, 'bin', 'python');
  const stamped = (): string => (fs.existsSync(stamp) ? fs.readFileSync(stamp, 'utf8').trim() : '');
  // existsSync follows the link: false when the interpreter it points at is gone.
  const usable = (): boolean => fs.existsSync(python) && stamped().endsWith(` ${venv}`);
  const ready = (): boolean => fs.existsSync(server) && usable() && stamped() === want;
  if (ready()) return server;
  fs.mkdirSync(path.join(root, '.tools'), { recursive: true });
  await withLock(path.join(root, '.tools', '.moto-venv.lock'), () => {
    if (ready()) return;
    if (!usable()) fs.rmSync(venv, { recursive: true, force: true });
    if (!fs.existsSync(python)) run(process.env['PYTHON'] ?? 'python3', ['-m', 'venv', venv]);
    run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', requirements]);
    fs.writeFileSync(stamp, `${want}\n`);
  });
  return server;
}

async function waitReady(endpoint: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`moto_server exited (${child.exitCode ?? child.signalCode}) before answering:\n${output()}`);
    }
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`moto_server did not answer on ${endpoint} within 30 s:\n${output()}`);
}

/** `detached`: in its own process group, to outlive this process (a server shared by test processes). */
export async function startMoto(opts: { detached?: boolean; logFile?: string } = {}): Promise<MotoServer> {
  const server = await ensureMotoVenv();
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    let out = '';
    // Detached (shared by test processes), its output goes to a file, as no one reads a pipe later.
    const logFd = opts.detached ? fs.openSync(opts.logFile ?? '/dev/null', 'a') : undefined;
    const child = spawn(server, ['-H', '127.0.0.1', '-p', String(port)], {
      stdio: logFd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', logFd, logFd],
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
      detached: opts.detached ?? false,
    });
    if (logFd !== undefined) fs.closeSync(logFd);
    const keep = (b: Buffer): void => {
      out = (out + b.toString()).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const onExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', onExit);
    try {
      await waitReady(endpoint, child, () => out);
    } catch (err) {
      lastError = err;
      process.removeListener('exit', onExit);
      child.kill('SIGKILL');
      continue;
    }
    let stopped: Promise<void> | undefined;
    if (opts.detached) {
      process.removeListener('exit', onExit);
      child.unref();
    }
    return {
      endpoint,
      pid: child.pid!,
      stop() {
        stopped ??= new Promise<void>((resolve) => {
          process.removeListener('exit', onExit);
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        });
        return stopped;
      },
    };
  }
  throw lastError;
}

async function motoApi(endpoint: string, route: string, body?: unknown): Promise<void> {
  const res = await fetch(`${endpoint}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`moto ${route}: HTTP ${res.status} ${await res.text()}`);
}

/** Forgets every resource (between tests). */
export function resetMoto(endpoint: string): Promise<void> {
  return motoApi(endpoint, '/moto-api/reset');
}

export interface AthenaCannedResult {
  /** Rows as Athena returns them (include the header row for SELECTs); null = SQL NULL. */
  rows: (string | null)[][];
  columns?: string[];
  /** Athena's type name per column (e.g. bigint, boolean); varchar when absent. */
  types?: string[];
}

/**
 * Queues results for the next Athena queries: moto assigns the head of the queue to the next
 * StartQueryExecution (moto never executes SQL).
 */
export function queueAthenaResults(endpoint: string, results: AthenaCannedResult[]): Promise<void> {
  return motoApi(endpoint, '/moto-api/static/athena/query-results', {
    region: MOTO_REGION,
    results: results.map((r) => ({
      rows: r.rows.map((row) => ({ Data: row.map((v) => (v === null ? {} : { VarCharValue: v })) })),
      column_info: (r.columns ?? []).map((name, i) => ({
        CatalogName: 'hive',
        SchemaName: '',
        TableName: '',
        Name: name,
        Label: name,
        Type: r.types?.[i] ?? 'varchar',
        Precision: 0,
        Scale: 0,
        Nullable: 'UNKNOWN',
        CaseSensitive: true,
      })),
    })),
  });
}

/**
 * How moto advances a model's state: `immediate` (default: an Athena query SUCCEEDS on its first
 * GetQueryExecution) or `manual` with `times` describes per step (QUEUED → RUNNING → SUCCEEDED).
 */
export function setMotoTransition(
  endpoint: string,
  modelName: string,
  transition: { progression: 'immediate' } | { progression: 'manual'; times: number },
): Promise<void> {
  return motoApi(endpoint, '/moto-api/state-manager/set-transition', { model_name: modelName, transition });
}
