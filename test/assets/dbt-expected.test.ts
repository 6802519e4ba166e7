import test from 'ava';
import { dbtExpected } from '../../assets/dbt/load-dbt-assets.js';
import { DbtNotFoundError } from '../../assets/dbt/run-dbt.js';

test('dbt is expected to load everywhere but on a machine with no dbt at all, on DuckDB, outside a cluster (a laptop before `make setup`)', (t) => {
  const notFound = new DbtNotFoundError('dbt is not installed at "dbt"');
  const broken = new Error('`dbt parse` failed');
  t.false(dbtExpected(notFound, 'duckdb', {}), 'a laptop before make setup');
  t.true(dbtExpected(broken, 'duckdb', {}), 'dbt is installed but fails: a broken model, profile or adapter');
  t.true(dbtExpected(notFound, 'duckdb', { SFPIPE_DBT: '/opt/venv/bin/dbt' }), 'the image names its dbt');
  t.true(dbtExpected(notFound, 'duckdb', { KUBERNETES_SERVICE_HOST: '10.0.0.1' }), 'in a cluster');
  t.true(dbtExpected(notFound, 'athena', {}), 'Athena has no fallback');
  t.false(dbtExpected(notFound, 'duckdb', { SFPIPE_DBT: '', KUBERNETES_SERVICE_HOST: '' }), 'empty variables are unset');
});
