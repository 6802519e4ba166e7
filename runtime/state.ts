import fs from 'node:fs';
import path from 'node:path';

/** The state directory: `$SFPIPE_HOME`, else `.sfpipe/` under the working directory. */
export function resolveStateDir(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const home = env.SFPIPE_HOME;
  return home && home.length > 0 ? path.resolve(cwd, home) : path.join(cwd, '.sfpipe');
}

/**
 * `mkdir -p`, one level at a time: Node 20's fs.mkdirSync(dir, { recursive: true }) loops forever
 * where mkdir answers ENOENT under a parent that exists (/proc/x). Throws the first level's error.
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  for (;;) {
    try {
      fs.statSync(at);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    missing.unshift(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const level of missing) {
    try {
      fs.mkdirSync(level);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
}

/** Why a state directory cannot be used, in words. */
const WHY: Record<string, string> = {
  ENOTDIR: 'it, or a directory above it, is a file',
  EEXIST: 'it, or a directory above it, is a file',
  EACCES: 'permission denied',
  EPERM: 'the file system does not allow it',
  EROFS: 'the file system is read-only',
  ENOENT: 'the file system does not allow it',
};

/**
 * Creates the state directory if needed and checks that it can be written, or says which
 * setting names it and how to fix it (instead of a bare EEXIST or ENOTDIR from the first writer).
 */
export function ensureStateDir(dir: string, env: NodeJS.ProcessEnv = process.env): void {
  try {
    makeDirectory(dir);
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const why = WHY[code] ?? (err as Error).message;
    const fromEnv = Boolean(env.SFPIPE_HOME);
    throw new Error(
      `cannot use the state directory ${dir}${fromEnv ? ' (SFPIPE_HOME)' : ''}: ${why}${code ? ` (${code})` : ''}. ` +
        (fromEnv
          ? 'Fix: set SFPIPE_HOME to a directory you can write (it is created if missing), or unset it to use .sfpipe/ here'
          : 'Fix: run sfpipe from a directory you can write, or set SFPIPE_HOME to one'),
    );
  }
}
