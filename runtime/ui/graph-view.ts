import dagre from '@dagrejs/dagre';
import type { AssetKey } from '../keys.js';
import type { LineageAsset } from '../lineage.js';
import type { AssetHealth, Health } from './health.js';
import { href, html, type Html } from './html.js';

const NODE_HEIGHT = 62;
const CHAR_WIDTH = 7.8;
const BADGES = [
  ['materialization', 'M', 'latest materialization'],
  ['checks', 'C', 'checks'],
  ['freshness', 'F', 'freshness'],
] as const;

export interface GraphNode {
  asset: LineageAsset;
  health: AssetHealth;
}

/**
 * The asset graph laid out left to right by dagre (Sugiyama layering, run here on the server, so
 * the page needs no script to show it) as inline SVG: one link per asset to its page, coloured by
 * its health, with M / C / F badges for the latest materialization, the checks and freshness.
 * `selected`: the keys a selection picked (highlighted; the others dimmed), or null for none.
 */
export function graphSvg(nodes: GraphNode[], selected: ReadonlySet<AssetKey> | null): Html {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 28, ranksep: 70, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  const shown = new Set(nodes.map((n) => n.asset.key));
  const kindOf = (a: LineageAsset) => (a.external ? 'external source' : a.kinds.join(', ') || 'asset');
  // Room for the key, and for the kind beside the three badges.
  for (const n of nodes) g.setNode(n.asset.key, { width: Math.ceil(Math.max(190, n.asset.key.length * CHAR_WIDTH + 28, kindOf(n.asset).length * 6.2 + 104)), height: NODE_HEIGHT });
  const edges: [AssetKey, AssetKey][] = [];
  for (const n of nodes) {
    for (const d of n.asset.deps) {
      if (!shown.has(d)) continue;
      g.setEdge(d, n.asset.key);
      edges.push([d, n.asset.key]);
    }
  }
  dagre.layout(g);
  const { width = 0, height = 0 } = g.graph();

  const edgeSvg = edges.map(([from, to]) => {
    const points: { x: number; y: number }[] = g.edge(from, to).points ?? [];
    const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    const cls = selected ? (selected.has(from) && selected.has(to) ? 'edge selected' : 'edge dimmed') : 'edge';
    return html`<path class="${cls}" data-from="${from}" data-to="${to}" d="${d}" marker-end="url(#arrow)"/>`;
  });

  const nodeSvg = nodes.map(({ asset, health }) => {
    const box = g.node(asset.key);
    const x = box.x - box.width / 2;
    const y = box.y - box.height / 2;
    const sel = selected ? (selected.has(asset.key) ? ' selected' : ' dimmed') : '';
    const kind = kindOf(asset);
    const badges = BADGES.map(([field, letter, label], i) => {
      const h: Health = health[field];
      return html`<g class="badge health-${h}" transform="translate(${box.width - 78 + i * 24},${box.height - 24})"><title>${label}: ${h}</title><rect width="20" height="16" rx="3"/><text x="10" y="12">${letter}</text></g>`;
    });
    const tooltip = [asset.key, `health: ${health.overall}`, ...health.reasons].join('\n');
    return html`<a class="node-link" href="${href('/asset', { key: asset.key })}"><g class="node health-${health.overall}${sel}" data-key="${asset.key}" data-health="${health.overall}" transform="translate(${x.toFixed(1)},${y.toFixed(1)})"><title>${tooltip}</title><rect class="node-box${asset.external ? ' external' : ''}" width="${box.width}" height="${box.height}" rx="8"/><text class="node-key" x="12" y="22">${asset.key}</text><text class="node-kind" x="12" y="44">${kind}</text>${badges}</g></a>`;
  });

  return html`<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${Math.ceil(width)} ${Math.ceil(height)}" width="${Math.ceil(width)}" height="${Math.ceil(height)}" role="img" aria-label="asset graph"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow-head"/></marker></defs><g class="edges">${edgeSvg}</g><g class="nodes">${nodeSvg}</g></svg>`;
}
