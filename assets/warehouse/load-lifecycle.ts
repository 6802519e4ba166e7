import type { LoadSummary, QuarantineRow, RawLoad, RawRow } from './raw-warehouse.js';

/**
 * The state machine every engine's RawLoad shares: one call at a time, nothing after commit
 * or abort, commit always ends in finish (the staging dropped), abort during a commit waits
 * for the commit instead of undoing it. Engines supply staging, the merge and the cleanup.
 */
export abstract class LoadLifecycle implements RawLoad {
  #finished = false;
  #busy = false;
  #committing: Promise<void> | undefined;
  #finishing: Promise<void> | undefined;

  constructor(protected readonly runId: string) {}

  abstract append(rows: RawRow[]): Promise<void>;
  abstract quarantine(rows: QuarantineRow[]): Promise<void>;
  /** Merges the staged rows into raw. */
  /** `liveAt`: the stamp of live copies written where raw's latest row disagrees with the source. */
  protected abstract merge(tombstonesAt: Date | undefined, liveAt: Date | undefined): Promise<LoadSummary>;
  /** Drops the staging; runs once, after commit or on abort. */
  protected abstract dropStaging(): Promise<void>;
  /** Stops in-flight engine work before an abort's cleanup. */
  protected beforeAbort(): void {}

  protected assertActive(op: string): void {
    if (this.#finished) throw new Error(`raw load ${this.runId}: ${op} after the load was committed or aborted`);
    if (this.#busy) throw new Error(`raw load ${this.runId}: ${op} while another call on the load is running`);
  }

  protected async exclusive<T>(op: string, fn: () => Promise<T>): Promise<T> {
    this.assertActive(op);
    this.#busy = true;
    try {
      return await fn();
    } finally {
      this.#busy = false;
    }
  }

  async commit(opts: { tombstonesAt?: Date; observedAt?: Date } = {}): Promise<LoadSummary> {
    this.assertActive('commit');
    this.#busy = true;
    const committing = (async () => {
      try {
        return await this.merge(opts.tombstonesAt, opts.tombstonesAt ?? opts.observedAt);
      } finally {
        this.#busy = false;
        await this.finish();
      }
    })();
    this.#committing = committing.then(
      () => undefined,
      () => undefined,
    );
    return committing;
  }

  /** Drops the staged rows. A no-op once the load is finished; during a commit, waits for it to end. */
  async abort(): Promise<void> {
    if (this.#committing) return this.#committing;
    this.beforeAbort();
    return this.finish();
  }

  /** Idempotent; resolves once the staging is dropped. */
  protected finish(): Promise<void> {
    this.#finished = true;
    this.#finishing ??= this.dropStaging();
    return this.#finishing;
  }
}
