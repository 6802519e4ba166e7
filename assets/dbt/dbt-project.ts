import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Where the dbt project, its executable and its outputs are. */
export interface DbtProject {
  /** The dbt project (dbt_project.yml, profiles.yml). */
  projectDir: string;
  /** The dbt executable: $SFPIPE_DBT, else the repo's .venv/bin/dbt, else `dbt` on PATH. */
  executable: string;
  /** Where `executable` came from (for the fix when it cannot run). */
  executableFrom?: 'SFPIPE_DBT' | '.venv' | 'PATH';
  /** target/ (manifest.json, run_results.json) under the state directory: the project may be read-only. */
  targetPath: string;
  logPath: string;
}

function repoRoot(): string {
  // assets/dbt in the sources, dist/assets/dbt once compiled.
  for (const up of ['../..', '../../..']) {
    const dir = path.resolve(here, up);
    if (fs.existsSync(path.join(dir, 'dbt', 'dbt_project.yml'))) return dir;
  }
  return path.resolve(here, '../..');
}

export function locateDbtProject(stateDir: string, env: NodeJS.ProcessEnv = process.env): DbtProject {
  const root = repoRoot();
  const projectDir = env.SFPIPE_DBT_PROJECT_DIR || path.join(root, 'dbt');
  const venvDbt = path.join(root, '.venv', 'bin', 'dbt');
  const executableFrom = env.SFPIPE_DBT ? 'SFPIPE_DBT' : fs.existsSync(venvDbt) ? '.venv' : 'PATH';
  return {
    projectDir,
    executable: env.SFPIPE_DBT || (executableFrom === '.venv' ? venvDbt : 'dbt'),
    executableFrom,
    targetPath: path.join(stateDir, 'dbt', 'target'),
    logPath: path.join(stateDir, 'dbt', 'logs'),
  };
}

/** The project's source files (models, macros, tests, YAML), sorted. */
function sourceFiles(projectDir: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (['target', 'logs', 'dbt_packages', 'scripts'].includes(entry.name) || entry.name.startsWith('.')) continue;
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (/\.(sql|yml|yaml|csv|md)$/.test(entry.name)) files.push(p);
    }
  };
  walk(projectDir);
  return files.sort();
}

/** The newest modification time among the project's source files. */
export function newestSourceMtime(projectDir: string): number {
  return sourceFiles(projectDir).reduce((newest, f) => Math.max(newest, fs.statSync(f).mtimeMs), 0);
}

/** sha256 of the project's source files (paths and contents) and `extra` (e.g. dbt's version and the target). */
export function dbtProjectChecksum(projectDir: string, extra: string[]): string {
  const hash = createHash('sha256');
  for (const f of sourceFiles(projectDir)) hash.update(`${path.relative(projectDir, f)}\0${fs.readFileSync(f, 'utf8')}\0`);
  for (const e of extra) hash.update(`${e}\0`);
  return hash.digest('hex');
}
