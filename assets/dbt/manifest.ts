import fs from 'node:fs';
import path from 'node:path';
import type { CheckSeverity } from '../../runtime/definitions.js';
import type { AssetKey } from '../../runtime/keys.js';

export interface DbtCheckSpec {
  uniqueId: string;
  name: string;
  /** For a generic test on a column, "<test> on <column>" (its name is long and ends in a hash). */
  label?: string;
  severity: CheckSeverity;
  blocking: boolean;
  description: string;
}

export interface DbtModelAsset {
  uniqueId: string;
  name: string;
  key: AssetKey;
  deps: AssetKey[];
  description: string;
  materialized: string;
  tags: string[];
  checks: DbtCheckSpec[];
}

interface ManifestNode {
  unique_id: string;
  resource_type: string;
  package_name: string;
  name: string;
  schema: string;
  description?: string;
  tags?: string[];
  /** `schema`: the model's configured schema (+schema), before generate_schema_name adds the environment's suffix. */
  config: { materialized?: string; severity?: string; meta?: Record<string, unknown>; schema?: string | null };
  meta?: Record<string, unknown>;
  depends_on?: { nodes?: string[] };
  attached_node?: string | null;
  test_metadata?: { name: string; kwargs?: Record<string, unknown> } | null;
  column_name?: string | null;
  model?: string;
  raw_code?: string;
  compiled_code?: string;
  original_file_path?: string;
}

export interface Manifest {
  metadata: { project_name?: string; dbt_version?: string; adapter_type?: string };
  nodes: Record<string, ManifestNode>;
  sources: Record<string, { unique_id: string; schema: string; name: string; source_name?: string; relation_name?: string | null; meta?: Record<string, unknown> }>;
  unit_tests?: Record<string, ManifestNode>;
}

export function manifestPath(targetPath: string): string {
  return path.join(targetPath, 'manifest.json');
}

export function readManifestFile(file: string): Manifest {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
}

const metaKey = (meta: Record<string, unknown> | undefined): string | undefined =>
  typeof meta?.asset_key === 'string' ? meta.asset_key : undefined;

/**
 * The project's models as assets: key from meta.asset_key or `<schema>/<name>`, where schema is
 * the configured one (sf_curated), not where this environment builds it (sf_curated_alice in dev),
 * so keys, freshness policies and the event log's history are the same in every environment; ephemeral
 * models are folded into their dependents; sources map onto the assets that load them;
 * data tests and unit tests become checks of the model they test.
 */
export function modelsFromManifest(manifest: Manifest): DbtModelAsset[] {
  const project = manifest.metadata.project_name;
  const nodes = manifest.nodes;
  const isOurModel = (n: ManifestNode | undefined): n is ManifestNode => !!n && n.resource_type === 'model' && (!project || n.package_name === project);
  const keyOf = (id: string): AssetKey[] => {
    const source = manifest.sources[id];
    if (source) return [metaKey(source.meta) ?? `${source.schema}/${source.name}`];
    const n = nodes[id];
    if (!isOurModel(n)) return [];
    if (n.config.materialized === 'ephemeral') return (n.depends_on?.nodes ?? []).flatMap(keyOf);
    return [metaKey(n.config.meta) ?? metaKey(n.meta) ?? `${n.config.schema ?? n.schema}/${n.name}`];
  };

  const models = Object.values(nodes).filter((n) => isOurModel(n) && n.config.materialized !== 'ephemeral');
  const checksByModel = new Map<string, DbtCheckSpec[]>();
  const attach = (modelId: string, check: DbtCheckSpec) => {
    const list = checksByModel.get(modelId) ?? [];
    list.push(check);
    checksByModel.set(modelId, list);
  };
  for (const n of Object.values(nodes)) {
    if (n.resource_type !== 'test') continue;
    const modelDeps = (n.depends_on?.nodes ?? []).filter((d) => isOurModel(nodes[d]));
    const target = n.attached_node ?? (modelDeps.length === 1 ? modelDeps[0] : undefined);
    if (!target || !isOurModel(nodes[target])) continue;
    const severity: CheckSeverity = (n.config.severity ?? 'error').toUpperCase() === 'WARN' ? 'WARN' : 'ERROR';
    const meta = { ...(n.meta ?? {}), ...(n.config.meta ?? {}) };
    const singular = !n.test_metadata;
    const column = n.column_name ?? (typeof n.test_metadata?.kwargs?.column_name === 'string' ? n.test_metadata.kwargs.column_name : null);
    attach(target, {
      uniqueId: n.unique_id,
      name: n.name,
      ...(n.test_metadata && column ? { label: `${n.test_metadata.name} on ${column}` } : {}),
      severity,
      // Singular tests hold the model's invariants (e.g. SCD integrity): they block downstream.
      blocking: typeof meta.blocking === 'boolean' ? meta.blocking : singular && severity === 'ERROR',
      description: n.description || (n.test_metadata ? `dbt ${n.test_metadata.name} test` : 'dbt singular test'),
    });
  }
  for (const u of Object.values(manifest.unit_tests ?? {})) {
    const target = (u.depends_on?.nodes ?? []).find((d) => isOurModel(nodes[d]) && nodes[d]!.name === u.model) ?? (u.depends_on?.nodes ?? []).find((d) => isOurModel(nodes[d]));
    if (!target) continue;
    attach(target, { uniqueId: u.unique_id, name: `unit_test:${u.name}`, severity: 'ERROR', blocking: true, description: u.description || 'dbt unit test' });
  }

  return models
    .map((n) => ({
      uniqueId: n.unique_id,
      name: n.name,
      key: keyOf(n.unique_id)[0]!,
      deps: [...new Set((n.depends_on?.nodes ?? []).flatMap(keyOf))].sort(),
      description: (n.description ?? '').trim(),
      materialized: n.config.materialized ?? 'view',
      tags: n.tags ?? [],
      checks: (checksByModel.get(n.unique_id) ?? []).sort((a, b) => a.name.localeCompare(b.name)),
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}
