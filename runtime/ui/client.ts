import type { Health } from './health.js';

/** Node fill and stroke per health (the CSS below and the tests read them from here). */
export const HEALTH_COLOURS: Record<Health, { fill: string; stroke: string }> = {
  ok: { fill: '#c8e6c9', stroke: '#2e7d32' },
  warn: { fill: '#ffe0b2', stroke: '#e65100' },
  fail: { fill: '#ffcdd2', stroke: '#c62828' },
  unknown: { fill: '#eeeeee', stroke: '#757575' },
  external: { fill: '#e3f2fd', stroke: '#1565c0' },
};

const healthCss = Object.entries(HEALTH_COLOURS)
  .map(
    ([h, c]) =>
      `.node.health-${h} .node-box, .badge.health-${h} rect, .swatch.health-${h} { fill: ${c.fill}; stroke: ${c.stroke}; background: ${c.fill}; border-color: ${c.stroke}; }\n` +
      `.pill.health-${h} { background: ${c.fill}; border-color: ${c.stroke}; }`,
  )
  .join('\n');

/** The stylesheet, served as /static/ui.css (the CSP allows no inline style). */
export const CSS = `
:root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; }
body { margin: 0; background: #fafafa; }
header { background: #263238; color: #fff; padding: 10px 20px; display: flex; gap: 24px; align-items: baseline; }
header .brand { font-weight: 600; font-size: 17px; color: #fff; text-decoration: none; }
header nav a { color: #cfd8dc; margin-right: 16px; text-decoration: none; }
header nav a:hover { color: #fff; }
main { padding: 16px 20px 40px; max-width: 1400px; }
h1 { font-size: 21px; margin: 4px 0 12px; word-break: break-all; }
h2 { font-size: 16px; margin: 22px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; background: #fff; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eceff1; }
td.data { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; max-width: 640px; overflow-wrap: anywhere; }
code, pre, .mono { font-family: ui-monospace, Menlo, Consolas, monospace; }
pre { background: #fff; border: 1px solid #ddd; padding: 8px; overflow: auto; font-size: 12px; }
pre.sql { max-height: 420px; }
form.inline { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 8px 0; }
input[type=text], select { font: inherit; padding: 4px 6px; }
input.select-box { width: 420px; font-family: ui-monospace, Menlo, Consolas, monospace; }
button { font: inherit; padding: 4px 12px; }
#selection-result { white-space: pre; margin: 6px 0; padding: 6px 8px; border: 1px solid transparent; font-size: 13px; }
#selection-result:empty { display: none; }
#selection-result.error { color: #b71c1c; background: #ffebee; border-color: #ef9a9a; }
#selection-result.ok { color: #1b5e20; background: #f1f8e9; border-color: #c5e1a5; }
.graph-wrap { background: #fff; border: 1px solid #ddd; padding: 8px; overflow: auto; }
svg.graph .edge { fill: none; stroke: #90a4ae; stroke-width: 1.6; }
svg.graph .arrow-head { fill: #90a4ae; }
svg.graph .node-box { stroke-width: 2; }
svg.graph .node-box.external { stroke-dasharray: 5 3; }
svg.graph .node-key { font: 600 13px ui-monospace, Menlo, Consolas, monospace; fill: #1b1b1b; }
svg.graph .node-kind { font-size: 11px; fill: #455a64; }
svg.graph .badge text { font: 600 10px sans-serif; text-anchor: middle; fill: #1b1b1b; }
svg.graph .badge rect { stroke-width: 1.2; }
svg.graph .node.selected .node-box { stroke: #6a1b9a; stroke-width: 4; }
svg.graph .edge.selected { stroke: #6a1b9a; stroke-width: 2.5; }
svg.graph .dimmed { opacity: 0.28; }
svg.graph a:hover .node-box { filter: brightness(0.95); }
${healthCss}
.legend { display: flex; gap: 14px; font-size: 12px; margin: 6px 0; flex-wrap: wrap; }
.swatch { display: inline-block; width: 14px; height: 12px; border: 2px solid; vertical-align: middle; margin-right: 4px; }
.pill { display: inline-block; border: 1px solid; border-radius: 10px; padding: 0 8px; font-size: 12px; }
.status-SUCCESS, .res-PASSED, .fr-PASS { color: #1b5e20; }
.status-FAILURE, .res-FAILED, .fr-FAIL { color: #b71c1c; font-weight: 600; }
.status-CANCELED, .fr-WARN { color: #e65100; }
.status-STARTED, .fr-UNKNOWN { color: #37474f; }
.charts { display: flex; flex-wrap: wrap; gap: 10px; }
figure.chart { margin: 0; background: #fff; border: 1px solid #ddd; }
figure.chart .bar { fill: #5c6bc0; }
figure.chart .axis { stroke: #999; }
figure.chart .chart-title { font-size: 11px; font-weight: 600; fill: #333; }
figure.chart .chart-axis { font-size: 10px; fill: #666; }
svg.timeline .version { stroke: #fff; stroke-width: 1; }
svg.timeline .version.current { stroke: #1b1b1b; stroke-width: 1.5; }
svg.timeline .version.deleted { fill: #bdbdbd; }
svg.timeline text { font-size: 11px; fill: #1b1b1b; }
svg.timeline .tick { font-size: 10px; fill: #666; }
.muted { color: #666; }
.error-box { color: #b71c1c; background: #ffebee; border: 1px solid #ef9a9a; padding: 8px; white-space: pre-wrap; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 3px 14px; font-size: 14px; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
`;

/**
 * The page script, served as /static/ui.js. Lists, tables and the graph work without it; with it,
 * the selection box highlights in place (the CLI's parser answers through /api/selection).
 */
export const SCRIPT = `'use strict';
(function () {
  var form = document.getElementById('selection-form');
  if (!form) return;
  var input = form.querySelector('input[name=select]');
  var out = document.getElementById('selection-result');
  var updates = 0;
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = input.value;
    var query = text.trim() === '' ? '' : '?select=' + encodeURIComponent(text);
    fetch('/api/selection' + query, { headers: { accept: 'application/json' } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        var on = res.ok && query !== '';
        var keys = new Set(res.ok ? res.body.keys : []);
        document.querySelectorAll('svg.graph .node').forEach(function (n) {
          n.classList.toggle('selected', on && keys.has(n.dataset.key));
          n.classList.toggle('dimmed', on && !keys.has(n.dataset.key));
        });
        document.querySelectorAll('svg.graph .edge').forEach(function (e) {
          var both = keys.has(e.dataset.from) && keys.has(e.dataset.to);
          e.classList.toggle('selected', on && both);
          e.classList.toggle('dimmed', on && !both);
        });
        out.textContent = res.ok ? (on ? res.body.summary : '') : res.body.error;
        out.className = res.ok ? (on ? 'ok' : '') : 'error';
        history.replaceState(null, '', location.pathname + query);
        document.body.setAttribute('data-selection-updates', String(++updates));
      });
  });
})();
`;
