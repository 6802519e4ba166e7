import type { AlertEvent, AlertKind } from './types.js';

export interface StateTransition {
  assetKey: string;
  previousState: string | null;
  state: string;
  reason: string;
  runId: string | null;
  kind: AlertKind;
  checkName?: string;
  /** Overrides the default look-closer command. */
  command?: string;
  /** ISO; defaults to now. */
  timestamp?: string;
}

export interface TransitionOptions {
  /** Builds the look-closer command; default `sfpipe lineage --select <assetKey>`. */
  command?: (t: StateTransition) => string;
  now?: () => Date;
  /** The web page to link (e.g. `sfpipe ui`'s asset or run page); none when absent or null. */
  link?: (t: StateTransition) => string | null;
}

const BAD = new Set(['FAIL', 'FAILED', 'WARN', 'WARNING', 'ERROR']);
const GOOD = new Set(['PASS', 'PASSED', 'SUCCESS', 'OK']);

const norm = (s: string | null | undefined): string | null => (s === null || s === undefined ? null : String(s).trim().toUpperCase());

/** A state that is worth telling someone about (FAIL/FAILED/WARN…). UNKNOWN / NOT_APPLICABLE never are. */
export function isAlertingState(state: string | null): boolean {
  const s = norm(state);
  return s !== null && BAD.has(s);
}

export function isPassingState(state: string | null): boolean {
  const s = norm(state);
  return s !== null && GOOD.has(s);
}

export function defaultCommand(t: Pick<StateTransition, 'assetKey'>): string {
  return `sfpipe lineage --select ${t.assetKey}`;
}

/**
 * Pure: which evaluations are state changes worth a message.
 * - into a bad state (FAIL/WARN/FAILED) from anything else, first evaluation included → alert;
 * - from a bad state back to PASS/PASSED → recovery alert;
 * - the state holds, or moves between neutral states (PASS, UNKNOWN, NOT_APPLICABLE), or from bad to
 *   UNKNOWN / NOT_APPLICABLE (not a recovery) → nothing.
 */
export function alertsForTransitions(transitions: StateTransition[], options: TransitionOptions = {}): AlertEvent[] {
  const now = options.now ?? (() => new Date());
  const commandFor = options.command ?? defaultCommand;
  const out: AlertEvent[] = [];
  for (const t of transitions) {
    const prev = norm(t.previousState);
    const cur = norm(t.state);
    if (cur === null || cur === prev) continue;
    let recovered: boolean;
    if (isAlertingState(cur)) recovered = false;
    else if (isPassingState(cur) && isAlertingState(prev)) recovered = true;
    else continue;
    const ev: AlertEvent = {
      kind: t.kind,
      assetKey: t.assetKey,
      state: t.state,
      previousState: t.previousState,
      recovered,
      reason: t.reason,
      runId: t.runId,
      command: t.command ?? commandFor(t),
      timestamp: t.timestamp ?? now().toISOString(),
    };
    if (t.checkName !== undefined) ev.checkName = t.checkName;
    const url = options.link?.(t);
    if (url) ev.url = url;
    out.push(ev);
  }
  return out;
}
