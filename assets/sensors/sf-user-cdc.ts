import { Streaming, StreamingExtension } from 'jsforce/lib/api/streaming.js';
import { errorMessage } from '../../runtime/errors.js';
import type { Logger } from '../../runtime/logging.js';
import { defineSensor, type PushSubscribeOptions, type SensorDef } from '../../runtime/sensors.js';
import type { SensorSalesforce } from './sf-user-changes.js';
import { SF_USER_SENSOR_TARGET } from './sf-user-changes.js';

/** The push sensor's name: its runs are recorded with the trigger `sensor:sf_user_cdc`. */
export const SF_USER_CDC_SENSOR = 'sf_user_cdc';
/** User's Change Data Capture channel on the Streaming API. */
export const USER_CHANGE_CHANNEL = '/data/UserChangeEvent';

export interface SfUserCdcOptions {
  /** Logs in (a session for as long as the subscription lasts). */
  salesforce(opts: { log: Logger; signal: AbortSignal; tickId: string }): Promise<SensorSalesforce>;
  /** Why push mode cannot work with this config (e.g. an embedded simulator no one else changes); null: it can. */
  unsupported?: string | null;
}

/** The part of a change event the sensor reads. */
interface ChangeEvent {
  payload?: { ChangeEventHeader?: { changeType?: string; recordIds?: string[]; changedFields?: string[]; commitTimestamp?: number } };
  event?: { replayId?: number };
}

/** The faye client jsforce's streaming API returns (its typings leave these out). */
interface FayeClient {
  subscribe(channel: string, listener: (data: ChangeEvent) => void): PromiseLike<unknown>;
  bind(event: 'transport:up' | 'transport:down', listener: () => void): void;
  disconnect(): PromiseLike<unknown> | undefined;
}

/**
 * Requests a run of sf_raw/sf_user+ when Salesforce publishes a change event for User (Change Data
 * Capture, through the Streaming API): jsforce's streaming client with the Replay extension,
 * resuming after the stored replay id. The run extracts from raw's watermark as any run does, so
 * the events only say *when*; the data comes from the extraction.
 */
export function sfUserCdcSensor(o: SfUserCdcOptions): SensorDef {
  return defineSensor({
    name: SF_USER_CDC_SENSOR,
    description: `Runs ${SF_USER_SENSOR_TARGET} when Salesforce publishes User change events (${USER_CHANGE_CHANNEL}); watched by \`sensor watch\`, not ticked`,
    minimumIntervalSeconds: 0,
    target: SF_USER_SENSOR_TARGET,
    push: {
      compare: (a, b) => Number(a) - Number(b),
      runKey: (position) => `UserChangeEvent.replayId=${position}`,
      subscribe: (s) => subscribe(o, s),
    },
  });
}

async function subscribe(o: SfUserCdcOptions, s: PushSubscribeOptions): Promise<{ close(): Promise<void> }> {
  if (o.unsupported) throw new Error(o.unsupported);
  let session: { sf: SensorSalesforce; client: FayeClient } | null = null;
  let closed = false;
  // Where to resume after a re-login: the newest event delivered (the watcher drops repeats).
  let after = s.after;

  const open = async (from: string | null, replayAll = false): Promise<void> => {
    const sf = await o.salesforce({ log: s.log, signal: s.signal, tickId: `watch-${Date.now()}` });
    const replayId = replayAll ? -2 : from === null ? -1 : Number(from);
    const authFailure = new StreamingExtension.AuthFailure(() => void relogin('the Streaming API refused the session (401::Authentication invalid)'));
    const client = new Streaming(sf.api.conn).createClient([authFailure, new StreamingExtension.Replay(USER_CHANGE_CHANNEL, replayId)]) as unknown as FayeClient;
    session = { sf, client };
    let up = false;
    client.bind('transport:down', () => s.onState('down', 'the Streaming API connection is down; the client retries'));
    client.bind('transport:up', () => up && s.onState('subscribed', `subscribed to ${USER_CHANGE_CHANNEL}`));
    const subscribed = client.subscribe(USER_CHANGE_CHANNEL, (data) => {
      const replay = data.event?.replayId;
      if (typeof replay !== 'number') {
        s.log.warn(`a message on ${USER_CHANGE_CHANNEL} without event.replayId was ignored`);
        return;
      }
      const h = data.payload?.ChangeEventHeader ?? {};
      after = String(replay);
      s.onEvent({
        position: String(replay),
        detail: { replayId: replay, changeType: h.changeType ?? null, recordIds: h.recordIds ?? [], changedFields: h.changedFields ?? [], commitTimestamp: h.commitTimestamp ?? null },
      });
    });
    try {
      await subscribed;
    } catch (err) {
      await closeSession();
      const message = fayeMessage(err);
      // The stored replay id is older than the retention window: those events are gone. Replay
      // what is retained (its run extracts from raw's watermark, which covers the lost ones too).
      if (!replayAll && from !== null && /replayId \{.*\} you provided was invalid/.test(message)) {
        s.log.warn(`replay id ${from} is no longer retained by Salesforce (${message}); replaying every retained event instead (the run they request extracts everything since raw's watermark)`);
        return open(from, true);
      }
      throw new Error(`subscribing to ${USER_CHANGE_CHANNEL} failed: ${message}`);
    }
    up = true;
    s.onState('subscribed', `subscribed to ${USER_CHANGE_CHANNEL} (replay from ${replayId})`);
  };

  const closeSession = async (): Promise<void> => {
    const current = session as { sf: SensorSalesforce; client: FayeClient } | null;
    session = null;
    if (!current) return;
    await Promise.resolve(current.client.disconnect()).catch(() => undefined);
    await current.sf.close();
  };

  const relogin = async (why: string): Promise<void> => {
    if (closed) return;
    s.onState('down', `${why}; logging in again`);
    await closeSession();
    try {
      await open(after);
    } catch (err) {
      s.onState('down', `logging in again failed: ${errorMessage(err)}`);
    }
  };

  await open(s.after);
  return {
    async close() {
      closed = true;
      await closeSession();
    },
  };
}

function fayeMessage(err: unknown): string {
  if (err && typeof err === 'object' && 'message' in err) return String((err as { message: unknown }).message);
  return errorMessage(err);
}
