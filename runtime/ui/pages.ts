import type { AssetDef } from '../definitions.js';
import { UsageError } from '../errors.js';
import { isRunIdText, isRunTrigger, MIN_RUN_ID_PREFIX, RUN_TRIGGER_KINDS, type EventLog, type RunRecord, type RunStatus } from '../storage/event-log.js';
import { formatDuration } from '../freshness.js';
import type { AssetGraph } from '../graph.js';
import { buildLineage, type LineageAsset } from '../lineage.js';
import { buildAssetGraph } from '../registry.js';
import type { SensorDef } from '../sensors.js';
import type { EnvironmentSummary } from '../pipeline.js';
import { jsonText, lineageReport, runEventsReport, runsReport } from '../reports.js';
import { selectAssets } from '../selection/index.js';
import { assetHistory } from './asset-history.js';
import { barChart } from './chart.js';
import { UiHttpError, type UiExtension, type UiRequest, type UiResult, type UiRoute } from './extension.js';
import { graphSvg } from './graph-view.js';
import { assetHealth, latestSteps, type Health } from './health.js';
import { cellText, href, html, type Html } from './html.js';

export interface PagesContext {
  definitions: readonly AssetDef<any>[];
  /** The pipeline's sensors (in the lineage JSON, as the CLI's). */
  sensors: readonly SensorDef[];
  /** The environment (in the lineage JSON, as the CLI's, and on the graph page). */
  environment?: EnvironmentSummary;
  eventLog: EventLog;
  extension: UiExtension;
  now: () => Date;
  /** The CLI's program name, in the commands the pages show. */
  program: string;
  /** Metadata numbers charted on an asset's page when present, in this order (others are listed in its table). */
  chartedMetadata: readonly string[];
}

const RUN_STATUSES: readonly RunStatus[] = ['STARTED', 'SUCCESS', 'FAILURE', 'CANCELED'];
const HEALTHS: readonly Health[] = ['ok', 'warn', 'fail', 'unknown', 'external'];
const MAX_SELECT_LENGTH = 2000;

/** A query parameter, length-checked; '' when absent. */
function param(req: UiRequest, name: string, max = 200): string {
  const v = req.params.get(name) ?? '';
  if (v.length > max) throw new UiHttpError(400, `${name} is longer than ${max} characters`);
  return v;
}

function positiveInt(req: UiRequest, name: string, fallback: number, max: number): number {
  const v = param(req, name, 12);
  if (v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0 || n > max) throw new UiHttpError(400, `${name} must be a whole number from 1 to ${max}`);
  return n;
}

/** A run id or a unique prefix of one (as the CLI's `events` takes): isRunIdText. */
export function checkRunId(id: string): string {
  if (!isRunIdText(id)) throw new UiHttpError(400, "a run id is letters, digits, dashes and a retry's .N (at most 80)");
  return id;
}

/** The selection a request asks for: undefined for none (an empty box selects nothing to highlight). */
function selectionText(req: UiRequest): string | undefined {
  const text = param(req, 'select', MAX_SELECT_LENGTH);
  return text.trim() === '' ? undefined : text;
}

/** `--select` as a shell word: bare when safe, else single-quoted. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=+*-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command that runs the same materialization again. */
export function reproduceCommand(run: RunRecord, program: string): string {
  const select = run.selection && run.selection !== '*' ? ` --select ${shellWord(run.selection)}` : '';
  return `${program} materialize${select}${run.fullRefresh ? ' --full-refresh' : ''}`;
}

function duration(run: RunRecord): string {
  return run.endedAt ? formatDuration(Date.parse(run.endedAt) - Date.parse(run.startedAt)) : '-';
}

const runLink = (runId: string, text = runId.slice(0, 8)) => html`<a class="mono" href="${href(`/runs/${encodeURIComponent(runId)}`)}">${text}</a>`;
const assetLink = (key: string) => html`<a class="mono" href="${href('/asset', { key })}">${key}</a>`;
const pill = (h: Health) => html`<span class="pill health-${h}">${h}</span>`;

/** The core pages and JSON endpoints (the server adds the extension's routes after them). */
export function coreRoutes(ctx: PagesContext): UiRoute[] {
  const graph = (): AssetGraph => buildAssetGraph(ctx.definitions);
  return [
    { pattern: /^\/$/, handle: async (_m, req) => graphPage(ctx, req) },
    { pattern: /^\/asset$/, handle: async (_m, req) => assetPage(ctx, req) },
    { pattern: /^\/runs$/, handle: async (_m, req) => runsPage(ctx, req) },
    { pattern: /^\/runs\/([^/]+)$/, handle: async (m) => runPage(ctx, checkRunId(decodeURIComponent(m[1]!))) },
    {
      pattern: /^\/api\/lineage$/,
      handle: async (_m, req) => ({ kind: 'json', text: jsonText(await lineageReport(ctx.definitions, selectionOrAll(req), ctx.eventLog, ctx.now(), ctx.sensors, ctx.environment)) }),
    },
    { pattern: /^\/api\/runs$/, handle: async (_m, req) => ({ kind: 'json', text: jsonText(await runsReport(ctx.eventLog, positiveInt(req, 'limit', 20, 1000))) }) },
    {
      pattern: /^\/api\/runs\/([^/]+)$/,
      handle: async (m) => {
        const id = checkRunId(decodeURIComponent(m[1]!));
        const report = await runEventsReport(ctx.eventLog, id);
        if (!report) throw new UiHttpError(404, `no run with id "${id}"`);
        return { kind: 'json', text: jsonText(report) };
      },
    },
    {
      pattern: /^\/api\/selection$/,
      handle: async (_m, req) => {
        const g = graph();
        const text = selectionText(req);
        const keys = g.sort(selectAssets(text, g));
        return { kind: 'json', text: jsonText({ keys, summary: `${keys.length} selected: ${keys.join(', ')}` }) };
      },
    },
  ];
}

/** For /api/lineage: `select` as the CLI's --select (absent: everything; present but empty: the CLI's usage error). */
function selectionOrAll(req: UiRequest): string | undefined {
  return req.params.has('select') ? param(req, 'select', MAX_SELECT_LENGTH) : undefined;
}

async function healthOf(ctx: PagesContext, assets: LineageAsset[]) {
  const steps = await latestSteps(ctx.eventLog, assets.map((a) => a.key));
  return assets.map((asset) => ({ asset, health: assetHealth(asset, steps.get(asset.key)) }));
}

async function graphPage(ctx: PagesContext, req: UiRequest): Promise<UiResult> {
  const { assets } = await lineageReport(ctx.definitions, undefined, ctx.eventLog, ctx.now());
  const nodes = await healthOf(ctx, assets);
  const text = selectionText(req);
  let selected: Set<string> | null = null;
  let result: Html = html`<pre id="selection-result"></pre>`;
  if (text !== undefined) {
    try {
      const g = buildAssetGraph(ctx.definitions);
      selected = selectAssets(text, g);
      const keys = g.sort(selected);
      result = html`<pre id="selection-result" class="ok">${keys.length} selected: ${keys.join(', ')}</pre>`;
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      result = html`<pre id="selection-result" class="error">${err.message}</pre>`;
    }
  }
  const legend = HEALTHS.map((h) => html`<span><span class="swatch health-${h}"></span>${h}</span>`);
  const rows = nodes.map(
    ({ asset, health }) =>
      html`<tr data-key="${asset.key}" class="${selected ? (selected.has(asset.key) ? 'selected' : 'dimmed') : ''}"><td>${assetLink(asset.key)}</td><td>${pill(health.overall)}</td><td>${asset.external ? 'external' : asset.lastMaterialization ? html`${asset.lastMaterialization.timestamp} (${runLink(asset.lastMaterialization.runId)})` : 'never'}</td><td class="fr-${asset.freshness.state}">${asset.freshness.state}</td><td>${health.reasons.join('; ')}</td></tr>`,
  );
  const edges = assets.reduce((n, a) => n + a.deps.length, 0);
  const env = ctx.environment ? html`<p id="environment" class="muted">environment: <strong>${ctx.environment.name}</strong> (${ctx.environment.summary})</p>` : html``;
  const body = html`<h1>Asset graph</h1>
${env}
<form id="selection-form" class="inline" method="get" action="/"><label for="select">Selection</label><input id="select" class="select-box" type="text" name="select" value="${text ?? ''}" placeholder="e.g. +sf_curated/dim_sf_user_scd, kind:dbt, tag:layer=raw" spellcheck="false" autocomplete="off"><button type="submit">Highlight</button><a href="/">clear</a></form>
${result}
<div class="legend">${legend}<span class="muted">badges: M latest materialization · C checks · F freshness</span></div>
<div class="graph-wrap">${graphSvg(nodes, selected)}</div>
<p class="muted">${assets.length} assets, ${edges} dependencies. JSON: <a href="/api/lineage">/api/lineage</a> (= <code>${ctx.program} lineage --json</code>).</p>
<h2>Assets</h2>
<table id="assets"><thead><tr><th>asset</th><th>health</th><th>last materialization</th><th>freshness</th><th>why</th></tr></thead><tbody>${rows}</tbody></table>`;
  return { kind: 'page', title: 'Asset graph', body };
}

async function assetPage(ctx: PagesContext, req: UiRequest): Promise<UiResult> {
  const key = param(req, 'key', 500);
  const graph = buildAssetGraph(ctx.definitions);
  if (!key || !graph.has(key)) throw new UiHttpError(404, `no asset with key "${key}"; the assets are listed on the graph page`);
  const assets = await buildLineage(graph, new Set([key]), ctx.eventLog, ctx.now());
  const [{ asset: a, health }] = await healthOf(ctx, assets) as [{ asset: LineageAsset; health: ReturnType<typeof assetHealth> }];
  const history = await assetHistory(ctx.eventLog, key, 100);
  const mats = [...history.materializations].reverse();
  const numericKeys = [...new Set(mats.flatMap((m) => Object.keys(m.metadata).filter((k) => typeof m.metadata[k] === 'number')))];
  const charted = ctx.chartedMetadata.filter((k) => numericKeys.includes(k));
  const charts = charted.map((k) =>
    barChart(
      k,
      mats.filter((m) => typeof m.metadata[k] === 'number').map((m) => ({ at: m.timestamp, value: m.metadata[k] as number, label: `${m.timestamp} run ${m.runId.slice(0, 8)}` })),
    ),
  );
  const shownMeta = (m: Record<string, unknown>) => Object.entries(m).filter(([k]) => k !== 'summary');
  const matRows = history.materializations.map(
    (m) => html`<tr><td>${m.timestamp}</td><td>${runLink(m.runId)}</td><td class="data">${typeof m.metadata.summary === 'string' ? html`<div>${m.metadata.summary}</div>` : ''}${shownMeta(m.metadata).map(([k, v]) => html`<div><b>${k}</b>: ${cellText(v)}</div>`)}</td></tr>`,
  );
  const checkDefs = a.checks.map(
    (c) => html`<tr><td class="mono">${c.name}</td><td>${c.severity}${c.blocking ? ', blocking' : ''}</td><td class="res-${c.lastResult ?? 'none'}">${c.lastResult ?? 'not run'}</td><td>${c.lastEvaluatedAt ?? ''}</td></tr>`,
  );
  const checkRows = history.checkResults.map(
    (c) => html`<tr><td>${c.timestamp}</td><td>${runLink(c.runId)}</td><td class="mono">${c.checkName}</td><td>${c.severity}</td><td class="res-${c.passed ? 'PASSED' : 'FAILED'}">${c.passed ? 'PASSED' : 'FAILED'}</td><td>${c.description ?? ''}</td></tr>`,
  );
  const freshRows = history.freshness.map(
    (f) => html`<tr><td>${f.timestamp}</td><td class="fr-${f.state}">${f.state}</td><td>${f.previousState ?? ''}</td><td>${cellText(f.metadata.reason)}</td><td>${f.runId ? runLink(f.runId) : `${ctx.program} check`}</td></tr>`,
  );
  const f = a.freshness;
  const sections = (await ctx.extension.assetSections?.(key)) ?? [];
  const list = (keys: string[]) => (keys.length ? keys.map((k, i) => html`${i ? ', ' : ''}${assetLink(k)}`) : html`-`);
  const body = html`<h1>${a.key} ${pill(health.overall)}</h1>
${a.description ? html`<p>${a.description}</p>` : ''}
${a.unavailable ? html`<div class="error-box">unavailable here: ${a.unavailable.reason}</div>` : ''}
<dl class="facts"><dt>kind</dt><dd>${a.external ? 'external source' : a.kinds.join(', ')}</dd><dt>group</dt><dd>${a.group}</dd><dt>owners</dt><dd>${a.owners.join(', ') || '-'}</dd><dt>tags</dt><dd>${Object.entries(a.tags).map(([k, v]) => `${k}${v ? `=${v}` : ''}`).join(', ') || '-'}</dd><dt>upstream</dt><dd id="upstream">${list(a.deps)}</dd><dt>downstream</dt><dd id="downstream">${list(a.downstream)}</dd><dt>last materialization</dt><dd>${a.lastMaterialization ? html`${a.lastMaterialization.timestamp} (run ${runLink(a.lastMaterialization.runId)})` : a.external ? 'external' : 'never'}</dd><dt>freshness</dt><dd class="fr-${f.state}">${f.state}${f.lagMs !== null ? ` (age ${formatDuration(f.lagMs)})` : ''}${f.deadline ? `, deadline ${f.deadline}` : ''} — ${f.reason}</dd><dt>health</dt><dd>${health.reasons.join('; ') || 'nothing to report'}</dd></dl>
<p class="muted">CLI: <code>${ctx.program} lineage --select ${shellWord(`key:${a.key}`)}</code></p>
${a.external ? '' : html`<h2>Materializations</h2>${charts.length ? html`<div class="charts">${charts}</div>` : ''}
<table id="materializations"><thead><tr><th>time</th><th>run</th><th>metadata</th></tr></thead><tbody>${matRows.length ? matRows : html`<tr><td colspan="3">none yet</td></tr>`}</tbody></table>`}
<h2>Checks</h2>
${checkDefs.length ? html`<table id="checks"><thead><tr><th>check</th><th>severity</th><th>last result</th><th>evaluated</th></tr></thead><tbody>${checkDefs}</tbody></table>` : html`<p class="muted">no checks</p>`}
${checkRows.length ? html`<details><summary>Results (${checkRows.length}, newest first)</summary><table id="check-results"><thead><tr><th>time</th><th>run</th><th>check</th><th>severity</th><th>result</th><th>description</th></tr></thead><tbody>${checkRows}</tbody></table></details>` : ''}
<h2>Freshness evaluations</h2>
${freshRows.length ? html`<table id="freshness"><thead><tr><th>time</th><th>state</th><th>was</th><th>reason</th><th>by</th></tr></thead><tbody>${freshRows}</tbody></table>` : html`<p class="muted">none recorded (<code>${ctx.program} check</code> records them)</p>`}
${sections.map((s) => html`<h2>${s.title}</h2>${s.body}`)}`;
  return { kind: 'page', title: a.key, body };
}

async function runsPage(ctx: PagesContext, req: UiRequest): Promise<UiResult> {
  const status = param(req, 'status', 20);
  const trigger = param(req, 'trigger', 60);
  if (status && !(RUN_STATUSES as readonly string[]).includes(status)) throw new UiHttpError(400, `status must be one of ${RUN_STATUSES.join(', ')}`);
  if (trigger && !isRunTrigger(trigger)) throw new UiHttpError(400, `trigger must be one of ${RUN_TRIGGER_KINDS.join(', ')} or sensor:<name>`);
  const limit = positiveInt(req, 'limit', 50, 1000);
  // Filtered among the newest runs (more than shown, so a filter still fills the page).
  const { runs } = await runsReport(ctx.eventLog, Math.min(1000, limit * 4));
  const shown = runs.filter((r) => (!status || r.status === status) && (!trigger || r.trigger === trigger)).slice(0, limit);
  // The fixed kinds, and each sensor that started one of these runs.
  const triggerChoices = [...new Set<string>([...RUN_TRIGGER_KINDS, ...runs.map((r) => r.trigger), ...(trigger ? [trigger] : [])])];
  const options = (values: readonly string[], current: string) => [html`<option value="">any</option>`, ...values.map((v) => html`<option value="${v}"${v === current ? html` selected` : ''}>${v}</option>`)];
  const rows = shown.map(
    (r) =>
      html`<tr data-run-id="${r.runId}"><td>${runLink(r.runId, r.runId)}</td><td class="status-${r.status}">${r.status}</td><td>${r.trigger}</td><td>${r.startedAt}</td><td>${duration(r)}</td><td class="mono">${r.selection}${r.fullRefresh ? ' (full refresh)' : ''}</td><td>${r.error ?? ''}</td></tr>`,
  );
  const body = html`<h1>Runs</h1>
<form class="inline" method="get" action="/runs"><label>status <select name="status">${options(RUN_STATUSES, status)}</select></label><label>trigger <select name="trigger">${options(triggerChoices, trigger)}</select></label><label>limit <input type="text" name="limit" value="${limit}" size="4"></label><button type="submit">Filter</button></form>
<table id="runs"><thead><tr><th>run</th><th>status</th><th>trigger</th><th>started</th><th>duration</th><th>selection</th><th>error</th></tr></thead><tbody>${rows.length ? rows : html`<tr><td colspan="7">no runs</td></tr>`}</tbody></table>
<p class="muted">JSON: <a href="${href('/api/runs', { limit })}">/api/runs</a> (= <code>${ctx.program} runs --json --limit ${limit}</code>)</p>`;
  return { kind: 'page', title: 'Runs', body };
}

async function runPage(ctx: PagesContext, id: string): Promise<UiResult> {
  const report = await runEventsReport(ctx.eventLog, id);
  if (!report) throw new UiHttpError(404, `no run with id "${id}"${id.length < MIN_RUN_ID_PREFIX ? ` (a prefix needs at least ${MIN_RUN_ID_PREFIX} characters)` : ''}`);
  const { run, events } = report;
  const rows = events.map(
    (e) =>
      html`<tr class="event" data-type="${e.type}"><td>${e.seq}</td><td>${e.timestamp}</td><td class="mono">${e.type}</td><td>${e.assetKey ? assetLink(e.assetKey) : ''}</td><td class="data">${Object.keys(e.data).length ? JSON.stringify(e.data) : ''}</td></tr>`,
  );
  const body = html`<h1>Run <span class="mono">${run.runId}</span></h1>
<dl class="facts"><dt>status</dt><dd class="status-${run.status}">${run.status}</dd><dt>trigger</dt><dd>${run.trigger}</dd><dt>selection</dt><dd class="mono">${run.selection}${run.fullRefresh ? ' (full refresh)' : ''}</dd><dt>assets</dt><dd>${run.assets.map((k, i) => html`${i ? ', ' : ''}${assetLink(k)}`)}</dd><dt>started</dt><dd>${run.startedAt}</dd><dt>ended</dt><dd>${run.endedAt ?? '-'} (${duration(run)})</dd>${run.error ? html`<dt>error</dt><dd class="status-FAILURE">${run.error}</dd>` : ''}</dl>
<h2>Reproduce</h2>
<pre id="reproduce">${reproduceCommand(run, ctx.program)}</pre>
<p class="muted">These events in a terminal: <code>${ctx.program} events ${run.runId.slice(0, 8)}</code> · JSON: <a href="${href(`/api/runs/${encodeURIComponent(run.runId)}`)}">/api/runs/${run.runId.slice(0, 8)}…</a></p>
<h2>Events</h2>
<table id="events"><thead><tr><th>#</th><th>time</th><th>type</th><th>asset</th><th>data</th></tr></thead><tbody>${rows}</tbody></table>`;
  return { kind: 'page', title: `Run ${run.runId.slice(0, 8)}`, body };
}
