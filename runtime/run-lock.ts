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
   * Aborted when the lock is lost while held (another run took it over, or it could not be kept
   * for its whole duration): the run must stop writing. Absent for locks that cannot be lost.
   */
  readonly lost?: AbortSignal;
  /** Gives the lock up; calling it again does nothing. */
  release(): Promise<void>;
}

/** Makes sure only one run writes the pipeline's state at a time. */
export interface RunLock {
  /** Waits up to timeoutMs (0 = don't wait) for the lock; throws LockHeldError naming the holder when it can't get it. */
  acquire(runId: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<LockLease>;
  /** The current holder, or null. */
  holder(): Promise<LockHolder | null>;
}

export class LockHeldError extends Error {
  override name = 'LockHeldError';
  readonly holder: LockHolder;
  /** `hint`: how to clear the lock if its holder is gone (e.g. the lock file's path). */
  constructor(holder: LockHolder, hint?: string) {
    const where = holder.pid !== undefined || holder.host ? ` (${[holder.pid !== undefined ? `pid ${holder.pid}` : '', holder.host ? `on ${holder.host}` : ''].filter(Boolean).join(' ')})` : '';
    super(`run ${holder.runId} holds the lock since ${holder.since}${where}${hint ? `; ${hint}` : ''}`);
    this.holder = holder;
  }
}
