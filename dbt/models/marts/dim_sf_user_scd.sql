{#
  dim_sf_user_scd: SCD Type 2 history of Salesforce Users, one row per version
  (docs/data-model.md).

  Versions
  - observations of a user are ordered by systemmodstamp; a version opens when a
    tracked column (var scd_tracked_columns, plus is_deleted) is distinct from the
    previous observation's value (int_sf_user_changes);
  - valid_from / update_date = systemmodstamp / lastmodifieddate of the version's
    first observation; valid_to = the next version's valid_from, null for the
    current one; is_current = (valid_to is null), so exactly one per user;
  - every other column comes from the version's latest observation (tracked ones
    are constant inside a version, so this only matters for name, is_active);
  - user_key = md5(user_id | valid_from) (macro scd_user_key): stable across
    rebuilds, identical on DuckDB and Athena;
  - _scd_id = md5 of the row's content (user_key and every column but
    _dbt_updated_at, each null-flagged and length-prefixed: macro scd_row_hash): it
    changes iff the row changes;
  - _dbt_updated_at = start of the dbt run that last changed the row; a row that
    is recomputed identical keeps its old value.

  Incremental runs
  - Which users: those with a staged observation whose _extracted_at is later
    than (max(_dbt_updated_at) in this table - var scd_extracted_at_lookback_minutes).
    Why _extracted_at and not systemmodstamp: a late version can carry a
    systemmodstamp older than anything the dimension has seen, but it is always
    *extracted* after the dbt run that preceded its load. Both _extracted_at
    (TypeScript loader) and run_started_at (dbt) are UTC wall-clock times taken
    in the same job, and the runtime never runs dbt concurrently with the load
    (run lock). max(_dbt_updated_at) is the start of the last dbt run that changed
    something, hence <= the last run's start: the watermark can only be early,
    and being early merely reprocesses users (recomputation is idempotent). The
    lookback covers clock skew and loads that commit after the time they stamp.
    An anti-join on (user_id, systemmodstamp) is not possible here: the
    dimension keeps versions, not every observation it absorbed.
    Cost: one aggregate over the dimension and one filtered scan of staging;
    change detection (the int_sf_user_changes macro) then runs on the affected
    users' observations only.
  - Those users' whole histories are recomputed from staging (so a late,
    out-of-order version lands in place) and replace their rows:
      DuckDB  delete+insert keyed on user_id: every row of an affected user is
              deleted and the recomputed rows inserted, in one transaction; a
              row whose key no longer exists (a version split or shifted by a
              late arrival) cannot survive.
      Athena, Trino  Iceberg MERGE keyed on user_key (dbt-athena's merge; on
              dbt-trino our trino__get_merge_sql, which honours the same conditions). The source also carries one
              "stale" row (with _scd_id null) for each existing row of an
              affected user whose user_key is not among the recomputed rows;
              delete_condition removes those, update_condition rewrites only rows
              whose _scd_id changed, insert_condition never inserts a stale row.
              One MERGE statement, so it is atomic and needs no pre-hook.
  - A rerun with no new raw rows selects no user and changes nothing.
  - Changing scd_tracked_columns changes history: run with --full-refresh.
#}
{#- Athena and Trino: one Iceberg MERGE (the same conditions); DuckDB: delete+insert. -#}
{%- set is_athena = target.type == 'athena' -%}
{%- set is_trino_dialect = target.type in ['athena', 'trino'] -%}
{%- set cfg = {
    'materialized': 'incremental',
    'incremental_strategy': 'merge' if is_trino_dialect else 'delete+insert',
    'unique_key': 'user_key' if is_trino_dialect else 'user_id',
    'on_schema_change': 'append_new_columns',
} -%}
{%- if is_trino_dialect -%}
    {%- do cfg.update({
        'delete_condition': 'src._scd_id is null',
        'update_condition': 'src._scd_id is not null and target._scd_id is distinct from src._scd_id',
        'insert_condition': 'src._scd_id is not null',
    }) -%}
{%- endif -%}
{%- if is_athena -%}
    {%- do cfg.update({
        'table_type': 'iceberg',
        'format': 'parquet',
        'write_compression': 'snappy',
        'partitioned_by': ['is_current', 'bucket(user_id, 8)'],
        'table_properties': {'optimize_rewrite_delete_file_threshold': '2'},
    }) -%}
{%- elif is_trino_dialect -%}
    {#- dbt-trino: Iceberg table properties; its merge is ours (macros/trino_merge.sql). -#}
    {%- do cfg.update({
        'properties': {'format': "'PARQUET'", 'partitioning': "ARRAY['is_current', 'bucket(user_id, 8)']"},
    }) -%}
{%- endif -%}
{{ config(**cfg) }}

{#- refs outside any conditional, so dbt records both dependencies in every mode -#}
{%- set staging = ref('stg_sf_user') -%}
{%- set raw_versions = source('sf_raw', 'sf_user') -%}
{%- set changes_model = ref('int_sf_user_changes') -%}
{%- set incremental = scd_is_incremental() -%}
{%- set emit_stale_rows = incremental and config.get('incremental_strategy') == 'merge' -%}
{%- set content_columns = ['user_id', 'name', 'division', 'audit_phase__c', 'is_active',
                           'is_deleted', 'update_date', 'valid_from', 'valid_to', 'is_current'] -%}

with

{% if incremental -%}
watermark as (

    select max(_dbt_updated_at) as seen_until
    from {{ this }}

),

-- Read from raw, not from the staging view: the view's dedupe window would run over the
-- whole history. A re-extracted repeat only makes its user recomputed, to the same rows.
affected_users as (

    select distinct src.id as user_id
    from {{ raw_versions }} as src
    cross join watermark
    where src.id is not null
      and (watermark.seen_until is null
       or src._extracted_at > {{ dbt.dateadd('minute', -1 * (var('scd_extracted_at_lookback_minutes', 60) | int), 'watermark.seen_until') }})

),

{% endif -%}
{% if incremental -%}
-- The staging logic applied to the affected users' raw rows only.
affected_observations as (

    {{ sf_user_observations(where='id in (select user_id from affected_users)') | indent(4) }}

),

-- The same change detection as int_sf_user_changes (macro scd_flag_version_starts),
-- applied to the affected users' observations *before* its window functions:
-- engines do not push the user filter below the windows of the ephemeral CTE.
changes as (

    {{ scd_flag_version_starts('affected_observations') | indent(4) }}

),
{%- else -%}
changes as (

    select * from {{ changes_model }}

),
{%- endif %}

version_starts as (

    select
        user_id,
        version_seq,
        systemmodstamp   as valid_from,
        lastmodifieddate as update_date
    from changes
    where is_version_start

),

version_latest as (

    select *
    from (
        select
            user_id,
            version_seq,
            name,
            division,
            audit_phase__c,
            is_active,
            is_deleted,
            row_number() over (
                partition by user_id, version_seq
                order by systemmodstamp desc
            ) as latest_rank
        from changes
    ) as ranked
    where latest_rank = 1

),

versions as (

    select
        vs.user_id,
        vl.name,
        vl.division,
        vl.audit_phase__c,
        vl.is_active,
        vl.is_deleted,
        vs.update_date,
        vs.valid_from,
        lead(vs.valid_from) over (partition by vs.user_id order by vs.valid_from) as valid_to
    from version_starts as vs
    inner join version_latest as vl
        on vl.user_id = vs.user_id
       and vl.version_seq = vs.version_seq

),

scd as (

    select
        {{ scd_user_key('user_id', 'valid_from') }} as user_key,
        user_id,
        name,
        division,
        audit_phase__c,
        is_active,
        is_deleted,
        update_date,
        valid_from,
        valid_to,
        valid_to is null as is_current
    from versions

),

hashed as (

    select
        scd.*,
        {{ scd_row_hash(['user_key'] + content_columns, timestamps=['update_date', 'valid_from', 'valid_to']) }} as _scd_id
    from scd

)

select
    hashed.user_key,
    hashed.user_id,
    hashed.name,
    hashed.division,
    hashed.audit_phase__c,
    hashed.is_active,
    hashed.is_deleted,
    hashed.update_date,
    hashed.valid_from,
    hashed.valid_to,
    hashed.is_current,
    hashed._scd_id,
    {%- if incremental %}
    case
        when existing._scd_id = hashed._scd_id then existing._dbt_updated_at
        else {{ scd_run_timestamp() }}
    end as _dbt_updated_at
    {%- else %}
    {{ scd_run_timestamp() }} as _dbt_updated_at
    {%- endif %}
from hashed
{%- if incremental %}
left join {{ this }} as existing
    on existing.user_key = hashed.user_key
{%- endif %}
{%- if emit_stale_rows %}

union all

-- Athena MERGE: rows of affected users whose key no longer exists; deleted via delete_condition.
select
    stale.user_key,
    stale.user_id,
    stale.name,
    stale.division,
    stale.audit_phase__c,
    stale.is_active,
    stale.is_deleted,
    stale.update_date,
    stale.valid_from,
    stale.valid_to,
    stale.is_current,
    cast(null as {{ dbt.type_string() }}) as _scd_id,
    stale._dbt_updated_at
from {{ this }} as stale
where stale.user_id in (select user_id from affected_users)
  and stale.user_key not in (select user_key from hashed)
{%- endif %}
