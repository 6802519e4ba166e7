import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import test from 'ava';

import { DUCKDB_ALLOCATOR_CONF, DUCKDB_ALLOCATOR_ENV } from '../../assets/warehouse/duckdb-allocator.js';
import { repoRoot } from '../services/k8s/apiserver.js';

const ROOT = repoRoot();
const ALLOCATOR = pathToFileURL(path.join(ROOT, 'dist', 'assets', 'warehouse', 'duckdb-allocator.js')).href;
const run = promisify(execFile);

/**
 * A fresh node process (DuckDB's allocator is configured once per process): imports the allocator
 * module, then DuckDB; builds and drops a table of about 50 MB; prints its anonymous RSS (kB)
 * before, with the table, after the drop, and the variable as DuckDB saw it.
 */
const CHILD = `
await import(${JSON.stringify(ALLOCATOR)});
const { DuckDBInstance } = await import('@duckdb/node-api');
const fs = await import('node:fs');
const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
const conn = await (await DuckDBInstance.create(':memory:', { threads: '1' })).connect();
const before = anon();
await conn.run("CREATE TABLE t AS SELECT i, repeat('x', 100) || i AS s FROM range(400000) r(i)");
const loaded = anon();
await conn.run('DROP TABLE t');
await conn.run('SELECT 1');
console.log(JSON.stringify({ before, loaded, dropped: anon(), conf: process.env.${DUCKDB_ALLOCATOR_ENV} ?? null }));
`;

async function child(env: NodeJS.ProcessEnv): Promise<{ before: number; loaded: number; dropped: number; conf: string | null }> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', CHILD], { cwd: ROOT, env });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

function envWithout(name: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env[name];
  return env;
}

test('memory DuckDB frees goes back to the OS at once (its allocator keeps none resident)', async (t) => {
  const r = await child(envWithout(DUCKDB_ALLOCATOR_ENV));
  t.is(r.conf, DUCKDB_ALLOCATOR_CONF);
  const grew = r.loaded - r.before;
  t.true(grew > 20 * 1024, `the table should take tens of MB (grew ${grew} kB)`);
  // Under the bundled default (a second's decay), none of it has been returned by now.
  t.true(r.loaded - r.dropped > 0.8 * grew, `after the DROP, ${r.loaded - r.dropped} of ${grew} kB went back to the OS`);
});

test('a value set outside the process is kept (the module sets the variable only when it is unset)', async (t) => {
  const r = await child({ ...process.env, [DUCKDB_ALLOCATOR_ENV]: 'dirty_decay_ms:5000' });
  t.is(r.conf, 'dirty_decay_ms:5000');
});

test('sfpipe and the extraction bench configure the allocator before their other imports load DuckDB', (t) => {
  for (const source of ['bin/sfpipe.ts', 'bench/extract-worker.ts', 'bench/raw-commit.ts', 'bench/dbt-scd.ts']) {
    const firstImport = /^import .*$/m.exec(fs.readFileSync(path.join(ROOT, source), 'utf8'))?.[0];
    t.is(firstImport, `import '../assets/warehouse/duckdb-allocator.js';`, source);
  }
});
