import type { AlertKind } from '../alerts/types.js';

/**
 * The `sfpipe ui` page an alert links to: a run's outcome to the run's page, a check result or a
 * freshness state to its asset's page. `base` is where the UI is served (no trailing slash).
 */
export function uiPageFor(base: string, t: { kind: AlertKind; assetKey: string; runId: string | null }): string {
  if (t.kind === 'run' && t.runId) return `${base}/runs/${encodeURIComponent(t.runId)}`;
  return `${base}/asset?key=${encodeURIComponent(t.assetKey)}`;
}
