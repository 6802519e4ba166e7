/**
 * How sfpipe runs, read from the first line of its entry point (`#!/usr/bin/env -S VAR=value …
 * node --flag …`): the environment and Node flags the image's entrypoint and `make run` get by
 * executing the script. Benchmarks start their workers with the same settings.
 */
import fs from 'node:fs';

export interface LaunchSettings {
  /** Variables the line sets, e.g. MALLOC_ARENA_MAX. */
  env: Record<string, string>;
  /** Node's flags, e.g. --max-semi-space-size=4. */
  nodeFlags: string[];
}

export function launchSettings(script: string): LaunchSettings {
  const first = fs.readFileSync(script, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S (.*)$/.exec(first);
  if (!m) throw new Error(`${script}: the first line is not "#!/usr/bin/env -S … node …" (it is "${first}")`);
  const words = m[1]!.trim().split(/\s+/);
  const env: Record<string, string> = {};
  let i = 0;
  for (; i < words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[i]!); i++) {
    const eq = words[i]!.indexOf('=');
    env[words[i]!.slice(0, eq)] = words[i]!.slice(eq + 1);
  }
  if (words[i] !== 'node') throw new Error(`${script}: the first line runs "${words[i] ?? ''}", not node`);
  const nodeFlags = words.slice(i + 1);
  for (const f of nodeFlags) if (!f.startsWith('--')) throw new Error(`${script}: "${f}" on the first line is not a Node flag`);
  return { env, nodeFlags };
}
