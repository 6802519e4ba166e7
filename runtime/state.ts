import path from 'node:path';

/** The state directory: `$SFPIPE_HOME`, else `.sfpipe/` under the working directory. */
export function resolveStateDir(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const home = env.SFPIPE_HOME;
  return home && home.length > 0 ? path.resolve(cwd, home) : path.join(cwd, '.sfpipe');
}
