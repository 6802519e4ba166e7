{#
  The staging logic over the raw version log, shared by the stg_sf_user view and the
  dimension's incremental path: renamed columns, is_deleted made non-null, one row per
  (id, systemmodstamp). Of several raw rows of one version (a same-second change seen by
  two runs, or rows another loader or a person wrote), the later observation wins: the
  latest _extracted_at, then the greatest _extraction_run_id, as the loader's rewrite does.
  A null stamp or run id counts as earliest. Rows equal in both are ordered by their values,
  a last resort that keeps the choice independent of the engine's row order. `where`
  filters raw rows BEFORE the window, so the incremental path dedupes only the affected
  users' rows instead of the whole history. `raw`: the raw relation, when the caller is not
  a node that depends on the source (a data test's scope, macro scd_test_scope).
#}
{% macro sf_user_observations(where=none, raw=none) -%}
with source as (

    select * from {{ raw if raw is not none else source('sf_raw', 'sf_user') }}
    where id is not null
      and systemmodstamp is not null
      {%- if where %}
      and ({{ where }})
      {%- endif %}

),

ranked as (

    select
        id                              as user_id,
        name,
        division,
        audit_phase__c,
        isactive                        as is_active,
        coalesce(isdeleted, false)      as is_deleted,
        lastmodifieddate,
        systemmodstamp,
        _extracted_at,
        _extraction_run_id,
        row_number() over (
            partition by id, systemmodstamp
            order by
                _extracted_at desc nulls last,
                _extraction_run_id desc nulls last,
                name desc nulls last,
                division desc nulls last,
                audit_phase__c desc nulls last,
                isactive desc nulls last,
                isdeleted desc nulls last,
                lastmodifieddate desc nulls last
        )                               as _repeat_rank
    from source

)

select
    user_id,
    name,
    division,
    audit_phase__c,
    is_active,
    is_deleted,
    lastmodifieddate,
    systemmodstamp,
    _extracted_at,
    _extraction_run_id
from ranked
where _repeat_rank = 1
{%- endmacro %}
