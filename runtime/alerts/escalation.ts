/**
 * Escalation: an alert still unresolved `afterMs` after it was first sent goes once more, to the
 * escalation channel (its own webhook or recipients); its recovery goes there too. The state is
 * the event log's alert ledger, whose markers are created once, so `check` runs in different
 * pods (or a check and a materialize at once) escalate an alert exactly once.
 */
import type { AlertLedger } from '../storage/event-log.js';
import type { Logger } from '../logging.js';
import { sendAlerts } from './notifiers.js';
import type { AlertEvent, Notifier } from './types.js';

/** What can fail: one open alert per kind, asset and check. */
export function alertId(ev: Pick<AlertEvent, 'kind' | 'assetKey' | 'checkName'>): string {
  // A run's failure names its failed assets, its recovery the selection: runs are one alert.
  return ev.kind === 'run' ? 'run' : `${ev.kind}|${ev.assetKey}|${ev.checkName ?? ''}`;
}

export interface EscalationOptions {
  ledger: AlertLedger;
  /** The alerts just sent (state changes), in order. */
  events: AlertEvent[];
  afterMs: number;
  /** The escalation channel's notifiers. */
  notifiers: Notifier[];
  now: () => Date;
  log: Logger;
}

/**
 * Records the alerts just sent in the ledger (an alert opens; a recovery closes it, and goes to
 * the escalation channel when the alert had been escalated), then escalates every open alert
 * older than `afterMs` that no one escalated yet. Never throws: a broken ledger is logged.
 */
export async function trackAndEscalate(opts: EscalationOptions): Promise<{ escalated: number; recoveries: number }> {
  const { ledger, log } = opts;
  const out: AlertEvent[] = [];
  let escalated = 0;
  let recoveries = 0;
  try {
    for (const ev of opts.events) {
      const id = alertId(ev);
      if (!ev.recovered) {
        await ledger.openAlert({ alertId: id, openedAt: ev.timestamp, event: { ...ev } });
        continue;
      }
      const closed = await ledger.closeAlert(id);
      if (!closed) continue;
      // Only an escalated alert's recovery goes to the escalation channel, and only once.
      if (!(await ledger.hasAlertMarker(id, closed.openedAt, 'escalated'))) continue;
      if (!(await ledger.claimAlertMarker(id, closed.openedAt, 'recovered', opts.now().toISOString()))) continue;
      out.push({ ...ev, escalated: { openedAt: closed.openedAt, afterMinutes: Math.round(opts.afterMs / 60_000) } });
      recoveries++;
    }
    const now = opts.now();
    for (const open of await ledger.openAlerts()) {
      const openedMs = Date.parse(open.openedAt);
      if (!Number.isFinite(openedMs) || now.getTime() - openedMs < opts.afterMs) continue;
      if (!(await ledger.claimAlertMarker(open.alertId, open.openedAt, 'escalated', now.toISOString()))) continue;
      const ev = open.event as unknown as AlertEvent;
      const minutes = Math.floor((now.getTime() - openedMs) / 60_000);
      out.push({
        ...ev,
        reason: `unresolved for ${minutes} min: ${ev.reason}`,
        timestamp: now.toISOString(),
        escalated: { openedAt: open.openedAt, afterMinutes: Math.round(opts.afterMs / 60_000) },
      });
      escalated++;
    }
  } catch (err) {
    log.warn('alert escalation: the event log\'s alert ledger failed; escalations may be late', { errorType: err instanceof Error ? err.name : typeof err, error: err instanceof Error ? err.message : String(err) });
  }
  if (out.length > 0) {
    if (opts.notifiers.length === 0) log.warn(`alert escalation: ${out.length} message(s) but no escalation channel is configured`);
    else await sendAlerts(opts.notifiers, out, log);
    log.info(`alert escalation: ${escalated} escalated, ${recoveries} recovery message(s)`, { escalated, recoveries });
  }
  return { escalated, recoveries };
}
