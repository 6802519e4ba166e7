/**
 * The simulator's Streaming API (CometD) endpoint, driven by jsforce's own, unmodified streaming
 * client with its Replay and AuthFailure extensions: change events for User's creates and
 * updates, replay from an id / all retained / new only, the retention window, auth failure.
 */
import test from 'ava';
import jsforce from 'jsforce';
import { StreamingExtension } from 'jsforce/lib/api/streaming.js';
import { startSimulator, USER_CHANGE_CHANNEL, type ChangeEventData, type Simulator } from '../../sim/index.js';
import { tokenFor, V } from './helpers.js';

interface Subscriber {
  /** Resolves with the next event (events are queued in arrival order). */
  next(): Promise<ChangeEventData>;
  subscribed: Promise<unknown>;
  /** Disconnects (and waits for the server's answer, so no retry outlives the simulator). */
  close(): Promise<void>;
}

async function subscribe(sim: Simulator, replayId: number | null, token?: string, onAuthFailure?: (m: unknown) => void): Promise<Subscriber> {
  const conn = new jsforce.Connection({ instanceUrl: sim.url, accessToken: token ?? (await tokenFor(sim)), version: V });
  const extensions: unknown[] = [new StreamingExtension.Replay(USER_CHANGE_CHANNEL, replayId)];
  if (onAuthFailure) extensions.unshift(new StreamingExtension.AuthFailure(onAuthFailure));
  const client = conn.streaming.createClient(extensions);
  const got: ChangeEventData[] = [];
  const waiting: Array<(e: ChangeEventData) => void> = [];
  const subscription = client.subscribe(USER_CHANGE_CHANNEL, (data: ChangeEventData) => {
    const w = waiting.shift();
    if (w) w(data);
    else got.push(data);
  });
  return {
    next: () => (got.length ? Promise.resolve(got.shift()!) : new Promise((resolve) => waiting.push(resolve))),
    subscribed: Promise.resolve(subscription),
    close: async () => {
      await (client as unknown as { disconnect(): Promise<void> | undefined }).disconnect();
    },
  };
}

test('jsforce subscribes to /data/UserChangeEvent and receives UPDATE and CREATE events', async (t) => {
  const sim = await startSimulator({ users: 20, streamingTimeoutMs: 2000 });
  t.teardown(() => sim.close());
  const sub = await subscribe(sim, -1);
  t.teardown(() => sub.close());
  await sub.subscribed;
  t.is(sim.streaming.subscribers(), 1);

  sim.resetStats();
  const id = sim.org.idOf(3);
  sim.org.setClock('2025-05-01T08:00:00.000Z');
  sim.org.updateUser(id, { Division: 'Streamed', FirstName: 'Ada' });
  const update = await sub.next();
  const h = update.payload.ChangeEventHeader;
  t.like(h, { entityName: 'User', recordIds: [id], changeType: 'UPDATE', sequenceNumber: 1, commitTimestamp: Date.parse('2025-05-01T08:00:00.000Z') });
  t.deepEqual([...h.changedFields].sort(), ['Division', 'LastModifiedDate', 'Name.FirstName']);
  t.is(update.payload.Division, 'Streamed');
  t.deepEqual(update.payload.Name, { FirstName: 'Ada' });
  t.is(update.payload.LastModifiedDate, '2025-05-01T08:00:00.000Z');
  t.false('SystemModstamp' in update.payload, 'change events never carry SystemModstamp');
  t.is(typeof update.schema, 'string');
  t.true(update.event.replayId > 0);

  const created = sim.org.createUser({ LastName: 'Pushed', Division: 'New Div' });
  const create = await sub.next();
  t.like(create.payload.ChangeEventHeader, { changeType: 'CREATE', recordIds: [created], changedFields: [] });
  t.like(create.payload, { Division: 'New Div', IsActive: true, Name: { FirstName: 'New', LastName: 'Pushed' } });
  t.true(create.event.replayId > update.event.replayId, 'replay ids increase');

  // An automated change (only SystemModstamp moves) publishes nothing; the next real one is next.
  sim.org.updateUser(id, {}, { automated: true });
  sim.org.updateUser(id, { Division: 'Third' });
  t.deepEqual((await sub.next()).payload.ChangeEventHeader.changedFields.sort(), ['Division', 'LastModifiedDate']);
  t.is(sim.stats.apiCalls, 0, 'the Streaming API does not count against the REST API allocation');
});

test('replay: from a stored id gets what came after; -2 all retained; -1 only new', async (t) => {
  const sim = await startSimulator({ users: 20, streamingTimeoutMs: 2000 });
  t.teardown(() => sim.close());
  const ids = [1, 2, 3].map((n) => sim.org.idOf(n));
  for (const [i, id] of ids.entries()) sim.org.updateUser(id, { Division: `D${i}` });
  const first = sim.org.changeEvents.lastReplayId - 2;

  const fromFirst = await subscribe(sim, first);
  t.teardown(() => fromFirst.close());
  t.deepEqual([(await fromFirst.next()).payload.ChangeEventHeader.recordIds, (await fromFirst.next()).payload.ChangeEventHeader.recordIds], [[ids[1]], [ids[2]]]);

  const all = await subscribe(sim, -2);
  t.teardown(() => all.close());
  t.is((await all.next()).event.replayId, first);

  const onlyNew = await subscribe(sim, -1);
  t.teardown(() => onlyNew.close());
  await onlyNew.subscribed;
  sim.org.updateUser(ids[0]!, { Division: 'later' });
  t.is((await onlyNew.next()).payload.Division, 'later', 'none of the retained events, then the new one');
});

test('an id older than the retention window is refused as Salesforce refuses it', async (t) => {
  const sim = await startSimulator({ users: 20, streamingTimeoutMs: 2000, changeEventRetentionMs: 3_600_000 });
  t.teardown(() => sim.close());
  sim.org.updateUser(sim.org.idOf(1), { Division: 'old' });
  const old = sim.org.changeEvents.lastReplayId;
  sim.org.setClock(new Date(sim.org.nowMs() + 2 * 3_600_000));
  sim.org.updateUser(sim.org.idOf(2), { Division: 'new' });
  const sub = await subscribe(sim, old - 1);
  t.teardown(() => sub.close());
  // faye rejects with its own error object (not an Error).
  const err = await sub.subscribed.then(() => null, (e: { message: string }) => e);
  t.regex(err?.message ?? 'subscribed', new RegExp(`The replayId \\{${old - 1}\\} you provided was invalid`));
  // The evicted event's own id is still a valid position: what came after it is retained.
  const ok = await subscribe(sim, old);
  t.teardown(() => ok.close());
  t.is((await ok.next()).payload.Division, 'new');
});

test('an invalid session gets the handshake denial the AuthFailure extension reports', async (t) => {
  const sim = await startSimulator({ users: 5, streamingTimeoutMs: 2000 });
  t.teardown(() => sim.close());
  const failure = await new Promise<Record<string, any>>((resolve) => {
    void subscribe(sim, -1, 'not-a-token', (m) => resolve(m as Record<string, any>)).then((s) => t.teardown(() => s.close()));
  });
  t.like(failure, { channel: '/meta/handshake', successful: false, error: '403::Handshake denied', advice: { reconnect: 'none' } });
  t.is(failure.ext.sfdc.failureReason, '401::Authentication invalid');
});
