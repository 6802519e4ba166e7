/**
 * CLI start-up cost: wall time of `sfpipe lineage` against `node -e 0` on the same machine,
 * so heavy modules (AWS SDK, jsforce, DuckDB, the Kubernetes client) stay out of start-up.
 * Usage: node dist/bench/cli-startup.js [runs]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sfpipe = path.resolve(here, '../bin/sfpipe.js');
const runs = Number(process.argv[2] ?? 15);
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sfpipe-bench-'));

function time(args: string[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const start = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { env: { ...process.env, SFPIPE_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    if (i >= 2) out.push(ms); // two warm-up runs
  }
  return out.sort((a, b) => a - b);
}

const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
const baseline = time(['-e', '0']);
const lineage = time([sfpipe, 'lineage', '--format', 'json']);
const help = time([sfpipe, '--help']);
const row = (name: string, xs: number[]) =>
  `${name.padEnd(28)} median ${median(xs).toFixed(1).padStart(7)} ms   min ${xs[0]!.toFixed(1).padStart(7)} ms   ratio vs node -e 0: ${(median(xs) / median(baseline)).toFixed(2)}x`;
console.log(`CLI start-up, ${runs} runs each (after 2 warm-ups), node ${process.version}`);
console.log(row('node -e 0', baseline));
console.log(row('sfpipe --help', help));
console.log(row('sfpipe lineage --format json', lineage));
fs.rmSync(home, { recursive: true, force: true });
