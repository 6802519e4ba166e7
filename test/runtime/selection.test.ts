import test from 'ava';
import { defineAsset, defineExternalAsset, type AssetDef, type AssetSpec } from '../../runtime/definitions.js';
import { DefinitionError, UsageError } from '../../runtime/errors.js';
import { buildAssetGraph } from '../../runtime/registry.js';
import {
  SelectionSyntaxError,
  UnknownAssetError,
  parseSelection,
  resolveSelection,
  selectAssets,
} from '../../runtime/selection/index.js';

const materialize = async () => ({});
const asset = (spec: Omit<AssetSpec, 'materialize'>): AssetDef => defineAsset({ ...spec, materialize });

/*
 * The fixture graph (edges run dependency -> dependent):
 *
 *   salesforce/User (external) -> sf_raw/sf_user -> sf_raw/sf_user_versions -> sf_staging/stg_sf_user_history -+
 *                                       \                                                                        v
 *                                        +-------> sf_staging/stg_sf_user ------------------------> sf_curated/dim_sf_user_scd
 *                                                                                                     |            |
 *                                                                                                     v            |
 *   ref/country_codes (external) -> ref/country_dim ---------+                 sf_curated/fct_user_activity        |
 *                                                            v                                        v            v
 *                                                       reports/user_dashboard <----------------------+------------+
 *   ops/heartbeat (alone)
 */
const defs: AssetDef[] = [
  defineExternalAsset({
    key: 'salesforce/User',
    group: 'salesforce',
    owners: ['team:integrations'],
    kinds: ['salesforce'],
    tags: { source: 'salesforce', tier: 'bronze' },
  }),
  asset({
    key: 'sf_raw/sf_user',
    deps: ['salesforce/User'],
    group: 'raw',
    owners: ['data-eng@example.com'],
    kinds: ['python', 'sqlite'],
    tags: { layer: 'raw', pii: 'true' },
  }),
  asset({
    key: 'sf_raw/sf_user_versions',
    deps: ['sf_raw/sf_user'],
    group: 'raw',
    owners: ['data-eng@example.com'],
    kinds: ['sqlite'],
    tags: { layer: 'raw', pii: 'true' },
  }),
  asset({
    key: 'sf_staging/stg_sf_user',
    deps: ['sf_raw/sf_user'],
    group: 'staging',
    owners: ['team:analytics'],
    kinds: ['dbt', 'sqlite'],
    tags: { layer: 'staging', pii: 'true' },
  }),
  asset({
    key: 'sf_staging/stg_sf_user_history',
    deps: ['sf_raw/sf_user_versions'],
    group: 'staging',
    owners: ['team:analytics'],
    kinds: ['dbt'],
    tags: { layer: 'staging', pii: 'false' },
  }),
  asset({
    key: 'sf_curated/dim_sf_user_scd',
    deps: ['sf_staging/stg_sf_user', 'sf_staging/stg_sf_user_history'],
    group: 'curated',
    owners: ['team:analytics', 'ana@example.com'],
    kinds: ['dbt'],
    tags: { layer: 'curated', tier: 'gold' },
  }),
  asset({
    key: 'sf_curated/fct_user_activity',
    deps: ['sf_curated/dim_sf_user_scd'],
    group: 'curated',
    kinds: ['dbt'],
    tags: { layer: 'curated', 'team name': 'growth ops' },
  }),
  defineExternalAsset({
    key: 'ref/country_codes',
    group: 'ref',
    kinds: ['csv'],
  }),
  asset({
    key: 'ref/country_dim',
    deps: ['ref/country_codes'],
    group: 'ref',
    kinds: ['dbt'],
    tags: { layer: 'staging' },
  }),
  asset({
    key: 'reports/user_dashboard',
    deps: ['sf_curated/dim_sf_user_scd', 'sf_curated/fct_user_activity', 'ref/country_dim'],
    group: 'reporting',
    owners: ['ana@example.com'],
    kinds: ['python'],
    tags: { tier: 'gold' },
  }),
  asset({
    key: 'ops/heartbeat',
    group: 'ops',
    owners: ['team:platform'],
    kinds: ['python'],
    tags: { schedule: 'hourly' },
  }),
];

const graph = buildAssetGraph(defs);
const ALL = defs.map((d) => d.key).sort();
const without = (...keys: string[]): string[] => ALL.filter((k) => !keys.includes(k));

const SF = 'salesforce/User';
const RAW = 'sf_raw/sf_user';
const VERSIONS = 'sf_raw/sf_user_versions';
const STG = 'sf_staging/stg_sf_user';
const HIST = 'sf_staging/stg_sf_user_history';
const DIM = 'sf_curated/dim_sf_user_scd';
const FCT = 'sf_curated/fct_user_activity';
const CODES = 'ref/country_codes';
const CDIM = 'ref/country_dim';
const DASH = 'reports/user_dashboard';
const HEART = 'ops/heartbeat';

const CONFORMANCE: [string, string[]][] = [
  // all
  ['*', ALL],
  ['key:*', ALL],
  ['*+', ALL],
  // keys
  ['key:sf_raw/sf_user', [RAW]],
  ['key:"sf_raw/sf_user"', [RAW]],
  ['key:sf_raw/*', [RAW, VERSIONS]],
  ['key:"sf_staging/*"', [STG, HIST]],
  ['key:*user', [RAW, STG]], // key matching is case-sensitive
  ['key:*User', [SF]],
  ['key:*_user*', [RAW, VERSIONS, STG, HIST, DIM, FCT]],
  ['key:sf_*/*_scd', [DIM]],
  ['key:nothing_here/*', []],
  ['sf_raw/sf_user', [RAW]],
  ['salesforce/User', [SF]],
  ['"ops/heartbeat"', [HEART]],
  ['ref/*', [CODES, CDIM]],
  // attributes
  ['tag:tier', [SF, DIM, DASH]],
  ['tag:tier=gold', [DIM, DASH]],
  ['tag:pii=true', [RAW, VERSIONS, STG]],
  ['tag:"team name"="growth ops"', [FCT]],
  ['tag:layer=nope', []],
  ['tag:missing', []],
  ['group:raw', [RAW, VERSIONS]],
  ['group:"curated"', [DIM, FCT]],
  ['group:nope', []],
  ['owner:team:analytics', [STG, HIST, DIM]],
  ['owner:ana@example.com', [DIM, DASH]],
  ['owner:"data-eng@example.com"', [RAW, VERSIONS]],
  ['kind:dbt', [STG, HIST, DIM, FCT, CDIM]],
  ['kind:sqlite', [RAW, VERSIONS, STG]],
  // traversal
  ['+sf_curated/dim_sf_user_scd', [SF, RAW, VERSIONS, STG, HIST, DIM]],
  ['1+sf_curated/dim_sf_user_scd', [STG, HIST, DIM]],
  ['2+key:sf_curated/dim_sf_user_scd', [RAW, VERSIONS, STG, HIST, DIM]],
  ['sf_raw/sf_user+', [RAW, VERSIONS, STG, HIST, DIM, FCT, DASH]],
  ['sf_raw/sf_user+1', [RAW, VERSIONS, STG]],
  ['sf_raw/sf_user+2', [RAW, VERSIONS, STG, HIST, DIM]],
  ['1+sf_raw/sf_user+1', [SF, RAW, VERSIONS, STG]],
  ['+key:sf_curated/fct_user_activity+', [SF, RAW, VERSIONS, STG, HIST, DIM, FCT, DASH]],
  ['0+ref/country_dim+0', [CDIM]],
  ['+group:ref', [CODES, CDIM]],
  ['group:ref+1', [CODES, CDIM, DASH]],
  ['+(tag:tier=gold and kind:python)', without(HEART)],
  ['1+roots(group:curated)', [STG, HIST, DIM]],
  ['+*', ALL],
  // boolean operators, any case
  ['group:raw or group:ref', [RAW, VERSIONS, CODES, CDIM]],
  ['kind:dbt and group:staging', [STG, HIST]],
  ['kind:dbt AND tag:layer=curated', [DIM, FCT]],
  ['group:raw Or group:ops', [RAW, VERSIONS, HEART]],
  ['not kind:dbt', [SF, RAW, VERSIONS, CODES, DASH, HEART]],
  ['NOT group:curated and kind:dbt', [STG, HIST, CDIM]],
  ['not (group:curated and kind:dbt)', without(DIM, FCT)],
  ['not not group:ops', [HEART]],
  ['group:ops or group:raw and kind:python', [RAW, HEART]],
  ['(group:ops or group:raw) and kind:python', [RAW, HEART]],
  ['(group:ops or group:raw) and not kind:python', [VERSIONS]],
  ['not group:ops or group:raw and kind:sqlite', without(HEART)],
  ['kind:python and not tag:tier or group:ref', [RAW, CODES, CDIM, HEART]],
  ['key:sf_raw/* and not sf_raw/sf_user', [VERSIONS]],
  ['((group:raw))', [RAW, VERSIONS]],
  ['sf_raw/sf_user+ and +sf_curated/dim_sf_user_scd', [RAW, VERSIONS, STG, HIST, DIM]],
  // functions
  ['roots(*)', [SF, CODES, HEART]],
  ['sinks(*)', [DASH, HEART]],
  ['roots(kind:dbt)', [STG, HIST, CDIM]],
  ['sinks(kind:dbt)', [FCT, CDIM]],
  ['roots(+sf_curated/dim_sf_user_scd)', [SF]],
  ['sinks(sf_raw/sf_user+)', [DASH]],
  ['roots(group:raw or group:staging)', [RAW]],
  ['sinks(roots(kind:dbt))', [STG, HIST, CDIM]],
  ['roots(sinks(kind:dbt) or group:raw)', [RAW, FCT, CDIM]],
  ['roots(kind:dbt)+1', [STG, HIST, CDIM, DIM, DASH]],
  ['not roots(*) and not sinks(*)', without(SF, CODES, HEART, DASH)],
  // external assets and combinations
  ['salesforce/User+1', [SF, RAW]],
  ['kind:salesforce or kind:csv', [SF, CODES]],
  ['+reports/user_dashboard and not key:sf_*', [SF, CODES, CDIM, DASH]],
  ['  group:raw   or\tgroup:ops  ', [RAW, VERSIONS, HEART]],
  ['owner:team:analytics and tag:pii=false or owner:team:platform', [HIST, HEART]],
];

for (const [expr, expected] of CONFORMANCE) {
  test(`select ${expr}`, (t) => {
    t.deepEqual([...resolveSelection(parseSelection(expr), graph)].sort(), [...expected].sort());
    if (expected.length > 0) t.deepEqual([...selectAssets(expr, graph)].sort(), [...expected].sort());
    else t.throws(() => selectAssets(expr, graph), { instanceOf: UsageError, message: /matches no asset/ });
  });
}

const ERRORS: [string, number, string][] = [
  ['key:((', 5, 'expected a value, found "("'],
  ['a and', 6, 'expected an expression, found end of input'],
  ['(a', 3, 'expected ")", found end of input'],
  ['roots(a', 8, 'expected ")", found end of input'],
  ['tag:', 5, 'expected a value, found end of input'],
  ['tag:tier=', 10, 'expected a value, found end of input'],
  ['key:"sf_raw/sf_user', 20, `expected a closing '"' for the string opened at column 5`],
  ['"a\\x"', 3, 'expected \'\\"\' or \'\\\\\''],
  ['a)', 2, 'expected "and", "or" or end of input, found ")"'],
  [')', 1, 'expected an expression, found ")"'],
  ['a b', 3, 'expected "and", "or" or end of input, found "b"'],
  ['2+', 3, 'expected an expression, found end of input'],
  ['', 1, 'expected an expression, found end of input'],
  ['a and or b', 7, 'expected an expression, found "or"'],
  ['not', 4, 'expected an expression'],
  ['color:red', 1, 'expected an attribute ("key:", "tag:", "group:", "owner:", "kind:"), found "color:"'],
  ['leaves(a)', 1, 'expected a function name ("roots" or "sinks"), found "leaves"'],
  ['group:a=b', 8, 'expected "and", "or" or end of input, found "="'],
  ['a && b', 3, 'found "&"'],
  ['++a', 2, 'expected an expression, found "+"'],
  ['a+1+', 4, 'expected "and", "or" or end of input, found "+"'],
  ['(a or b', 8, 'expected ")"'],
  ['roots()', 7, 'expected an expression, found ")"'],
];

for (const [expr, column, message] of ERRORS) {
  test(`syntax error in ${JSON.stringify(expr)}`, (t) => {
    const err = t.throws(() => parseSelection(expr), { instanceOf: SelectionSyntaxError });
    t.is(err?.column, column);
    t.true(err?.message.includes(message), err?.message);
    t.true(err?.message.startsWith(`selection syntax error at column ${column}: expected ${err?.expected}, found `));
  });
}

test('syntax error message echoes the expression with a caret under the column', (t) => {
  const err = t.throws(() => parseSelection('key:(('), { instanceOf: SelectionSyntaxError });
  t.is(err?.expected, 'a value');
  t.is(err?.message, 'selection syntax error at column 5: expected a value, found "("\n  key:((\n      ^');
});

test('unknown exact key is an error naming the key and suggesting close ones', (t) => {
  const err = t.throws(() => selectAssets('key:sf_raw/sf_usr', graph), { instanceOf: UnknownAssetError });
  t.is(err?.key, 'sf_raw/sf_usr');
  t.true(err?.message.startsWith('no asset matches key:sf_raw/sf_usr'), err?.message);
  t.true(err?.suggestions.includes(RAW));
  t.true(err?.message.includes('did you mean key:sf_raw/sf_user'), err?.message);
});

test('unknown bare key deep inside an expression is still an error', (t) => {
  const err = t.throws(() => selectAssets('group:raw or not roots(dim_sf_user_scd)', graph), {
    instanceOf: UnknownAssetError,
  });
  t.true(err?.message.includes('no asset matches key:dim_sf_user_scd'));
  t.deepEqual(err?.suggestions, [DIM]);
});

test('unknown key with no close match has no suggestion', (t) => {
  const err = t.throws(() => selectAssets('zzzzzzzz', graph), { instanceOf: UnknownAssetError });
  t.is(err?.message, 'no asset matches key:zzzzzzzz; list the assets, groups and owners with: sfpipe lineage');
});

test('undefined and * select every asset', (t) => {
  for (const text of [undefined, '*', ' * ']) t.deepEqual([...selectAssets(text, graph)].sort(), ALL);
});

test('a blank selection (an unset shell variable) is an error, not everything', (t) => {
  for (const text of ['', '   ']) {
    const err = t.throws(() => selectAssets(text, graph), { instanceOf: UsageError });
    t.regex(err!.message, /the selection is empty; leave --select out \(or pass "\*"\)/);
  }
});

test('a selection that matches no asset is an error naming it', (t) => {
  const err = t.throws(() => selectAssets('group:nope or tag:tier=zzz', graph), { instanceOf: UsageError });
  t.is(err!.message, 'the selection "group:nope or tag:tier=zzz" matches no asset; list the assets, groups and owners with: sfpipe lineage');
});

test('parseSelection and resolveSelection compose', (t) => {
  const node = parseSelection('2+X+1'.replace('X', 'sf_staging/stg_sf_user'));
  t.like(node, { type: 'traverse', up: 2, down: 1, operand: { type: 'key', pattern: STG } });
  t.deepEqual([...resolveSelection(node, graph)].sort(), [SF, RAW, STG, DIM].sort());
});

test('keywords are case-insensitive and bind not > and > or', (t) => {
  t.like(parseSelection('a OR b aNd NoT c'), {
    type: 'or',
    left: { type: 'key', pattern: 'a' },
    right: { type: 'and', left: { type: 'key', pattern: 'b' }, right: { type: 'not', operand: { type: 'key', pattern: 'c' } } },
  });
});

test('quoted values unescape \\" and \\\\', (t) => {
  t.like(parseSelection('tag:"say \\"hi\\""="back\\\\slash"'), { type: 'tag', name: 'say "hi"', value: 'back\\slash' });
});

// AssetGraph / registry validation.

test('registry rejects a duplicate key', (t) => {
  const err = t.throws(() => buildAssetGraph([asset({ key: 'a' }), asset({ key: 'a' })]), { instanceOf: DefinitionError });
  t.is(err?.message, 'asset key "a" is declared twice');
});

test('registry rejects an unknown dep', (t) => {
  const err = t.throws(() => buildAssetGraph([asset({ key: 'a', deps: ['ghost'] })]), { instanceOf: DefinitionError });
  t.is(err?.message, 'asset "a" depends on "ghost", which is not declared');
});

test('registry rejects a cycle and names its path', (t) => {
  const err = t.throws(
    () => buildAssetGraph([asset({ key: 'a', deps: ['c'] }), asset({ key: 'b', deps: ['a'] }), asset({ key: 'c', deps: ['b'] }), asset({ key: 'd' })]),
    { instanceOf: DefinitionError },
  );
  t.is(err?.message, 'dependency cycle: a -> b -> c -> a');
});

test('graph traversal helpers', (t) => {
  t.deepEqual(graph.parents(DIM), [STG, HIST].sort());
  t.deepEqual(graph.children(RAW), [VERSIONS, STG].sort());
  t.deepEqual([...graph.upstream(DIM, 1)].sort(), [STG, HIST].sort());
  t.deepEqual([...graph.downstream(DIM)].sort(), [FCT, DASH].sort());
  const order = graph.keys();
  for (const def of defs) for (const dep of def.deps) t.true(order.indexOf(dep) < order.indexOf(def.key));
});
