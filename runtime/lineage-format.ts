import { formatDuration } from './freshness.js';
import type { LineageAsset } from './lineage.js';

export type LineageFormat = 'text' | 'json' | 'mermaid' | 'dot';

export function renderLineage(assets: LineageAsset[], format: LineageFormat, options: { color?: boolean } = {}): string {
  switch (format) {
    case 'json':
      return JSON.stringify({ assets }, null, 2) + '\n';
    case 'mermaid':
      return renderMermaid(assets);
    case 'dot':
      return renderDot(assets);
    case 'text':
      return renderText(assets, options.color ?? false);
  }
}

function renderText(assets: LineageAsset[], color: boolean): string {
  const paint = (code: number, s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const lines: string[] = [];
  for (const a of assets) {
    const kind = a.external ? 'external' : a.kinds.join(', ') || 'asset';
    const f = a.freshness;
    const bad = f.state === 'FAIL' || a.checks.some((c) => c.lastResult === 'FAILED' && c.severity === 'ERROR');
    const warn = f.state === 'WARN' || a.checks.some((c) => c.lastResult === 'FAILED');
    const marker = bad || a.unavailable?.expected ? paint(31, '✗ ') : warn || a.unavailable ? paint(33, '! ') : '  ';
    lines.push(`${marker}${paint(1, a.key)}  (${kind}; group ${a.group})`);
    if (a.description) lines.push(`    ${a.description}`);
    if (a.unavailable) lines.push(`    ${paint(a.unavailable.expected ? 31 : 33, 'UNAVAILABLE')} here: ${a.unavailable.reason}`);
    lines.push(`    upstream:   ${a.deps.length ? a.deps.join(', ') : '-'}`);
    lines.push(`    downstream: ${a.downstream.length ? a.downstream.join(', ') : '-'}`);
    if (!a.external) {
      const m = a.lastMaterialization;
      lines.push(`    last materialized: ${m ? `${m.timestamp} (run ${m.runId.slice(0, 8)})` : 'never'}`);
    }
    const age = f.lagMs === null ? '' : `, age ${formatDuration(f.lagMs)}`;
    const deadline = f.deadline ? `, deadline ${f.deadline}` : '';
    const state = f.state === 'FAIL' ? paint(31, f.state) : f.state === 'WARN' ? paint(33, f.state) : f.state;
    lines.push(`    freshness: ${state}${age}${deadline}${f.state === 'NOT_APPLICABLE' ? '' : ` — ${f.reason}`}`);
    for (const c of a.checks) {
      const r = c.lastResult === null ? 'not run' : c.lastResult === 'FAILED' ? paint(c.severity === 'ERROR' ? 31 : 33, 'FAILED') : 'PASSED';
      lines.push(`    check ${c.name} [${c.severity}${c.blocking ? ', blocking' : ''}]: ${r}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** Readable Mermaid node ids, one per key: keys that flatten alike (a.b/c, a_b/c) get a suffix. */
function nodeIds(keys: string[]): (key: string) => string {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const key of keys) {
    const base = 'n_' + key.replace(/[^A-Za-z0-9_]/g, '_');
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}_${n}`;
    used.add(id);
    ids.set(key, id);
  }
  return (key) => ids.get(key)!;
}

function renderMermaid(assets: LineageAsset[]): string {
  const nodeId = nodeIds(assets.map((a) => a.key));
  const lines = ['flowchart LR'];
  for (const a of assets) {
    const label = JSON.stringify(a.unavailable ? `${a.key} (unavailable)` : a.key);
    lines.push(a.external ? `  ${nodeId(a.key)}[(${label})]` : `  ${nodeId(a.key)}[${label}]`);
  }
  const shown = new Set(assets.map((a) => a.key));
  for (const a of assets) for (const d of a.deps) if (shown.has(d)) lines.push(`  ${nodeId(d)} --> ${nodeId(a.key)}`);
  return lines.join('\n') + '\n';
}

function renderDot(assets: LineageAsset[]): string {
  const lines = ['digraph assets {', '  rankdir=LR;'];
  for (const a of assets) {
    lines.push(`  ${JSON.stringify(a.key)} [shape=${a.external ? 'cylinder' : 'box'}${a.unavailable ? ', style=dashed, tooltip="unavailable here"' : ''}];`);
  }
  const shown = new Set(assets.map((a) => a.key));
  for (const a of assets) for (const d of a.deps) if (shown.has(d)) lines.push(`  ${JSON.stringify(d)} -> ${JSON.stringify(a.key)};`);
  lines.push('}');
  return lines.join('\n') + '\n';
}
