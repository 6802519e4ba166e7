import { randomBytes } from 'node:crypto';
import { USER_CHANGE_CHANNEL, type ChangeEventData, type ChangeEventLog } from '../cdc.js';
import type { Reply } from './reply.js';

/**
 * The Streaming API's CometD (Bayeux 1.0) endpoint, `/cometd/<version>`, as jsforce's faye client
 * speaks to it: handshake, long-polling connect, subscribe with the replay extension
 * (`ext.replay = {channel: replayId}`, -1 new events, -2 all retained), unsubscribe, disconnect.
 * Only the long-polling transport; one channel, /data/UserChangeEvent.
 */

interface Message {
  channel?: string;
  id?: string;
  clientId?: string;
  subscription?: string | string[];
  connectionType?: string;
  version?: string;
  supportedConnectionTypes?: string[];
  ext?: { replay?: Record<string, unknown> };
  [k: string]: unknown;
}

interface Client {
  id: string;
  subscribed: Set<string>;
  /** Events waiting for the next connect. */
  queue: Array<{ channel: string; data: ChangeEventData }>;
  /** Wakes the connect that is waiting (if any). */
  wake: (() => void) | null;
  connected: boolean;
  lastSeen: number;
}

export interface BayeuxOptions {
  events: ChangeEventLog;
  nowMs: () => number;
  /** How long a connect waits for events before it is answered empty (Salesforce: 110 s). */
  connectTimeoutMs: number;
}

export class BayeuxServer {
  private readonly clients = new Map<string, Client>();
  private readonly stopListening: () => void;
  private closed = false;

  constructor(private readonly o: BayeuxOptions) {
    this.stopListening = o.events.onEvent((data) => {
      for (const c of this.clients.values()) {
        if (!c.subscribed.has(USER_CHANGE_CHANNEL)) continue;
        c.queue.push({ channel: USER_CHANGE_CHANNEL, data });
        c.wake?.();
      }
    });
  }

  /** Clients with a subscription to the channel (for tests that wait for a subscriber). */
  subscribers(channel = USER_CHANGE_CHANNEL): number {
    return [...this.clients.values()].filter((c) => c.subscribed.has(channel)).length;
  }

  /** Sends an already-delivered event again to every subscriber (a duplicate delivery). */
  redeliver(replayId: number): boolean {
    const found = this.o.events.replay(-2, this.o.nowMs());
    const data = found.ok ? found.events.find((e) => e.event.replayId === replayId) : undefined;
    if (!data) return false;
    for (const c of this.clients.values()) {
      if (!c.subscribed.has(USER_CHANGE_CHANNEL)) continue;
      c.queue.push({ channel: USER_CHANGE_CHANNEL, data });
      c.wake?.();
    }
    return true;
  }

  /** Answers every waiting connect and forgets the clients (they must handshake again). */
  close(): void {
    this.closed = true;
    this.stopListening();
    for (const c of this.clients.values()) c.wake?.();
    this.clients.clear();
  }

  /** The session was refused: every message gets Salesforce's auth failure (no reconnect). */
  authFailure(body: string): Reply {
    const out = parse(body).map((m) => ({
      channel: m.channel,
      ...(m.id !== undefined ? { id: m.id } : {}),
      ...(m.clientId ? { clientId: m.clientId } : {}),
      successful: false,
      error: m.channel === '/meta/handshake' ? '403::Handshake denied' : '403::Unknown client',
      ext: { sfdc: { failureReason: '401::Authentication invalid' }, replay: true },
      advice: { reconnect: 'none' },
    }));
    return jsonReply(out);
  }

  handle(body: string): Reply {
    let messages: Message[];
    try {
      messages = parse(body);
    } catch {
      return { status: 400, headers: { 'Content-Type': 'application/json;charset=UTF-8' }, body: JSON.stringify([{ successful: false, error: '400::Invalid message' }]) };
    }
    this.sweep();
    const replies: Array<Record<string, unknown>> = [];
    let waitFor: Waiting | null = null;
    for (const m of messages) {
      const r = this.one(m);
      if (r instanceof Waiting) waitFor = r;
      else replies.push(r);
    }
    if (!waitFor) return jsonReply(replies);
    const { client, id } = waitFor;
    return {
      status: 200,
      headers: { 'Content-Type': 'application/json;charset=UTF-8' },
      stream: async (write) => {
        await this.waitForEvents(client);
        const events = client.queue.splice(0);
        const connect = { channel: '/meta/connect', ...(id !== undefined ? { id } : {}), clientId: client.id, successful: true, advice: this.advice() };
        await write(JSON.stringify([...events, ...replies, connect]));
      },
    };
  }

  private advice(): Record<string, unknown> {
    return { interval: 0, timeout: this.o.connectTimeoutMs, reconnect: 'retry' };
  }

  private one(m: Message): Record<string, unknown> | Waiting {
    const base = { channel: m.channel, ...(m.id !== undefined ? { id: m.id } : {}) };
    switch (m.channel) {
      case '/meta/handshake': {
        if (m.version !== '1.0' || !m.supportedConnectionTypes?.includes('long-polling')) {
          return { ...base, successful: false, error: '400::Handshake needs version 1.0 and the long-polling connection type', supportedConnectionTypes: ['long-polling'], version: '1.0' };
        }
        const id = randomBytes(12).toString('base64url');
        this.clients.set(id, { id, subscribed: new Set(), queue: [], wake: null, connected: false, lastSeen: Date.now() });
        return {
          ...base, clientId: id, successful: true, version: '1.0', minimumVersion: '1.0',
          supportedConnectionTypes: ['long-polling'], advice: this.advice(), ext: { replay: true, 'payload.format': true },
        };
      }
      case '/meta/connect':
      case '/meta/subscribe':
      case '/meta/unsubscribe':
      case '/meta/disconnect':
        break;
      default:
        // Publishing is not part of the Streaming API for change events.
        return { ...base, successful: false, error: `403::Publish denied for ${String(m.channel)}` };
    }
    const client = m.clientId ? this.clients.get(m.clientId) : undefined;
    if (!client) return { ...base, ...(m.clientId ? { clientId: m.clientId } : {}), successful: false, error: '403::Unknown client', advice: { reconnect: 'handshake', interval: 0 } };
    client.lastSeen = Date.now();
    const withClient = { ...base, clientId: client.id };
    switch (m.channel) {
      case '/meta/connect': {
        if (m.connectionType !== 'long-polling') return { ...withClient, successful: false, error: `400::Unsupported connection type ${String(m.connectionType)}` };
        // The first connect is answered at once (with the advice); later ones wait for events.
        if (!client.connected) {
          client.connected = true;
          return { ...withClient, successful: true, advice: this.advice() };
        }
        // A newer connect replaces one still waiting.
        client.wake?.();
        return new Waiting(client, m.id);
      }
      case '/meta/subscribe': {
        const channel = typeof m.subscription === 'string' ? m.subscription : '';
        const sub = { ...withClient, subscription: channel };
        if (channel !== USER_CHANGE_CHANNEL) return { ...sub, successful: false, error: `400::The channel you requested to subscribe to does not exist {${channel}}` };
        const raw = m.ext?.replay?.[channel];
        const replayId = raw === undefined ? -1 : Number(raw);
        const found = this.o.events.replay(replayId, this.o.nowMs());
        if (!found.ok) return { ...sub, successful: false, error: found.error };
        client.subscribed.add(channel);
        for (const data of found.events) client.queue.push({ channel, data });
        if (found.events.length) client.wake?.();
        return { ...sub, successful: true };
      }
      case '/meta/unsubscribe': {
        const channel = typeof m.subscription === 'string' ? m.subscription : '';
        client.subscribed.delete(channel);
        return { ...withClient, subscription: channel, successful: true };
      }
      default: {
        client.wake?.();
        this.clients.delete(client.id);
        return { ...withClient, successful: true };
      }
    }
  }

  private waitForEvents(client: Client): Promise<void> {
    if (client.queue.length > 0 || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (client.wake === done) client.wake = null;
        resolve();
      };
      const timer = setTimeout(done, this.o.connectTimeoutMs);
      client.wake = done;
    });
  }

  /** Forgets clients that stopped connecting (Salesforce drops them after about 40 s without a connect). */
  private sweep(): void {
    const cutoff = Date.now() - (this.o.connectTimeoutMs + 40_000);
    for (const c of this.clients.values()) if (!c.wake && c.lastSeen < cutoff) this.clients.delete(c.id);
  }
}

function parse(body: string): Message[] {
  const v = JSON.parse(body) as unknown;
  const list = Array.isArray(v) ? v : [v];
  return list.filter((m): m is Message => typeof m === 'object' && m !== null);
}

function jsonReply(value: unknown): Reply {
  return { status: 200, headers: { 'Content-Type': 'application/json;charset=UTF-8' }, body: JSON.stringify(value) };
}

/** A connect that waits for events: its reply closes the batch's response. */
class Waiting {
  constructor(readonly client: Client, readonly id: string | undefined) {}
}
