import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileRunLock } from '../../runtime/storage/file-run-lock.js';
import { LockHeldError, type LockHolder } from '../../runtime/storage/run-lock.js';

const LOCK_MODULE = new URL('../../runtime/storage/file-run-lock.js', import.meta.url).href;

function tempLockPath(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sfpipe-runlock-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'state', 'run.lock');
}

/** Runs an ES module snippet in a child node process; FileRunLock is in scope. */
function runSnippet(code: string, env: Record<string, string>, stderr: 'inherit' | 'ignore' = 'inherit'): ChildProcess {
  const source = `import { FileRunLock } from ${JSON.stringify(LOCK_MODULE)};\n${code}`;
  return spawn(process.execPath, ['--input-type=module', '-e', source], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', stderr],
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function waitForLine(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      if (buf.split('\n').includes(line)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before printing ${line}`)));
  });
}

test('acquire and release', async (t) => {
  const file = tempLockPath(t);
  const lock = new FileRunLock(file);
  t.is(await lock.holder(), null);
  const lease = await lock.acquire('run-1', { timeoutMs: 0 });
  t.is(lease.holder.runId, 'run-1');
  t.is(lease.tookOverFrom, undefined, 'the lock was free: taken over from nobody');
  t.is(lease.holder.pid, process.pid);
  t.is(lease.holder.host, os.hostname());
  t.false(Number.isNaN(Date.parse(lease.holder.since)));
  t.deepEqual(await lock.holder(), lease.holder);
  t.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')) as LockHolder, lease.holder);
  await lease.release();
  t.false(fs.existsSync(file));
  t.is(await lock.holder(), null);
  await lease.release(); // idempotent
  const again = await lock.acquire('run-2', { timeoutMs: 0 });
  t.is((await lock.holder())?.runId, 'run-2');
  await again.release();
});

test('a second acquire with timeoutMs 0 throws LockHeldError naming the holder', async (t) => {
  const file = tempLockPath(t);
  const lease = await new FileRunLock(file).acquire('run-1', { timeoutMs: 0 });
  t.teardown(() => lease.release());
  const err = await t.throwsAsync(new FileRunLock(file).acquire('run-2', { timeoutMs: 0 }), { instanceOf: LockHeldError });
  t.is(
    err!.message,
    `run run-1 holds the lock since ${lease.holder.since} (pid ${process.pid} on ${os.hostname()}); if that run is gone (its host renamed, its pid reused), delete ${path.resolve(file)}`,
  );
  t.deepEqual(err!.holder, lease.holder);
  t.is(err!.name, 'LockHeldError');
});

test('a waiting acquire gets the lock once the holder releases it', async (t) => {
  const file = tempLockPath(t);
  const lock = new FileRunLock(file, { pollMs: 20 });
  const first = await lock.acquire('run-1', { timeoutMs: 0 });
  const second = lock.acquire('run-2', { timeoutMs: 5000 });
  await sleep(100);
  t.is((await lock.holder())?.runId, 'run-1');
  await first.release();
  const lease = await second;
  t.is(lease.holder.runId, 'run-2');
  t.is((await lock.holder())?.runId, 'run-2');
  await lease.release();
});

test('a waiting acquire times out with LockHeldError', async (t) => {
  const file = tempLockPath(t);
  const lock = new FileRunLock(file, { pollMs: 20 });
  const first = await lock.acquire('run-1', { timeoutMs: 0 });
  t.teardown(() => first.release());
  const started = Date.now();
  await t.throwsAsync(lock.acquire('run-2', { timeoutMs: 150 }), {
    instanceOf: LockHeldError,
    message: new RegExp(`^run run-1 holds the lock since ${first.holder.since.replace(/[.]/g, '\\.')} \\(pid \\d+ on `),
  });
  // It waited for its timeout before giving up (no upper bound: a loaded machine may be slow to wake it).
  const waited = Date.now() - started;
  t.true(waited >= 140, `waited ${waited} ms`);
});

test('a waiting acquire stops when its signal aborts', async (t) => {
  const file = tempLockPath(t);
  const lock = new FileRunLock(file, { pollMs: 1000 });
  const first = await lock.acquire('run-1', { timeoutMs: 0 });
  t.teardown(() => first.release());
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  // Ignoring the signal would end in a LockHeldError after the 10 s timeout instead.
  await t.throwsAsync(lock.acquire('run-2', { timeoutMs: 10_000, signal: ac.signal }), { name: 'AbortError' });
});

test('release leaves a lock file that is no longer ours alone', async (t) => {
  const file = tempLockPath(t);
  const lease = await new FileRunLock(file).acquire('run-1', { timeoutMs: 0 });
  const other: LockHolder = { runId: 'run-9', since: new Date().toISOString(), pid: process.pid, host: os.hostname() };
  fs.writeFileSync(file, JSON.stringify(other));
  await lease.release();
  t.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), other);
});

test('the lock of a SIGKILLed process is taken over', async (t) => {
  const file = tempLockPath(t);
  const child = runSnippet(
    `await new FileRunLock(process.env.LOCK_PATH).acquire('run-child', { timeoutMs: 0 });
     console.log('acquired');
     setInterval(() => {}, 1000);`,
    { LOCK_PATH: file },
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await waitForLine(child, 'acquired');
  const lock = new FileRunLock(file);
  const held = await lock.holder();
  t.is(held?.runId, 'run-child');
  t.is(held?.pid, child.pid);
  await t.throwsAsync(lock.acquire('run-parent', { timeoutMs: 0 }), {
    instanceOf: LockHeldError,
    message: new RegExp(`^run run-child holds the lock since ${held!.since.replace(/[.]/g, '\\.')} \\(pid \\d+ on `),
  });

  child.kill('SIGKILL');
  t.is((await exited(child)).signal, 'SIGKILL');
  t.true(fs.existsSync(file), 'kill -9 leaves the file');
  t.is(await lock.holder(), null, 'a dead holder is no holder');

  const lease = await lock.acquire('run-parent', { timeoutMs: 0 });
  t.is((await lock.holder())?.runId, 'run-parent');
  t.deepEqual(lease.tookOverFrom, held, 'the lease names the dead holder it took the lock over from');
  t.deepEqual(
    fs.readdirSync(path.dirname(file)),
    ['run.lock'],
    'no stale or takeover files left behind',
  );
  await lease.release();
});

test('a waiting acquire that finds the lock of a process gone meanwhile reports it in tookOverFrom', async (t) => {
  const file = tempLockPath(t);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const lock = new FileRunLock(file, { pollMs: 20 });
  const live = await lock.acquire('run-live', { timeoutMs: 0 });
  const waiting = lock.acquire('run-next', { timeoutMs: 10_000 });
  // The live holder's lock becomes a dead process's (as if it were kill -9ed).
  const gone = spawnSync(process.execPath, ['-e', '']).pid;
  const dead: LockHolder = { runId: 'run-dead', since: '2024-01-01T00:00:00.000Z', pid: gone, host: os.hostname() };
  fs.writeFileSync(file, JSON.stringify(dead));
  const lease = await waiting;
  t.deepEqual(lease.tookOverFrom, dead);
  t.is((await lock.holder())?.runId, 'run-next');
  await lease.release();
  await live.release();
});

test('a process that exits or crashes without releasing removes its lock file', async (t) => {
  const file = tempLockPath(t);
  const crash = runSnippet(
    `await new FileRunLock(process.env.LOCK_PATH).acquire('run-crash', { timeoutMs: 0 });
     setTimeout(() => { throw new Error('boom'); }, 10);`,
    { LOCK_PATH: file },
    'ignore',
  );
  crash.stdout!.resume();
  t.is((await exited(crash)).code, 1);
  t.false(fs.existsSync(file));

  const exit = runSnippet(
    `await new FileRunLock(process.env.LOCK_PATH).acquire('run-exit', { timeoutMs: 0 });
     process.exit(3);`,
    { LOCK_PATH: file },
  );
  exit.stdout!.resume();
  t.is((await exited(exit)).code, 3);
  t.false(fs.existsSync(file));
});

test('garbage lock files: a fresh one counts as held, an old one is taken over', async (t) => {
  const file = tempLockPath(t);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '{"runId": "half-writ');
  const lock = new FileRunLock(file);
  const err = await t.throwsAsync(lock.acquire('run-1', { timeoutMs: 0 }), { instanceOf: LockHeldError });
  t.is(err!.holder.runId, 'unknown');

  const old = new Date(Date.now() - 60_000);
  fs.utimesSync(file, old, old);
  const lease = await lock.acquire('run-1', { timeoutMs: 0 });
  t.is((await lock.holder())?.runId, 'run-1');
  t.is(lease.tookOverFrom, undefined, 'an unreadable lock names no holder');
  await lease.release();
});

test("another host's lock is never taken over", async (t) => {
  const file = tempLockPath(t);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const remote: LockHolder = { runId: 'run-remote', since: '2024-01-01T00:00:00.000Z', pid: 2 ** 22 + 7, host: `not-${os.hostname()}` };
  fs.writeFileSync(file, JSON.stringify(remote));
  // Even when its pid is dead here: that pid means nothing on this host.
  t.throws(() => process.kill(remote.pid!, 0), { code: 'ESRCH' });
  await t.throwsAsync(new FileRunLock(file).acquire('run-1', { timeoutMs: 0 }), {
    instanceOf: LockHeldError,
    message: `run run-remote holds the lock since 2024-01-01T00:00:00.000Z (pid ${2 ** 22 + 7} on not-${os.hostname()}); if that run is gone (its host renamed, its pid reused), delete ${path.resolve(file)}`,
  });
});

test('two processes racing for the lock never hold it at the same time', async (t) => {
  const file = tempLockPath(t);
  const journal = path.join(path.dirname(path.dirname(file)), 'journal.txt');
  const rounds = 6;
  const startAt = String(Date.now() + 400);
  const code = `
    import fs from 'node:fs';
    const { LOCK_PATH, JOURNAL, ID, ROUNDS, START_AT } = process.env;
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    await sleep(Math.max(0, Number(START_AT) - Date.now()));
    const lock = new FileRunLock(LOCK_PATH, { pollMs: 5 });
    for (let i = 0; i < Number(ROUNDS); i++) {
      const lease = await lock.acquire('run-' + ID + '-' + i, { timeoutMs: 15000 });
      fs.appendFileSync(JOURNAL, 'start ' + ID + '\\n');
      await sleep(25);
      fs.appendFileSync(JOURNAL, 'end ' + ID + '\\n');
      await lease.release();
      await sleep(Math.random() * 5);
    }`;
  const children = ['A', 'B'].map((id) =>
    runSnippet(code, { LOCK_PATH: file, JOURNAL: journal, ID: id, ROUNDS: String(rounds), START_AT: startAt }),
  );
  for (const c of children) c.stdout!.resume();
  const results = await Promise.all(children.map(exited));
  t.deepEqual(results.map((r) => r.code), [0, 0]);

  const lines = fs.readFileSync(journal, 'utf8').trim().split('\n');
  t.is(lines.length, 2 * 2 * rounds);
  for (let i = 0; i < lines.length; i += 2) {
    const start = /^start (\w)$/.exec(lines[i]!);
    t.truthy(start, `line ${i}: ${lines[i]}`);
    t.is(lines[i + 1], `end ${start![1]}`, `interleaved at line ${i + 1}`);
  }
  t.is(lines.filter((l) => l === 'start A').length, rounds);
  t.is(lines.filter((l) => l === 'start B').length, rounds);
  t.false(fs.existsSync(file));
});
