/**
 * The Lease run lock (k8s/lease-lock.ts) against a real kube-apiserver + etcd: contention,
 * release, take-over of an expired lease, renewal, and a 5-way race.
 *
 * Needs .tools/bin/{etcd,kube-apiserver,kubectl}; without them the tests pass with a log
 * line unless SFPIPE_REQUIRE_K8S is set.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { loadKubeContext } from '../../k8s/kube-config.js';
import { LeaseRunLock } from '../../k8s/lease-lock.js';
import { LockHeldError } from '../../runtime/storage/run-lock.js';
import type { ApiServer } from '../services/k8s/apiserver.js';
import { runCliProcess, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { clusterFixture, clusterTest, createNamespace, kubectl, kubectlJson } from './fixtures/cluster.js';

const cluster = clusterFixture();
const k8sTest = clusterTest();
test.before(async () => cluster.start());
test.after.always(async () => cluster.stop());

async function lockIn(api: ApiServer, namespace: string, name: string, extra: { leaseDurationSeconds?: number; now?: () => Date; pollMs?: number } = {}): Promise<LeaseRunLock> {
  const ctx = await loadKubeContext({ kubeconfig: api.kubeconfigPath, namespace });
  return LeaseRunLock.create(ctx, { name, ...extra });
}

type Call = (...args: unknown[]) => Promise<unknown>;

/** The real API with some methods wrapped: an override gets the real method (bound) and the call's arguments. */
function intercept(real: CoordinationV1Api, overrides: Record<string, (call: Call, args: unknown[]) => Promise<unknown>>): CoordinationV1Api {
  return new Proxy(real, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const call: Call = (...args) => (value as Call).apply(target, args);
      const override = typeof prop === 'string' ? overrides[prop] : undefined;
      return override ? (...args: unknown[]) => override(call, args) : call;
    },
  });
}

/** The Lease API of the test cluster, as the lock's own client makes it. */
async function leaseApi(api: ApiServer, namespace: string): Promise<CoordinationV1Api> {
  const ctx = await loadKubeContext({ kubeconfig: api.kubeconfigPath, namespace });
  const k8s = await import('@kubernetes/client-node');
  return ctx.kc.makeApiClient(k8s.CoordinationV1Api);
}

/**
 * A holder that has stopped renewing (hung, or cut off from the API server): its
 * replaceNamespacedLease calls fail; everything else works. With a live renewer and a
 * contender whose clock runs ahead, the renewals would race the take-over (a 409 for the
 * contender) — not the scenario under test.
 */
async function lockWithoutRenewal(
  api: ApiServer,
  namespace: string,
  name: string,
  extra: { leaseDurationSeconds?: number; hang?: boolean } = {},
): Promise<LeaseRunLock> {
  const { hang, ...lockOpts } = extra;
  const cutOff = intercept(await leaseApi(api, namespace), {
    // hang: the call never answers (the client sets no timeout); else it is refused.
    replaceNamespacedLease: async () => (hang ? new Promise(() => undefined) : Promise.reject(new Error('connection refused (test: holder cut off)'))),
  });
  return new LeaseRunLock(cutOff, { name, namespace, ...lockOpts });
}

const readLease = (api: ApiServer, ns: string, name: string) => kubectlJson<V1Lease>(api, ['-n', ns, 'get', 'lease', name]);

const leaseExists = async (api: ApiServer, ns: string, name: string): Promise<boolean> => {
  const list = await kubectlJson<{ items: V1Lease[] }>(api, ['-n', ns, 'get', 'leases']);
  return list.items.some((l) => l.metadata?.name === name);
};

k8sTest('two contenders: one wins, the other gets LockHeldError naming the winner, then acquires after the release', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'lease-contend';
  await createNamespace(api, ns);
  const a = await lockIn(api, ns, 'run-lock');
  const b = await lockIn(api, ns, 'run-lock');

  const leaseA = await a.acquire('run-a', { timeoutMs: 0 });
  t.is(leaseA.holder.runId, 'run-a');
  const err = await t.throwsAsync(b.acquire('run-b', { timeoutMs: 0 }), { instanceOf: LockHeldError });
  t.is((err as LockHeldError).holder.runId, 'run-a');
  t.regex(err!.message, /^run run-a holds the lock since \d{4}-\d\d-\d\dT/);
  t.is((await b.holder())?.runId, 'run-a');

  const onServer = await readLease(api, ns, 'run-lock');
  t.is(onServer.spec?.holderIdentity, 'run-a');
  t.is(onServer.spec?.leaseDurationSeconds, 60);

  // Waiting with a timeout also fails while A holds it.
  const started = Date.now();
  await t.throwsAsync(b.acquire('run-b', { timeoutMs: 300 }), { instanceOf: LockHeldError });
  t.true(Date.now() - started >= 250);

  await leaseA.release();
  t.false(await leaseExists(api, ns, 'run-lock'), 'release deletes the Lease');
  t.is(await a.holder(), null);

  const leaseB = await b.acquire('run-b', { timeoutMs: 0 });
  t.is(leaseB.holder.runId, 'run-b');
  t.is((await readLease(api, ns, 'run-lock')).spec?.holderIdentity, 'run-b');
  await leaseB.release();
  await leaseB.release(); // idempotent
  t.false(await leaseExists(api, ns, 'run-lock'));
});

k8sTest('a waiting contender gets the lock once the holder releases', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'lease-wait';
  await createNamespace(api, ns);
  const a = await lockIn(api, ns, 'run-lock');
  const b = await lockIn(api, ns, 'run-lock', { pollMs: 100 });
  const leaseA = await a.acquire('run-a', { timeoutMs: 0 });
  const waiting = b.acquire('run-b', { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 400));
  await leaseA.release();
  const leaseB = await waiting;
  t.is(leaseB.holder.runId, 'run-b');
  await leaseB.release();
});

k8sTest('an expired lease is taken over (leaseTransitions + 1); the old holder\'s release leaves it alone', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'lease-expire';
  await createNamespace(api, ns);
  // A holds a 2 s lease and has stopped renewing.
  const a = await lockWithoutRenewal(api, ns, 'run-lock', { leaseDurationSeconds: 2 });
  // B's clock is 10 s ahead: A's 2 s lease looks expired to it.
  const b = await lockIn(api, ns, 'run-lock', { leaseDurationSeconds: 2, now: () => new Date(Date.now() + 10_000) });

  const leaseA = await a.acquire('run-a', { timeoutMs: 0 });
  t.is(leaseA.tookOverFrom, undefined, 'created, not taken over');
  const before = await readLease(api, ns, 'run-lock');
  t.is(before.spec?.holderIdentity, 'run-a');
  t.is(before.spec?.leaseTransitions ?? 0, 0);

  const leaseB = await b.acquire('run-b', { timeoutMs: 0 });
  t.is(leaseB.holder.runId, 'run-b');
  // B is told whose expired lease it took over (for materialize to warn and finish that run).
  t.deepEqual(leaseB.tookOverFrom, leaseA.holder);
  t.deepEqual(leaseB.tookOverFrom, { runId: 'run-a', since: before.metadata?.annotations?.['sfpipe.io/since'], host: before.metadata?.annotations?.['sfpipe.io/host'] });
  const after = await readLease(api, ns, 'run-lock');
  t.is(after.spec?.holderIdentity, 'run-b');
  t.is(after.spec?.leaseTransitions, (before.spec?.leaseTransitions ?? 0) + 1);
  t.not(after.metadata?.uid, undefined);
  t.is(after.metadata?.uid, before.metadata?.uid, 'taken over by update, not delete + create');

  // A (whose clock says the lease is B's and current) now sees B as the holder.
  t.is((await a.holder())?.runId, 'run-b');

  await leaseA.release();
  const still = await readLease(api, ns, 'run-lock');
  t.is(still.spec?.holderIdentity, 'run-b', "A's release must not delete B's lease");

  await leaseB.release();
  t.false(await leaseExists(api, ns, 'run-lock'));
});

k8sTest('the holder renews the lease (renewTime advances, MicroTime accepted by the server)', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'lease-renew';
  await createNamespace(api, ns);
  // leaseDurationSeconds 6 → renew every 2 s; a slow renewal on a loaded machine is retried for 4 s.
  const a = await lockIn(api, ns, 'run-lock', { leaseDurationSeconds: 6 });
  const lease = await a.acquire('run-a', { timeoutMs: 0 });
  try {
    const first = await readLease(api, ns, 'run-lock');
    await new Promise((r) => setTimeout(r, 7000));
    const later = await readLease(api, ns, 'run-lock');
    t.is(later.spec?.holderIdentity, 'run-a');
    t.not(later.metadata?.resourceVersion, first.metadata?.resourceVersion, 'the lease was updated');
    const renew = (l: V1Lease) => new Date(String(l.spec?.renewTime)).getTime();
    t.true(renew(later) > renew(first), `renewTime advanced: ${String(first.spec?.renewTime)} → ${String(later.spec?.renewTime)}`);
    t.regex(String(later.spec?.renewTime), /\.\d{6}Z$/, 'MicroTime with six fractional digits');
    // Still held, and still ours, after more than a lease duration.
    t.is((await a.holder())?.runId, 'run-a');
  } finally {
    await lease.release();
  }
});

k8sTest('5 contenders at once: exactly one wins, the others are told who', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'lease-race';
  await createNamespace(api, ns);
  const locks = await Promise.all([0, 1, 2, 3, 4].map(() => lockIn(api, ns, 'run-lock')));
  const results = await Promise.allSettled(locks.map((l, i) => l.acquire(`run-${i}`, { timeoutMs: 0 })));
  const won = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<LeaseRunLock['acquire']>>> => r.status === 'fulfilled');
  const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  t.is(won.length, 1, `winners: ${won.map((w) => w.value.holder.runId).join(', ')}; errors: ${lost.map((l) => String(l.reason)).join('; ')}`);
  t.is(lost.length, 4);
  const winner = won[0]!.value.holder.runId;
  for (const l of lost) {
    t.true(l.reason instanceof LockHeldError, String(l.reason));
    t.is((l.reason as LockHeldError).holder.runId, winner);
  }
  t.is((await readLease(api, ns, 'run-lock')).spec?.holderIdentity, winner);
  await won[0]!.value.release();

  // Race again over an expired lease (take-over path): all five see it expired.
  const stale = await lockWithoutRenewal(api, ns, 'run-lock', { leaseDurationSeconds: 1 });
  const staleLease = await stale.acquire('stale', { timeoutMs: 0 });
  const future = () => new Date(Date.now() + 60_000);
  const takers = await Promise.all([0, 1, 2, 3, 4].map(() => lockIn(api, ns, 'run-lock', { now: future })));
  const r2 = await Promise.allSettled(takers.map((l, i) => l.acquire(`taker-${i}`, { timeoutMs: 0 })));
  const won2 = r2.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<LeaseRunLock['acquire']>>> => r.status === 'fulfilled');
  t.is(won2.length, 1, `take-over winners: ${won2.map((w) => w.value.holder.runId).join(', ')}; errors: ${r2.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)).join('; ')}`);
  for (const r of r2) if (r.status === 'rejected') t.true(r.reason instanceof LockHeldError, String(r.reason));
  const lease = await readLease(api, ns, 'run-lock');
  t.is(lease.spec?.holderIdentity, won2[0]?.value.holder.runId);
  t.is(lease.spec?.leaseTransitions, 1);
  await staleLease.release();
  await won2[0]?.value.release();
});

/**
 * A CoordinationV1Api that forces one interleaving (network latency, made deterministic):
 * once armed, the next replaceNamespacedLease (a renewal) waits until a readNamespacedLease
 * has been answered by the server, and that read's answer is held back until the renewal
 * has reached the server. So: read (old resourceVersion) → renewal → read returns.
 */
function interleavingApi(real: CoordinationV1Api): { api: CoordinationV1Api; arm(): void; renewalStarted: Promise<void> } {
  const deferred = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };
  const withTimeout = (p: Promise<void>) => Promise.race([p, new Promise<void>((r) => setTimeout(r, 5000).unref())]);
  const renewalStarted = deferred();
  const readAtServer = deferred();
  const renewalDone = deferred();
  let armed = false;
  let renewalSeen = false;
  let readSeen = false;
  const api = intercept(real, {
    replaceNamespacedLease: async (fn, args) => {
      if (!armed || renewalSeen) return fn(...args);
      renewalSeen = true;
      renewalStarted.resolve();
      await withTimeout(readAtServer.promise);
      try {
        return await fn(...args);
      } finally {
        renewalDone.resolve();
      }
    },
    readNamespacedLease: async (fn, args) => {
      if (!armed || !renewalSeen || readSeen) return fn(...args);
      readSeen = true;
      const r = await fn(...args);
      readAtServer.resolve();
      await withTimeout(renewalDone.promise);
      return r;
    },
  });
  return { api, arm: () => (armed = true), renewalStarted: renewalStarted.promise };
}

// release() waits for a renewal in flight (which bumps the resourceVersion) and retries its
// guarded delete on a conflict, so the lock is free when release() returns.
k8sTest('release() while a renewal is in flight still frees the lock', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'lease-release-race';
  await createNamespace(api, ns);
  const gate = interleavingApi(await leaseApi(api, ns));
  // leaseDurationSeconds 3: a renewal every second.
  const a = new LeaseRunLock(gate.api, { name: 'run-lock', namespace: ns, leaseDurationSeconds: 3 });
  const lease = await a.acquire('run-a', { timeoutMs: 0 });
  gate.arm();
  await gate.renewalStarted; // the first renewal is on its way
  await lease.release();
  // B's clock runs a minute behind: run-a's lease never looks expired to it, whatever the
  // load on this machine; B gets the lock only if the lease was really released.
  const b = await lockIn(api, ns, 'run-lock', { now: () => new Date(Date.now() - 60_000) });
  const got = await b.acquire('run-b', { timeoutMs: 0 }).then(
    (l) => l,
    (err: Error) => err,
  );
  t.false(got instanceof Error, `after run-a released, run-b could not acquire: ${String(got)}`);
  if (!(got instanceof Error)) await got.release();
  else await kubectl(api, ['-n', ns, 'delete', 'lease', 'run-lock']);
});

k8sTest('a holder whose lease is taken over is told: its lost signal fires and it stops renewing', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'lease-lost';
  await createNamespace(api, ns);
  // A 10 s lease: A renews every 3.3 s and would give up only after 6.7 s without a renewal, so
  // on a loaded machine A still learns of the take-over from its next renewal's conflict.
  const a = await lockIn(api, ns, 'run-lock', { leaseDurationSeconds: 10 });
  const leaseA = await a.acquire('run-a', { timeoutMs: 0 });
  t.false(leaseA.lost!.aborted);
  // B's clock is far ahead (more than twice the duration): A's lease looks long dead to it.
  const b = await lockIn(api, ns, 'run-lock', { leaseDurationSeconds: 10, now: () => new Date(Date.now() + 120_000) });
  const leaseB = await b.acquire('run-b', { timeoutMs: 0 });
  t.is(leaseB.holder.runId, 'run-b');
  const reason = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('A was never told')), 30_000);
    leaseA.lost!.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve((leaseA.lost!.reason as Error).message);
    });
  });
  t.regex(reason, /^lost the run lock lease-lost\/run-lock: it was taken over/);
  t.is((await readLease(api, ns, 'run-lock')).spec?.holderIdentity, 'run-b', 'A no longer renews over B');
  await leaseA.release();
  await leaseB.release();
});

k8sTest('a contender whose clock runs ahead by more than the lease duration does not take a live lease', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'lease-skew';
  await createNamespace(api, ns);
  const a = await lockIn(api, ns, 'run-lock', { leaseDurationSeconds: 10 });
  const leaseA = await a.acquire('run-a', { timeoutMs: 0 });
  // 12 s ahead: by renewTime + duration alone A's live lease would look expired. B watches it for
  // 4 s, less than a lease duration, so on its own clock it cannot call it expired (however slow
  // A's renewals are on a loaded machine), and renewTime is within twice the duration.
  const b = await lockIn(api, ns, 'run-lock', { leaseDurationSeconds: 10, now: () => new Date(Date.now() + 12_000), pollMs: 200 });
  const err = await t.throwsAsync(b.acquire('run-b', { timeoutMs: 4_000 }), { instanceOf: LockHeldError });
  t.is(err!.holder.runId, 'run-a');
  t.false(leaseA.lost!.aborted);
  await leaseA.release();
});

k8sTest('a holder whose renewals hang gives the lock up before a contender may take it, and release() does not hang', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'lease-hang';
  await createNamespace(api, ns);
  const a = await lockWithoutRenewal(api, ns, 'run-lock', { leaseDurationSeconds: 3, hang: true });
  const leaseA = await a.acquire('run-a', { timeoutMs: 0 });
  const acquiredAt = Date.now();
  const reason = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('A was never told')), 15_000);
    leaseA.lost!.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve((leaseA.lost!.reason as Error).message);
    });
  });
  t.regex(reason, /^lost the run lock lease-hang\/run-lock: not renewed for \d+ s$/);
  t.log(`told after ${Date.now() - acquiredAt} ms of a 3 s lease`);
  await leaseA.release(); // returns although a renewal call is still hanging
  // A contender on a correct clock sees the lease unrenewed and takes it once it has watched it for a duration.
  const b = await lockIn(api, ns, 'run-lock', { leaseDurationSeconds: 3, pollMs: 200 });
  const leaseB = await b.acquire('run-b', { timeoutMs: 10_000 });
  t.is(leaseB.holder.runId, 'run-b');
  await leaseB.release();
});

k8sTest('one failed renewal is retried before the deadline: the holder keeps the lock', async (t) => {
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'lease-blip';
  await createNamespace(api, ns);
  let renewals = 0;
  const blip = intercept(await leaseApi(api, ns), {
    replaceNamespacedLease: async (fn, args) => {
      renewals++;
      if (renewals === 1) throw Object.assign(new Error('HTTP 500 (test: one API server blip)'), { code: 500 });
      return fn(...args);
    },
  });
  // 6 s: a renewal every 2 s, each call bounded to 1 s, the deadline 4 s after the last success.
  const a = new LeaseRunLock(blip, { name: 'run-lock', namespace: ns, leaseDurationSeconds: 6 });
  const leaseA = await a.acquire('run-a', { timeoutMs: 0 });
  await new Promise((r) => setTimeout(r, 13_000)); // more than two lease durations
  t.true(renewals >= 3, `renewals attempted: ${renewals}`);
  t.false(leaseA.lost!.aborted, String(leaseA.lost!.reason ?? ''));
  t.is((await readLease(api, ns, 'run-lock')).spec?.holderIdentity, 'run-a');
  await leaseA.release();
  t.false(leaseA.lost!.aborted, 'releasing is not losing');
});

k8sTest('sfpipe materialize in a pod stops when its Lease is taken over: the run is CANCELED, exit 1, and it says why', async (t) => {
  t.timeout(110_000);
  const api = cluster.get(t);
  if (!api) return;
  const ns = 'lease-cli';
  await createNamespace(api, ns);
  const kubeconfig = path.join(api.dir, 'lease-cli.kubeconfig');
  fs.copyFileSync(api.kubeconfigPath, kubeconfig);
  await kubectl(api, ['config', 'set-context', '--current', `--namespace=${ns}`], kubeconfig);
  const marker = path.join(tempDir(), 'marker');
  // KUBERNETES_SERVICE_HOST without a ServiceAccount token: the Lease lock, configured from KUBECONFIG.
  const env = {
    SFPIPE_HOME: tempDir(),
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBECONFIG: kubeconfig,
    SFPIPE_LEASE_NAME: 'cli-run-lock',
    FIXTURE_SLOW_MS: '100000',
    FIXTURE_MARKER_FILE: marker,
  };
  const { done } = startCli(['materialize', '--select', 'sf_raw/sf_user'], env);
  const deadline = Date.now() + 30_000;
  while (!fs.existsSync(marker)) {
    if (Date.now() > deadline) throw new Error('the step never started');
    await new Promise((r) => setTimeout(r, 100));
  }
  const held = await readLease(api, ns, 'cli-run-lock');
  const runId = String(held.spec?.holderIdentity);
  t.truthy(held.spec?.holderIdentity, 'the run holds the Lease');
  // Someone else writes the Lease (another run that judged it expired): the holder's next renewal conflicts.
  await kubectl(api, ['-n', ns, 'patch', 'lease', 'cli-run-lock', '--type=merge', '-p', JSON.stringify({ spec: { holderIdentity: 'run-intruder' } })]);
  const r = await done;
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /lost the run lock lease-cli\/cli-run-lock: it was taken over/);
  t.regex(r.stderr, /the run was stopped so that two runs never write at once/);
  t.false(fs.readFileSync(marker, 'utf8').includes('end '), 'the step was stopped before it finished');
  const runs = JSON.parse((await runCliProcess(['runs', '--json'], env)).stdout).runs;
  t.like(runs[0], { runId, status: 'CANCELED' });
  t.is((await readLease(api, ns, 'cli-run-lock')).spec?.holderIdentity, 'run-intruder', "the run's release leaves the new holder's Lease alone");
});
