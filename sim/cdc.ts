import { createHash } from 'node:crypto';
import type { SfValue } from './record.js';

/** The channel of User's change events (Change Data Capture), as Salesforce names it. */
export const USER_CHANGE_CHANNEL = '/data/UserChangeEvent';

/** Salesforce keeps change events for 72 hours. */
export const DEFAULT_RETENTION_MS = 72 * 3_600_000;

export type ChangeType = 'CREATE' | 'UPDATE';

/** An event's `data` as a CometD subscriber receives it. */
export interface ChangeEventData {
  schema: string;
  payload: { ChangeEventHeader: ChangeEventHeader } & Record<string, unknown>;
  event: { replayId: number };
}

export interface ChangeEventHeader {
  entityName: 'User';
  recordIds: string[];
  changeType: ChangeType;
  changeOrigin: string;
  transactionKey: string;
  sequenceNumber: number;
  commitTimestamp: number;
  commitNumber: number;
  commitUser: string;
  changedFields: string[];
}

interface Retained {
  /** The simulated clock at commit (retention is measured on it). */
  commitMs: number;
  data: ChangeEventData;
}

export interface ChangeEventState {
  lastReplayId: number;
  /** Events up to this replay id were evicted: a replay from an older id is refused. */
  evictedThrough: number;
  events: Retained[];
}

/** What one record change looks like before it becomes an event. */
export interface RecordChange {
  changeType: ChangeType;
  recordId: string;
  commitMs: number;
  commitUser: string;
  /** Changed fields (all set fields on CREATE) with their new values, record field names. */
  fields: Record<string, SfValue>;
  /** The schema's field names (the schema id changes with them). */
  schemaFields: string[];
}

/** Replay result: the events after a replay id, or why that id cannot be replayed from. */
export type Replay = { ok: true; events: ChangeEventData[]; from: number } | { ok: false; error: string };

/** Name's components are a compound field in change events (Name.FirstName …). */
const NAME_PARTS = new Set(['FirstName', 'LastName']);

/**
 * The org's retained change events: increasing replay ids, a retention window on the simulated
 * clock, and listeners told of each new event (the CometD endpoint delivers them).
 */
export class ChangeEventLog {
  private state: ChangeEventState;
  private readonly listeners = new Set<(e: ChangeEventData) => void>();

  constructor(state: ChangeEventState | undefined, private readonly retentionMs: number) {
    this.state = state ? { ...state, events: [...state.events] } : { lastReplayId: 0, evictedThrough: 0, events: [] };
  }

  get lastReplayId(): number {
    return this.state.lastReplayId;
  }

  snapshot(): ChangeEventState {
    return { ...this.state, events: [...this.state.events] };
  }

  onEvent(listener: (e: ChangeEventData) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  append(c: RecordChange, nowMs: number): ChangeEventData {
    const replayId = ++this.state.lastReplayId;
    const payload: Record<string, unknown> = {};
    const changedFields: string[] = [];
    for (const [name, value] of Object.entries(c.fields)) {
      if (NAME_PARTS.has(name)) {
        const nameObj = (payload.Name ??= {}) as Record<string, unknown>;
        nameObj[name] = value;
        if (c.changeType === 'UPDATE') changedFields.push(`Name.${name}`);
      } else {
        payload[name] = value;
        if (c.changeType === 'UPDATE') changedFields.push(name);
      }
    }
    const key = createHash('sha256').update(`${c.recordId}/${replayId}`).digest('hex');
    const data: ChangeEventData = {
      schema: schemaId(c.schemaFields),
      payload: {
        ChangeEventHeader: {
          entityName: 'User',
          recordIds: [c.recordId],
          changeType: c.changeType,
          changeOrigin: 'com/salesforce/api/rest/62.0;client=sfpipe-sim',
          transactionKey: `${key.slice(0, 8)}-${key.slice(8, 12)}-${key.slice(12, 16)}-${key.slice(16, 20)}-${key.slice(20, 32)}`,
          sequenceNumber: 1,
          commitTimestamp: c.commitMs,
          commitNumber: 10_000_000_000 + replayId,
          commitUser: c.commitUser,
          changedFields,
        },
        ...payload,
      },
      event: { replayId },
    };
    this.state.events.push({ commitMs: c.commitMs, data });
    this.evict(nowMs);
    for (const l of this.listeners) l(data);
    return data;
  }

  /**
   * Events after `replayId`: -1 none retained (only new ones), -2 all retained; an id is valid
   * while it is not older than the retention window (or newer than the newest event).
   */
  replay(replayId: number, nowMs: number): Replay {
    this.evict(nowMs);
    const s = this.state;
    if (replayId === -1) return { ok: true, events: [], from: s.lastReplayId };
    if (replayId === -2) return { ok: true, events: s.events.map((e) => e.data), from: s.evictedThrough };
    if (!Number.isInteger(replayId) || replayId < s.evictedThrough || replayId > s.lastReplayId) {
      return { ok: false, error: `400::The replayId {${replayId}} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.` };
    }
    return { ok: true, events: s.events.filter((e) => e.data.event.replayId > replayId).map((e) => e.data), from: replayId };
  }

  private evict(nowMs: number): void {
    const s = this.state;
    while (s.events.length > 0 && s.events[0]!.commitMs < nowMs - this.retentionMs) {
      s.evictedThrough = s.events.shift()!.data.event.replayId;
    }
  }
}

/** The schema id changes when User's fields do (as Salesforce's does). */
function schemaId(fields: string[]): string {
  return createHash('sha256').update(fields.join(',')).digest('base64url').slice(0, 22);
}
