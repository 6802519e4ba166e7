import { UsageError } from '../../runtime/errors.js';
import type { AssetKey } from '../../runtime/keys.js';
import type { PipelineContext } from '../../runtime/pipeline.js';
import { jsonText } from '../../runtime/reports.js';
import { UiHttpError, type UiExtension, type UiResult, type UiSection } from '../../runtime/ui/extension.js';
import { cellText, href, html, type Html } from '../../runtime/ui/html.js';
import { DIMENSION, HISTORY_COLUMNS, checkUserId, userHistory } from '../cli/history-command.js';

/**
 * This pipeline's part of `sfpipe ui`: a user's history (the `sfpipe history` table, with the
 * versions on a timeline) and, on a dbt model's page, its SQL from dbt's manifest.
 */
export function pipelineUi(ctx: PipelineContext): UiExtension {
  return {
    nav: [{ label: 'User history', href: '/history' }],
    routes: [
      { pattern: /^\/history$/, handle: async (_m, req) => historyPage(ctx, req.params.get('id') ?? '') },
      { pattern: /^\/history\/([^/]+)$/, handle: async (m) => historyPage(ctx, decodeURIComponent(m[1]!)) },
      {
        pattern: /^\/api\/history\/([^/]+)$/,
        handle: async (m) => {
          const report = await userHistory(checkId(decodeURIComponent(m[1]!)), ctx.stateDir);
          // As `sfpipe history --json`: the same document; no versions is the CLI's exit 1, here a 404.
          return { kind: 'json', text: jsonText(report), status: report.versions.length ? 200 : 404 };
        },
      },
    ],
    assetSections: async (key) => dbtSqlSections(ctx.stateDir, key),
  };
}

function checkId(id: string): string {
  try {
    return checkUserId(id.slice(0, 100));
  } catch (err) {
    if (err instanceof UsageError) throw new UiHttpError(400, err.message);
    throw err;
  }
}

async function historyPage(ctx: PipelineContext, id: string): Promise<UiResult> {
  const form = html`<form class="inline" method="get" action="/history"><label for="id">Salesforce User Id</label><input id="id" type="text" name="id" value="${id}" size="22" maxlength="18" placeholder="005… (15 or 18 characters)" spellcheck="false"><button type="submit">Show</button></form>`;
  if (id === '') return { kind: 'page', title: 'User history', body: html`<h1>User history</h1>${form}<p class="muted">The versions of one user in ${DIMENSION}, as <code>sfpipe history &lt;id&gt;</code> shows them.</p>` };
  const { userId, versions } = await userHistory(checkId(id), ctx.stateDir);
  if (versions.length === 0) {
    return { kind: 'page', status: 404, title: 'User history', body: html`<h1>User history</h1>${form}<p class="error-box" id="error">no versions of ${id} in ${DIMENSION}: no such user, or not extracted yet</p>` };
  }
  const rows = versions.map((v) => html`<tr class="version${v.is_current === true ? ' current' : ''}">${HISTORY_COLUMNS.map((c) => html`<td class="data">${cellText(v[c])}</td>`)}</tr>`);
  const name = versions.at(-1)!.name;
  const body = html`<h1>User <span class="mono">${userId}</span>${typeof name === 'string' ? html` — <span id="user-name">${name}</span>` : ''}</h1>
${form}
<h2>Timeline</h2>
${timeline(versions)}
<h2>Versions (${versions.length})</h2>
<table id="history"><thead><tr>${HISTORY_COLUMNS.map((c) => html`<th>${c}</th>`)}</tr></thead><tbody>${rows}</tbody></table>
<p class="muted">CLI: <code>sfpipe history ${userId}</code> · JSON: <a href="${href(`/api/history/${encodeURIComponent(userId)}`)}">/api/history/${userId}</a></p>`;
  return { kind: 'page', title: `User ${userId}`, body };
}

const PALETTE = ['#7986cb', '#4db6ac', '#ffb74d', '#e57373', '#9575cd', '#81c784', '#f06292', '#4fc3f7', '#a1887f', '#dce775'];

function colourOf(value: string, seen: Map<string, string>): string {
  let c = seen.get(value);
  if (!c) seen.set(value, (c = PALETTE[seen.size % PALETTE.length]!));
  return c;
}

const time = (v: unknown): number => (v === null || v === undefined ? NaN : Date.parse(String(v).replace(' ', 'T').replace(/(T[\d:.]+)$/, '$1Z')));

/** The versions as bars on a time axis (valid_from to valid_to; the current one runs to the end), coloured by division. */
function timeline(versions: Record<string, unknown>[]): Html {
  const width = 960;
  const rowH = 26;
  const left = 10;
  const right = 10;
  const starts = versions.map((v) => time(v.valid_from));
  const ends = versions.map((v) => time(v.valid_to));
  const known = [...starts, ...ends].filter(Number.isFinite);
  const lo = Math.min(...known);
  const hiKnown = Math.max(...known);
  const span = Math.max(hiKnown - lo, 86_400_000);
  const hi = hiKnown + span * 0.3;
  const x = (t: number) => left + ((t - lo) / (hi - lo)) * (width - left - right);
  const colours = new Map<string, string>();
  const bars = versions.map((v, i) => {
    const s = starts[i]!;
    const e = Number.isFinite(ends[i]!) ? ends[i]! : hi;
    const label = `${cellText(v.division) || '∅'} / ${cellText(v.audit_phase__c) || '∅'}`;
    const cls = `version${v.is_current === true ? ' current' : ''}${v.is_deleted === true ? ' deleted' : ''}`;
    const w = Math.max(3, x(e) - x(s));
    const tip = `${cellText(v.valid_from)} → ${cellText(v.valid_to) || 'now'}\ndivision: ${cellText(v.division)}\naudit phase: ${cellText(v.audit_phase__c)}\nactive: ${cellText(v.is_active)}, deleted: ${cellText(v.is_deleted)}\nname: ${cellText(v.name)}`;
    return html`<g class="version-bar" data-valid-from="${cellText(v.valid_from)}"><title>${tip}</title><rect class="${cls}" x="${x(s).toFixed(1)}" y="${i * rowH + 4}" width="${w.toFixed(1)}" height="${rowH - 6}" rx="3" fill="${colourOf(cellText(v.division), colours)}"/><text x="${(x(s) + 4).toFixed(1)}" y="${i * rowH + 18}">${label}${v.is_current === true ? ' (current)' : ''}${v.is_deleted === true ? ' (deleted)' : ''}</text></g>`;
  });
  const h = versions.length * rowH + 26;
  const iso = (t: number) => new Date(t).toISOString().slice(0, 16).replace('T', ' ');
  return html`<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" role="img" aria-label="versions on a timeline">${bars}<text class="tick" x="${left}" y="${h - 6}">${iso(lo)}</text><text class="tick" x="${x(hiKnown).toFixed(1)}" y="${h - 6}" text-anchor="middle">${iso(hiKnown)}</text></svg>`;
}

/** A dbt model's SQL as dbt last parsed (and, after a build, compiled) it: from target/manifest.json. */
async function dbtSqlSections(stateDir: string, key: AssetKey): Promise<UiSection[]> {
  const { locateDbtProject } = await import('../dbt/dbt-project.js');
  const { manifestPath, modelsFromManifest, readManifestFile } = await import('../dbt/manifest.js');
  let manifest;
  try {
    manifest = readManifestFile(manifestPath(locateDbtProject(stateDir).targetPath));
  } catch {
    return [];
  }
  // The model's asset key as the graph has it (the same rule: modelsFromManifest).
  const model = modelsFromManifest(manifest).find((m) => m.key === key);
  const node = model ? manifest.nodes[model.uniqueId] : undefined;
  if (!node?.raw_code) return [];
  const sections: UiSection[] = [{ title: `dbt SQL (${node.original_file_path ?? node.name})`, body: html`<pre class="sql" id="dbt-sql">${node.raw_code}</pre>` }];
  if (node.compiled_code) sections.push({ title: 'Compiled SQL', body: html`<pre class="sql" id="dbt-compiled-sql">${node.compiled_code}</pre>` });
  return sections;
}
