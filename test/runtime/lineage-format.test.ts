import test from 'ava';
import type { LineageAsset } from '../../runtime/lineage.js';
import { renderLineage } from '../../runtime/lineage-format.js';

const asset = (key: string, deps: string[] = []): LineageAsset => ({
  key,
  external: false,
  description: '',
  group: 'g',
  owners: [],
  kinds: [],
  tags: {},
  deps,
  downstream: [],
  lastMaterialization: null,
  checks: [],
  freshness: { state: 'UNKNOWN', lagMs: null, deadline: null, reason: '' },
});

test('mermaid: keys that flatten to the same id stay distinct nodes, and edges point at the right one', (t) => {
  const out = renderLineage([asset('a.b/c'), asset('a_b/c'), asset('x/y', ['a_b/c'])], 'mermaid');
  t.is(
    out,
    ['flowchart LR', '  n_a_b_c["a.b/c"]', '  n_a_b_c_2["a_b/c"]', '  n_x_y["x/y"]', '  n_a_b_c_2 --> n_x_y', ''].join('\n'),
  );
});
