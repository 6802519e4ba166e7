/** Prometheus text exposition format 0.0.4. */

export type MetricType = 'gauge' | 'counter';

export interface MetricSample {
  name: string;
  help: string;
  type: MetricType;
  labels?: Record<string, string>;
  value: number;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isValidMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

/** Label names: [a-zA-Z_][a-zA-Z0-9_]*, and `__` prefixes are reserved for Prometheus. */
export function isValidLabelName(name: string): boolean {
  return LABEL_NAME.test(name) && !name.startsWith('__');
}

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export class MetricsFormatError extends Error {
  override name = 'MetricsFormatError';
}

function labelBlock(labels: Record<string, string> | undefined, metric: string): string {
  const entries = Object.entries(labels ?? {});
  if (!entries.length) return '';
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [k, v] of entries) {
    if (!isValidLabelName(k)) throw new MetricsFormatError(`metric ${metric}: invalid label name ${JSON.stringify(k)}`);
    if (typeof v !== 'string') throw new MetricsFormatError(`metric ${metric}: label ${k} is not a string`);
  }
  return '{' + entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',') + '}';
}

/**
 * One `# HELP` and `# TYPE` per metric name, its samples together (names in order of first
 * appearance), label values escaped, ends with a newline. Throws MetricsFormatError on an invalid
 * metric/label name, a name used with two types, or the same name+labels twice.
 */
export function renderPrometheusText(samples: MetricSample[]): string {
  const groups = new Map<string, { help: string; type: MetricType; lines: string[]; seen: Set<string> }>();
  for (const s of samples) {
    if (!isValidMetricName(s.name)) throw new MetricsFormatError(`invalid metric name ${JSON.stringify(s.name)}`);
    if (s.type !== 'gauge' && s.type !== 'counter') throw new MetricsFormatError(`metric ${s.name}: unsupported type ${JSON.stringify(s.type)}`);
    if (typeof s.value !== 'number') throw new MetricsFormatError(`metric ${s.name}: value is not a number`);
    let g = groups.get(s.name);
    if (!g) {
      g = { help: s.help ?? '', type: s.type, lines: [], seen: new Set() };
      groups.set(s.name, g);
    } else if (g.type !== s.type) {
      throw new MetricsFormatError(`metric ${s.name} is both ${g.type} and ${s.type}`);
    }
    const labels = labelBlock(s.labels, s.name);
    if (g.seen.has(labels)) throw new MetricsFormatError(`metric ${s.name}${labels} appears twice`);
    g.seen.add(labels);
    g.lines.push(`${s.name}${labels} ${formatValue(s.value)}`);
  }
  const out: string[] = [];
  for (const [name, g] of groups) {
    out.push(`# HELP ${name} ${escapeHelp(g.help)}`, `# TYPE ${name} ${g.type}`, ...g.lines);
  }
  return out.length ? out.join('\n') + '\n' : '';
}
