/** Who holds the run lock. */
export interface LockHolder {
  runId: string;
  /** ISO timestamp of when the holder got the lock. */
  since: string;
  pid?: number;
  host?: string;
}

export interface LockLease {
  readonly holder: LockHolder;
  /**
   * Set when the lock was taken over from a holder that is gone (the file lock: a process on this
   * host that no longer runs; a Lease: one that expired unrenewed). That holder's run never
   * finished, so its record may still say STARTED: the new holder decides what to do about it.
   * Absent when the lock was free, or when the previous holder is unknown (an unreadable lock file).
   */
  readonly tookOverFrom?: LockHolder;
  /**
   * Aborted when the lock is lost while held (another run took it over, or it could not be kept
   * for its whole duration): the run must stop writing. Absent for locks that cannot be lost.
   */
  readonly lost?: AbortSignal;
  /** Gives the lock up; calling it again does nothing. */
  release(): Promise<void>;
}

/** Makes sure only one run writes the pipeline's state at a time. */
export interface RunLock {
  /**
   * Waits up to timeoutMs (0 = don't wait) for the lock; throws LockHeldError naming the holder when it can't get it.
   * A lock whose holder is gone is taken over, and the lease says from whom (`tookOverFrom`).
   */
  acquire(runId: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<LockLease>;
  /** The current holder, or null. */
  holder(): Promise<LockHolder | null>;
}

export class LockHeldError extends Error {
  override name = 'LockHeldError';
  readonly holder: LockHolder;
  /** `hint`: how to clear the lock if its holder is gone (e.g. the lock file's path). */
  constructor(holder: LockHolder, hint?: string) {
    super(`run ${holder.runId} holds the lock since ${holder.since}${holderWhere(holder)}${hint ? `; ${hint}` : ''}`);
    this.holder = holder;
  }
}

/** ` (pid 123 on host)`, ` (on host)`, or '' when the holder's pid and host are unknown. */
export function holderWhere(holder: LockHolder): string {
  const parts = [holder.pid !== undefined ? `pid ${holder.pid}` : '', holder.host ? `on ${holder.host}` : ''].filter(Boolean);
  return parts.length ? ` (${parts.join(' ')})` : '';
}
