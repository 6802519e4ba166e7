import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeDirectory } from '../state.js';
import { AbortError, abortableSleep } from '../retry.js';
import { LockHeldError, type LockHolder, type LockLease, type RunLock } from './run-lock.js';

/** A lock file that can't be parsed is taken over once it is this old (its writer died mid-write). */
const GARBAGE_STALE_MS = 5_000;
/** The takeover guard is held for microseconds; one this old was left by a process that died. */
const GUARD_STALE_MS = 10_000;

type Inspection =
  | { kind: 'free' }
  | { kind: 'held'; holder: LockHolder }
  | { kind: 'stale'; holder: LockHolder | null; raw: string; ino: number | bigint };

/** Leases held by this process, released synchronously when it exits. */
const liveLeases = new Map<string, { path: string; content: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lease of liveLeases.values()) unlinkIfContent(lease.path, lease.content);
    liveLeases.clear();
  });
}

function unlinkIfContent(file: string, content: string): void {
  try {
    if (fs.readFileSync(file, 'utf8') === content) fs.unlinkSync(file);
  } catch {
    // Gone already, or unreadable: not ours to remove.
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function parseHolder(raw: string): LockHolder | null {
  try {
    const v = JSON.parse(raw) as Partial<LockHolder> | null;
    if (!v || typeof v !== 'object' || typeof v.runId !== 'string' || typeof v.since !== 'string') return null;
    const holder: LockHolder = { runId: v.runId, since: v.since };
    if (typeof v.pid === 'number') holder.pid = v.pid;
    if (typeof v.host === 'string') holder.host = v.host;
    return holder;
  } catch {
    return null;
  }
}

function unknownHolder(file: string): LockHolder {
  let since = new Date().toISOString();
  try {
    since = fs.statSync(file).mtime.toISOString();
  } catch {
    // keep now
  }
  return { runId: 'unknown', since };
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/**
 * The embedded run lock: a JSON file `{ runId, since, pid, host }` created exclusively.
 *
 * A lock left by a process on this host that no longer runs (kill -9, power loss), or a
 * lock file that is unreadable and older than a few seconds, is taken over. Takeovers are
 * serialised by a short-lived guard file (`<path>.takeover`) so that two contenders can
 * never both remove a lock and both win. Locks of other hosts are never taken over (their
 * process may well be alive). A lease got by taking over a dead process's lock names that
 * process's holder in `tookOverFrom` (not for an unreadable file: its holder is unknown).
 */
export class FileRunLock implements RunLock {
  readonly path: string;
  private readonly pollMs: number;
  private readonly guardPath: string;

  constructor(file: string, opts: { pollMs?: number } = {}) {
    this.path = path.resolve(file);
    this.guardPath = `${this.path}.takeover`;
    this.pollMs = Math.max(1, opts.pollMs ?? 250);
  }

  async acquire(runId: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<LockLease> {
    const { signal } = opts;
    const deadline = Date.now() + Math.max(0, opts.timeoutMs);
    makeDirectory(path.dirname(this.path));
    // The dead holder whose lock this call removed. Kept if a faster contender then creates the
    // lock first and we get it later: that holder is still gone, its run maybe still recorded as running.
    let tookOverFrom: LockHolder | undefined;
    for (;;) {
      if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
      const lease = this.tryCreate(runId, tookOverFrom);
      if (lease) return lease;

      const state = this.inspect();
      if (state.kind === 'free') continue; // released meanwhile: try again right away
      if (state.kind === 'stale') {
        const took = this.takeOver();
        if (took) {
          tookOverFrom = took.removed ?? tookOverFrom;
          continue;
        }
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new LockHeldError(state.holder ?? unknownHolder(this.path), `if that run is gone (its host renamed, its pid reused), delete ${this.path}`);
      }
      await abortableSleep(Math.min(this.pollMs, remaining), signal);
    }
  }

  async holder(): Promise<LockHolder | null> {
    const state = this.inspect();
    return state.kind === 'held' ? state.holder : null;
  }

  /** Creates the lock file exclusively; null when it exists. */
  private tryCreate(runId: string, tookOverFrom: LockHolder | undefined): LockLease | null {
    const holder: LockHolder = { runId, since: new Date().toISOString(), pid: process.pid, host: os.hostname() };
    const content = JSON.stringify(holder) + '\n';
    let fd: number;
    try {
      fd = fs.openSync(this.path, 'wx');
    } catch (err) {
      if (errCode(err) === 'EEXIST') return null;
      throw err;
    }
    try {
      fs.writeSync(fd, content);
      fs.fsyncSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(this.path, { force: true });
      throw err;
    }
    fs.closeSync(fd);

    const key = `${this.path}\0${runId}\0${holder.since}\0${Math.random()}`;
    liveLeases.set(key, { path: this.path, content });
    installExitHook();
    const file = this.path;
    let released = false;
    return {
      holder,
      ...(tookOverFrom ? { tookOverFrom } : {}),
      async release() {
        if (released) return;
        released = true;
        liveLeases.delete(key);
        unlinkIfContent(file, content);
      },
    };
  }

  private inspect(): Inspection {
    let raw: string;
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.path);
      raw = fs.readFileSync(this.path, 'utf8');
    } catch (err) {
      if (errCode(err) === 'ENOENT') return { kind: 'free' };
      throw err;
    }
    const holder = parseHolder(raw);
    if (!holder) {
      if (Date.now() - stat.mtimeMs > GARBAGE_STALE_MS) return { kind: 'stale', holder: null, raw, ino: stat.ino };
      // Being written right now, most likely.
      return { kind: 'held', holder: { runId: 'unknown', since: stat.mtime.toISOString() } };
    }
    if (holder.host === os.hostname() && holder.pid !== undefined && !isAlive(holder.pid)) {
      return { kind: 'stale', holder, raw, ino: stat.ino };
    }
    return { kind: 'held', holder };
  }

  /**
   * Removes a stale lock file. Under the takeover guard the file is judged again and only
   * removed if it is still stale, so a fresh lock created by a faster contender is never removed.
   * False when another process holds the guard (the caller waits a poll interval); otherwise
   * `removed` is the dead holder whose lock file this call removed (null when it removed none,
   * or the file was unreadable).
   */
  private takeOver(): false | { removed: LockHolder | null } {
    if (!this.takeGuard()) return false;
    const none = { removed: null };
    try {
      const state = this.inspect();
      if (state.kind !== 'stale') return none;
      // Move it aside atomically, then make sure what we moved is what we judged.
      const aside = `${this.path}.stale-${process.pid}-${Date.now()}`;
      try {
        fs.renameSync(this.path, aside);
      } catch (err) {
        if (errCode(err) === 'ENOENT') return none;
        throw err;
      }
      let movedRaw: string | null = null;
      let movedIno = -1;
      try {
        movedIno = fs.statSync(aside).ino;
        movedRaw = fs.readFileSync(aside, 'utf8');
      } catch {
        // fall through: treat as not what we judged
      }
      if (movedRaw === state.raw && movedIno === state.ino) {
        fs.rmSync(aside, { force: true });
        return { removed: state.holder };
      }
      // Cannot happen while the guard is respected; put it back rather than lose a live lock.
      try {
        fs.linkSync(aside, this.path);
      } catch {
        // The path was re-created meanwhile; keep the moved file for inspection.
        return none;
      }
      fs.rmSync(aside, { force: true });
      return none;
    } finally {
      fs.rmSync(this.guardPath, { force: true });
    }
  }

  private takeGuard(): boolean {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.closeSync(fs.openSync(this.guardPath, 'wx'));
        return true;
      } catch (err) {
        if (errCode(err) !== 'EEXIST') throw err;
      }
      // A guard left by a process that died within its few microseconds of holding it.
      try {
        const age = Date.now() - fs.statSync(this.guardPath).mtimeMs;
        if (age <= GUARD_STALE_MS) return false;
        fs.rmSync(this.guardPath, { force: true });
      } catch (err) {
        if (errCode(err) !== 'ENOENT') throw err;
      }
    }
    return false;
  }
}
