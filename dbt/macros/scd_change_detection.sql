{#
  Change detection over staged observations (columns of stg_sf_user), shared by
  int_sf_user_changes and the unit tests' fixtures. See int_sf_user_changes.sql.
#}
{% macro scd_flag_version_starts(observations_relation) -%}
{%- set tracked = scd_tracked_columns() + ['is_deleted'] -%}
{%- set by_user = "partition by user_id order by systemmodstamp" -%}

with observations as (

    select * from {{ observations_relation }}

),

flagged as (

    select
        observations.*,
        case
            when row_number() over ({{ by_user }}) = 1 then true
            {%- for col in tracked %}
            when {{ col }} is distinct from lag({{ col }}) over ({{ by_user }}) then true
            {%- endfor %}
            else false
        end as is_version_start
    from observations

)

select
    flagged.*,
    sum(case when is_version_start then 1 else 0 end) over (
        {{ by_user }}
        rows between unbounded preceding and current row
    ) as version_seq
from flagged
{%- endmacro %}
