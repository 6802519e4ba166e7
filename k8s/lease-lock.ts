import os from 'node:os';
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { LockHeldError, type LockHolder, type LockLease, type RunLock } from '../runtime/storage/run-lock.js';
import type { Logger } from '../runtime/logging.js';
import { abortableSleep } from '../runtime/retry.js';
import type { KubeContext } from './kube-config.js';

export interface LeaseLockOptions {
  name: string;
  namespace: string;
  /** A holder that stops renewing loses the lock after this long. */
  leaseDurationSeconds?: number;
  pollMs?: number;
  log?: Logger;
  /** Clock, for tests. */
  now?: () => Date;
}

const ANNOTATION_SINCE = 'sfpipe.io/since';
const ANNOTATION_HOST = 'sfpipe.io/host';
const abortedWaiting = () => Object.assign(new Error('aborted while waiting for the run lock'), { name: 'AbortError' });

/**
 * The run lock on a coordination.k8s.io Lease: acquire by create; renew while running; take
 * over only after expiry (an update guarded by resourceVersion, so two contenders can't both
 * win; the lease got names the expired holder in `tookOverFrom`); release at the end.
 * Incremental, full-refresh and ad hoc runs never overlap.
 */
export class LeaseRunLock implements RunLock {
  readonly #api: CoordinationV1Api;
  readonly #o: Required<Omit<LeaseLockOptions, 'log'>> & { log?: Logger };

  constructor(api: CoordinationV1Api, opts: LeaseLockOptions) {
    this.#api = api;
    this.#o = { leaseDurationSeconds: 60, pollMs: 1000, now: () => new Date(), ...opts };
  }

  static async create(ctx: KubeContext, opts: Omit<LeaseLockOptions, 'namespace'> & { namespace?: string }): Promise<LeaseRunLock> {
    const k8s = await import('@kubernetes/client-node');
    return new LeaseRunLock(ctx.kc.makeApiClient(k8s.CoordinationV1Api), { ...opts, namespace: opts.namespace ?? ctx.namespace });
  }

  async holder(): Promise<LockHolder | null> {
    const lease = await this.#read();
    return lease && !this.#expired(lease) ? holderOf(lease) : null;
  }

  async acquire(runId: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<LockLease> {
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const got = await this.#tryAcquire(runId);
      if ('lease' in got) return got.lease;
      if (Date.now() >= deadline) throw new LockHeldError(got.holder);
      if (opts.signal?.aborted) throw abortedWaiting();
      // Woken by an abort too, which is then thrown before another try could take the lock.
      await abortableSleep(Math.min(this.#o.pollMs, Math.max(1, deadline - Date.now())), opts.signal).catch(() => undefined);
      if (opts.signal?.aborted) throw abortedWaiting();
    }
  }

  async #tryAcquire(runId: string): Promise<{ lease: LockLease } | { holder: LockHolder }> {
    const { name, namespace } = this.#o;
    const now = this.#o.now();
    const body = this.#body(runId, now);
    try {
      const created = await this.#api.createNamespacedLease({ namespace, body });
      return { lease: this.#held(runId, created) };
    } catch (err) {
      if (status(err) !== 409) throw err;
    }
    const current = await this.#read();
    if (!current) return this.#tryAcquire(runId);
    if (!this.#expired(current)) return { holder: holderOf(current) };
    // Expired: take over, guarded by resourceVersion.
    const previous = current.spec?.holderIdentity ? holderOf(current) : undefined;
    try {
      const updated = await this.#api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...body,
          metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion },
          spec: { ...body.spec, leaseTransitions: (current.spec?.leaseTransitions ?? 0) + 1 },
        },
      });
      // The caller is told through tookOverFrom (materialize warns, naming the run); this is the Lease's side.
      this.#o.log?.debug(`took over the run lock ${namespace}/${name} from ${previous?.runId ?? 'no holder'}, whose lease expired`);
      return { lease: this.#held(runId, updated, previous) };
    } catch (err) {
      if (status(err) === 409) {
        const now2 = await this.#read();
        return now2 ? { holder: holderOf(now2) } : this.#tryAcquire(runId);
      }
      throw err;
    }
  }

  #held(runId: string, lease: V1Lease, tookOverFrom?: LockHolder): LockLease {
    const { name, namespace } = this.#o;
    let current = lease;
    let released = false;
    let renewing: Promise<void> | null = null;
    const lost = new AbortController();
    const durationMs = this.#o.leaseDurationSeconds * 1000;
    const renewEvery = Math.max(1000, durationMs / 3);
    // When the last successful renewal was SENT (local clock): the lease is good from then on.
    let renewedAt = Date.now();
    let lastAttempt = 0;
    // Like client-go's renewDeadline: give up well before a contender may take the lease over
    // (it waits a whole duration of seeing no renewal), so both never think they hold it.
    const renewDeadlineMs = Math.max(renewEvery * 1.5, durationMs - renewEvery);
    const lose = (why: string) => {
      if (lost.signal.aborted || released) return;
      clearInterval(timer);
      this.#o.log?.error(`lost the run lock ${namespace}/${name}: ${why}; the run stops`);
      lost.abort(new Error(`lost the run lock ${namespace}/${name}: ${why}`));
    };
    const renew = async () => {
      const sentAt = Date.now();
      try {
        // The client sets no timeout: a hung call must not keep the renewal loop (or release) waiting.
        const updated = await bounded(
          this.#api.replaceNamespacedLease({ name, namespace, body: { ...current, spec: { ...current.spec, renewTime: micro(this.#o.now()) } } }),
          callTimeoutMs,
        );
        if (lost.signal.aborted || released) return;
        current = updated;
        renewedAt = sentAt;
      } catch (err) {
        if (status(err) !== 409) {
          this.#o.log?.warn(`could not renew the run lock ${namespace}/${name}: ${(err as Error).message}`);
          return;
        }
        // A conflict: taken over — or an earlier renewal that timed out here was applied there.
        const latest = await bounded(this.#read(), callTimeoutMs).catch(() => undefined);
        if (latest === undefined) return; // unknown: the deadline decides
        if (latest?.spec?.holderIdentity === runId) {
          current = latest; // still ours: renew from its current version
          return;
        }
        lose('it was taken over (renewal conflict)');
      }
    };
    // Ticks often enough to give up on time. Renews a third of the lease after the last success;
    // a failed or slow renewal is retried every `retryEvery` until the deadline, each call
    // bounded so that several attempts fit before it.
    const retryEvery = Math.max(250, renewEvery / 8);
    const callTimeoutMs = Math.max(250, renewEvery / 2);
    const timer = setInterval(() => {
      if (released || lost.signal.aborted) return;
      const now = Date.now();
      if (now - renewedAt >= renewDeadlineMs) {
        lose(`not renewed for ${Math.round((now - renewedAt) / 1000)} s`);
        return;
      }
      if (!renewing && now - renewedAt >= renewEvery && now - lastAttempt >= retryEvery) {
        lastAttempt = now;
        renewing = renew().finally(() => (renewing = null));
      }
    }, Math.min(1000, retryEvery));
    timer.unref();
    const releaseNow = async () => {
      // A renewal in flight would change the resourceVersion under the delete below.
      await renewing;
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          const latest = await this.#read();
          if (latest?.spec?.holderIdentity !== runId) return;
          await this.#api.deleteNamespacedLease({ name, namespace, body: { preconditions: { resourceVersion: latest.metadata?.resourceVersion } } });
          return;
        } catch (err) {
          if (status(err) === 404) return;
          if (status(err) !== 409) {
            this.#o.log?.warn(`could not release the run lock ${namespace}/${name}: ${(err as Error).message}`);
            return;
          }
        }
      }
    };
    return {
      holder: holderOf(lease),
      ...(tookOverFrom ? { tookOverFrom } : {}),
      lost: lost.signal,
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        // Bounded: an unresponsive API server must not keep a finished run's pod alive (the lease then expires).
        await bounded(releaseNow(), Math.max(5000, renewEvery)).catch((err: Error) =>
          this.#o.log?.warn(`could not release the run lock ${namespace}/${name}: ${err.message}; it expires in ${this.#o.leaseDurationSeconds} s`),
        );
      },
    };
  }

  #body(runId: string, now: Date): V1Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.#o.name,
        namespace: this.#o.namespace,
        annotations: { [ANNOTATION_SINCE]: now.toISOString(), [ANNOTATION_HOST]: process.env.HOSTNAME ?? os.hostname() },
      },
      spec: { holderIdentity: runId, leaseDurationSeconds: this.#o.leaseDurationSeconds, acquireTime: micro(now), renewTime: micro(now) },
    };
  }

  async #read(): Promise<V1Lease | null> {
    try {
      return await this.#api.readNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace });
    } catch (err) {
      if (status(err) === 404) return null;
      throw err;
    }
  }

  /**
   * Expired when this process has watched the lease stay unrenewed for its whole duration on its
   * own clock (as client-go's leader election does, so a clock ahead of the holder's cannot take a
   * live lease), or when the holder's renewTime is older than twice the duration by our clock (a
   * lease left behind long ago is taken at once; skew up to a whole duration is tolerated).
   */
  #expired(lease: V1Lease): boolean {
    if (!lease.spec?.holderIdentity) return true;
    const renew = lease.spec.renewTime ? new Date(lease.spec.renewTime as unknown as string).getTime() : 0;
    const duration = (lease.spec.leaseDurationSeconds ?? this.#o.leaseDurationSeconds) * 1000;
    // Every renewal is an update, so a new resourceVersion is a sign of life.
    const key = `${lease.spec.holderIdentity}|${renew}|${lease.metadata?.resourceVersion ?? ''}`;
    if (this.#observed?.key !== key) this.#observed = { key, at: Date.now() };
    return Date.now() - this.#observed.at > duration || renew + 2 * duration < this.#o.now().getTime();
  }

  /** The lease as this process last saw it change, and when (local time). */
  #observed: { key: string; at: number } | null = null;
}

function holderOf(lease: V1Lease): LockHolder {
  const since = lease.metadata?.annotations?.[ANNOTATION_SINCE] ?? String(lease.spec?.acquireTime ?? 'unknown');
  const host = lease.metadata?.annotations?.[ANNOTATION_HOST];
  return { runId: lease.spec?.holderIdentity ?? 'unknown', since, ...(host ? { host } : {}) };
}

/** Lease times are MicroTime: the API server wants six fractional digits. */
function micro(d: Date): Date {
  return new V1MicroTime(d.getTime());
}

/** `work`, or a rejection after `ms` (the call itself is left to finish or fail on its own). */
function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  work.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function status(err: unknown): number | undefined {
  const e = err as { code?: number; statusCode?: number; body?: { code?: number } };
  return e.code ?? e.statusCode ?? e.body?.code;
}
