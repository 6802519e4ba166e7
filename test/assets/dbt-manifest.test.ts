import test from 'ava';
import { modelsFromManifest, type Manifest } from '../../assets/dbt/manifest.js';

const node = (id: string, extra: Record<string, unknown>) => ({
  unique_id: id,
  package_name: 'proj',
  config: {},
  depends_on: { nodes: [] },
  ...extra,
});

const manifest = {
  metadata: { project_name: 'proj' },
  sources: {
    'source.proj.sf_raw.sf_user': { unique_id: 'source.proj.sf_raw.sf_user', schema: 'sf_raw', name: 'sf_user', meta: { asset_key: 'sf_raw/sf_user' } },
    'source.proj.other.thing': { unique_id: 'source.proj.other.thing', schema: 'other', name: 'thing' },
  },
  nodes: {
    'model.proj.stg': node('model.proj.stg', { resource_type: 'model', name: 'stg', schema: 'sf_staging', config: { materialized: 'view' }, depends_on: { nodes: ['source.proj.sf_raw.sf_user', 'source.proj.other.thing'] } }),
    'model.proj.int': node('model.proj.int', { resource_type: 'model', name: 'int', schema: 'main', config: { materialized: 'ephemeral' }, depends_on: { nodes: ['model.proj.stg'] } }),
    'model.proj.dim': node('model.proj.dim', { resource_type: 'model', name: 'dim', schema: 'sf_curated', config: { materialized: 'incremental', meta: { asset_key: 'curated/dimension' } }, depends_on: { nodes: ['model.proj.int'] } }),
    'model.other_pkg.x': node('model.other_pkg.x', { resource_type: 'model', name: 'x', schema: 's', package_name: 'other_pkg' }),
    'test.proj.unique_dim_key': node('test.proj.unique_dim_key', { resource_type: 'test', name: 'unique_dim_key', schema: 'audit', config: { severity: 'ERROR' }, attached_node: 'model.proj.dim', test_metadata: { name: 'unique' }, depends_on: { nodes: ['model.proj.dim'] } }),
    'test.proj.accepted': node('test.proj.accepted', { resource_type: 'test', name: 'accepted', schema: 'audit', config: { severity: 'warn' }, attached_node: 'model.proj.dim', test_metadata: { name: 'accepted_values', kwargs: { column_name: 'division' } }, depends_on: { nodes: ['model.proj.dim'] } }),
    'test.proj.integrity': node('test.proj.integrity', { resource_type: 'test', name: 'integrity', schema: 'audit', config: { severity: 'error' }, attached_node: null, depends_on: { nodes: ['model.proj.dim'] } }),
    'test.proj.soft_singular': node('test.proj.soft_singular', { resource_type: 'test', name: 'soft_singular', schema: 'audit', config: { severity: 'error', meta: { blocking: false } }, depends_on: { nodes: ['model.proj.dim'] } }),
    'test.proj.source_test': node('test.proj.source_test', { resource_type: 'test', name: 'source_test', schema: 'audit', config: { severity: 'error' }, attached_node: null, test_metadata: { name: 'not_null' }, depends_on: { nodes: ['source.proj.sf_raw.sf_user'] } }),
  },
  unit_tests: {
    'unit_test.proj.dim.aba': node('unit_test.proj.dim.aba', { resource_type: 'unit_test', name: 'aba', model: 'dim', depends_on: { nodes: ['model.proj.dim'] } }),
  },
} as unknown as Manifest;

test('models become assets: meta or schema/name keys, ephemeral models folded, sources mapped, other packages ignored', (t) => {
  const models = modelsFromManifest(manifest);
  t.deepEqual(models.map((m) => [m.key, m.deps]), [
    ['curated/dimension', ['sf_staging/stg']],
    ['sf_staging/stg', ['other/thing', 'sf_raw/sf_user']],
  ]);
  t.deepEqual(models.map((m) => m.materialized), ['incremental', 'view']);
});

test('tests become checks with their severity; singular ERROR tests and unit tests block unless meta says otherwise', (t) => {
  const dim = modelsFromManifest(manifest).find((m) => m.name === 'dim')!;
  t.deepEqual(
    dim.checks.map((c) => [c.name, c.severity, c.blocking]),
    [
      ['accepted', 'WARN', false],
      ['integrity', 'ERROR', true],
      ['soft_singular', 'ERROR', false],
      ['unique_dim_key', 'ERROR', false],
      ['unit_test:aba', 'ERROR', true],
    ],
  );
  const stg = modelsFromManifest(manifest).find((m) => m.name === 'stg')!;
  t.deepEqual(stg.checks, [], 'source tests are not checks of a model');
});

test('a generic test on a column is labelled by the test and the column (its name is long and ends in a hash)', (t) => {
  const withColumn = { ...manifest, nodes: { ...manifest.nodes } };
  withColumn.nodes['test.proj.unique_dim_key'] = { ...withColumn.nodes['test.proj.unique_dim_key']!, column_name: 'user_key' };
  const dim = modelsFromManifest(withColumn).find((m) => m.name === 'dim')!;
  t.deepEqual(
    dim.checks.map((c) => [c.name, c.label ?? null]),
    [
      ['accepted', 'accepted_values on division'], // the column from the test's arguments
      ['integrity', null],
      ['soft_singular', null],
      ['unique_dim_key', 'unique on user_key'], // the node's column_name
      ['unit_test:aba', null],
    ],
  );
});
