/**
 * The dbt toolchain's two requirement sets (README, "Set-up"): the local one that `make run` installs
 * (dbt/requirements-local.txt: dbt-duckdb only) and the full one that `make test`, `make setup` and the
 * image install (dbt/requirements.txt: every adapter). Both come from one pinned resolution,
 * dbt/constraints.txt, so the local set is a subset of the full set at the same versions and `make
 * test` after `make run` only adds packages to the same .venv.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// test/dbt in the sources, dist/test/dbt once compiled.
const ROOT = ['../..', '../../..'].map((up) => path.resolve(here, up)).find((dir) => fs.existsSync(path.join(dir, 'dbt', 'dbt_project.yml')))!;
const DBT = path.join(ROOT, 'dbt');

/** PEP 503's normalized name: `PyYAML`, `pyyaml` and `py_yaml` are one package. */
const normalize = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');

/** A pin as read: the version, null when not pinned with ==, undefined when the package is not named. */
type Pin = string | null | undefined;

interface RequirementsFile {
  /** Normalized name → the exact version it is pinned to (`==`), or null when it is not pinned so. */
  pins: Map<string, string | null>;
  /** The files named by `-c` lines. */
  constraints: string[];
  /** Lines that are neither a requirement nor `-c` (another option). */
  other: string[];
}

function readRequirements(file: string): RequirementsFile {
  const parsed: RequirementsFile = { pins: new Map(), constraints: [], other: [] };
  for (const raw of fs.readFileSync(path.join(DBT, file), 'utf8').split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    const constraint = /^(?:-c|--constraint)\s*=?\s*(\S+)$/.exec(line);
    if (constraint) {
      parsed.constraints.push(constraint[1]!);
      continue;
    }
    if (line.startsWith('-')) {
      parsed.other.push(line);
      continue;
    }
    const pin = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!-]+)$/.exec(line);
    const name = normalize(pin ? pin[1]! : (/^[A-Za-z0-9][A-Za-z0-9._-]*/.exec(line)?.[0] ?? line));
    if (parsed.pins.has(name)) throw new Error(`${file}: ${name} is named twice`);
    parsed.pins.set(name, pin ? pin[2]! : null);
  }
  return parsed;
}

const local = readRequirements('requirements-local.txt');
const full = readRequirements('requirements.txt');
const lock = readRequirements('constraints.txt');

test('every package of both sets is pinned exactly, and both install with constraints.txt', (t) => {
  for (const [file, set] of [['requirements-local.txt', local], ['requirements.txt', full], ['constraints.txt', lock]] as const) {
    const unpinned = [...set.pins].filter(([, version]) => version === null).map(([name]) => name);
    t.deepEqual(unpinned, [], `${file}: not pinned with ==`);
    t.deepEqual(set.other, [], `${file}: options other than -c`);
  }
  t.deepEqual(local.constraints, ['constraints.txt']);
  t.deepEqual(full.constraints, ['constraints.txt']);
  t.deepEqual(lock.constraints, []);
});

test('the local set is a subset of the full set, with identical pins', (t) => {
  for (const [name, version] of local.pins) {
    t.true(full.pins.has(name), `${name} is in requirements-local.txt but not in requirements.txt`);
    t.is<Pin, Pin>(version, full.pins.get(name), `${name}: requirements-local.txt and requirements.txt pin other versions`);
  }
});

test('both sets pin what constraints.txt, their one resolution, pins', (t) => {
  for (const [file, set] of [['requirements-local.txt', local], ['requirements.txt', full]] as const) {
    for (const [name, version] of set.pins) {
      t.true(lock.pins.has(name), `${file}: ${name} is not in constraints.txt (run dbt/scripts/lock-requirements.sh)`);
      t.is<Pin, Pin>(version, lock.pins.get(name), `${file}: ${name}==${version}, constraints.txt has ${lock.pins.get(name)} (run dbt/scripts/lock-requirements.sh)`);
    }
  }
  // pip and setuptools belong to the virtualenv, not to the resolution.
  t.false(lock.pins.has('pip'));
  t.false(lock.pins.has('setuptools'));
});

test('the local set is dbt Core with dbt-duckdb alone; the full set adds dbt-athena and dbt-trino', (t) => {
  for (const name of ['dbt-core', 'dbt-duckdb', 'duckdb']) t.true(local.pins.has(name), `requirements-local.txt lacks ${name}`);
  for (const name of ['dbt-athena', 'dbt-trino', 'trino', 'boto3']) t.false(local.pins.has(name), `requirements-local.txt has ${name}`);
  for (const name of ['dbt-core', 'dbt-duckdb', 'dbt-athena', 'dbt-trino', 'duckdb']) t.true(full.pins.has(name), `requirements.txt lacks ${name}`);
});

test("duckdb is pinned to @duckdb/node-api's DuckDB version (files of a newer DuckDB do not open in an older one)", (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const nodeApi = pkg.dependencies['@duckdb/node-api']!;
  t.is<Pin, Pin>(nodeApi.replace(/-r\.\d+$/, ''), lock.pins.get('duckdb'), `@duckdb/node-api ${nodeApi}`);
});

/** The commands that `make -n -B <goal>` would run (everything out of date; nothing is run). */
function makeDryRun(goal: string): string {
  return execFileSync('make', ['-n', '-B', '--no-print-directory', goal], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, MAKEFLAGS: '' } });
}

test('make run installs the local set only; make test installs the full set', (t) => {
  const run = makeDryRun('run');
  t.regex(run, /pip install .*-r dbt\/requirements-local\.txt/);
  t.notRegex(run, /-r dbt\/requirements\.txt/);
  const tests = makeDryRun('test');
  t.regex(tests, /pip install .*-r dbt\/requirements\.txt/);
});
