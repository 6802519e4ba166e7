/**
 * `_scd_id` (macro scd_row_hash) changes whenever the row changes: each column is encoded as 'N'
 * when null, else 'V' || length(text) || ':' || text, so no value collides with a null and no value
 * runs into the next column. The reference encoding (scd-oracle.ts referenceScdId) is the one every
 * engine must produce.
 */
import test from 'ava';
import { dbt, dbtWorkspace, describeFailures, loadWithWarehouse, withDuckDb } from './dbt-helpers.js';
import { referenceScdId, scdHashPart as part, type Observation, type ScdRow } from './scd-oracle.js';

const SELECT = ['--select', 'stg_sf_user', 'dim_sf_user_scd', '--target', 'dev'];

interface HashedRow extends ScdRow {
  user_key: string;
  _scd_id: string;
  /** As text: compared for equality only. */
  _dbt_updated_at: string;
}

async function readHashed(file: string): Promise<HashedRow[]> {
  return withDuckDb(file, async (run) =>
    (
      await run(
        `SELECT user_key, user_id, name, division, audit_phase__c, is_active, is_deleted,
                epoch_ms(update_date) AS update_date, epoch_ms(valid_from) AS valid_from, epoch_ms(valid_to) AS valid_to,
                is_current, _scd_id, CAST(_dbt_updated_at AS VARCHAR) AS _dbt_updated_at
         FROM sf_curated.dim_sf_user_scd ORDER BY user_id, valid_from`,
      )
    ).map((r) => ({
      ...(r as unknown as HashedRow),
      update_date: Number(r.update_date),
      valid_from: Number(r.valid_from),
      valid_to: r.valid_to === null ? null : Number(r.valid_to),
    })),
  );
}

const STAMP = Date.parse('2025-04-01T10:00:00.123Z');
const obs = (id: string, name: string | null, division: string | null, extra: Partial<Observation> = {}): Observation => ({
  id,
  name,
  division,
  audit_phase__c: 'Phase1',
  isactive: true,
  isdeleted: null,
  lastmodifieddate: STAMP - 1000,
  systemmodstamp: STAMP,
  ...extra,
});

test('_scd_id is the md5 of the null-flagged, length-prefixed columns, for nulls, \\N, NULL, empty strings, separators and non-Latin text', async (t) => {
  t.timeout(240_000);
  const { file, stateDir } = dbtWorkspace(t, 'sfpipe-scd-id-');
  const names: (string | null)[] = [null, '\\N', 'NULL', '', '|', 'a|', 'N', 'V1:x', '3:abc', 'tab\there', 'Zoë 日本 \u{1F600}'];
  const users = names.map((name, i) => obs(`u${String(i).padStart(2, '0')}`, name, i % 3 === 0 ? null : i % 3 === 1 ? '' : '|b'));
  // A second version with null tracked values and an inactive flag.
  users.push(obs('u00', 'x', null, { audit_phase__c: null, isactive: null, systemmodstamp: STAMP + 60_000 }));
  await loadWithWarehouse(file, users, 'scd-id-1', new Date());
  const build = await dbt(stateDir, file, ['build', ...SELECT]);
  t.is(build.exitCode, 0, describeFailures(build));

  const rows = await readHashed(file);
  t.is(rows.length, users.length);
  for (const r of rows) t.is(r._scd_id, referenceScdId(r), `_scd_id of ${r.user_id} (name ${JSON.stringify(r.name)}, division ${JSON.stringify(r.division)})`);
  // The encoding itself: what collided with '|'-joined text and a \N null marker no longer does.
  t.not(part(null), part('\\N'));
  t.not([part('a|'), part('b')].join(''), [part('a'), part('|b')].join(''));
  t.not([part(''), part(null)].join(''), [part(null), part('')].join(''));
});

test('a row whose name changes from null to \\N, then to NULL, to an empty string and back to null gets a new _scd_id and _dbt_updated_at each time', async (t) => {
  t.timeout(300_000);
  const { file, stateDir } = dbtWorkspace(t, 'sfpipe-scd-id-');
  let step = 0;
  let before: HashedRow | undefined;
  for (const name of [null, '\\N', 'NULL', '', null]) {
    step++;
    // The same version seen again with another name: the loader rewrites raw's row of it.
    await loadWithWarehouse(file, [obs('u1', name, 'North')], `scd-id-${step}`, new Date());
    const call = await dbt(stateDir, file, ['build', ...SELECT]);
    t.is(call.exitCode, 0, `step ${step}: ${describeFailures(call)}`);
    const rows = await readHashed(file);
    t.is(rows.length, 1);
    const row = rows[0]!;
    t.is(row.name, name, `step ${step}`);
    if (before) {
      t.not(row._scd_id, before._scd_id, `step ${step}: name ${JSON.stringify(before.name)} -> ${JSON.stringify(name)} kept _scd_id`);
      t.not(row._dbt_updated_at, before._dbt_updated_at, `step ${step}: name ${JSON.stringify(before.name)} -> ${JSON.stringify(name)} kept _dbt_updated_at`);
    }
    before = row;
  }
});
