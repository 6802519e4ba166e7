export type RequestKind =
  | 'token' | 'describe' | 'query' | 'queryMore' | 'bulkCreate' | 'bulkPoll' | 'bulkResults' | 'limits' | 'streaming' | 'other';

export type FaultOn = Exclude<RequestKind, 'other'> | 'any';

export type FaultAction =
  | { kind: 'http'; status: number }
  | { kind: 'invalidSession' }
  | { kind: 'requestLimit' }
  | { kind: 'queryTimeout' }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'resetMidBody' }
  | { kind: 'bulkJobFailed' };

export type FaultSpec = FaultAction & {
  on: FaultOn;
  /** How many matching requests get the fault (default 1). */
  times?: number;
  /** Let this many matching requests pass first (default 0). */
  after?: number;
};

interface Armed {
  spec: FaultSpec;
  remaining: number;
  skip: number;
}

/** Scripted faults, consumed in the order they were added. */
export class FaultInjector {
  private queue: Armed[] = [];
  readonly fired: Array<{ on: RequestKind; kind: FaultAction['kind'] }> = [];

  add(spec: FaultSpec): this {
    const times = spec.times ?? 1;
    if (!(times >= 1)) throw new Error('times must be >= 1');
    this.queue.push({ spec, remaining: times, skip: spec.after ?? 0 });
    return this;
  }

  clear(): void {
    this.queue = [];
  }

  /** Faults still armed. */
  pending(): FaultSpec[] {
    return this.queue.map((a) => ({ ...a.spec, times: a.remaining, after: a.skip }));
  }

  /** Called once per request: returns the fault to apply, if any. */
  take(kind: RequestKind): FaultAction | undefined {
    for (const a of this.queue) {
      if (a.spec.on !== 'any' && a.spec.on !== kind) continue;
      if (a.skip > 0) {
        a.skip--;
        continue;
      }
      a.remaining--;
      if (a.remaining === 0) this.queue.splice(this.queue.indexOf(a), 1);
      this.fired.push({ on: kind, kind: a.spec.kind });
      return a.spec;
    }
    return undefined;
  }
}
