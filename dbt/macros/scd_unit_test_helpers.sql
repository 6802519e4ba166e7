{#
  Unit-test helper: the input of dim_sf_user_scd's ephemeral parent
  int_sf_user_changes, computed from hand-written staged observations with the
  real change-detection macro (dbt requires format: sql for ephemeral inputs, and
  going through the macro keeps the unit tests covering change detection too).

  rows: list of [user_id, name, division, audit_phase__c, is_active, is_deleted,
                 lastmodifieddate, systemmodstamp]; None = null (is_deleted None = false, as staging makes it); timestamps as text.
  The order of rows is the arrival order (it must not matter).
#}
{% macro scd_unit_observations(rows) -%}
    {%- set values = [] -%}
    {%- for r in rows -%}
        {%- set cells = [] -%}
        {%- for v in r -%}
            {%- set i = loop.index0 -%}
            {%- if v is none and i == 5 -%}
                {%- do cells.append('false') -%}
            {%- elif v is none -%}
                {%- do cells.append('cast(null as ' ~ ('boolean' if i in [4, 5] else (scd_timestamp_type() if i in [6, 7] else dbt.type_string())) ~ ')') -%}
            {%- elif i in [4, 5] -%}
                {%- do cells.append('true' if v else 'false') -%}
            {%- elif i in [6, 7] -%}
                {%- do cells.append("cast('" ~ v ~ "' as " ~ scd_timestamp_type() ~ ")") -%}
            {%- else -%}
                {%- do cells.append("cast('" ~ v ~ "' as " ~ dbt.type_string() ~ ")") -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do cells.append("cast('2025-01-01 00:00:00' as " ~ scd_timestamp_type() ~ ")") -%}
        {%- do cells.append("cast('unit' as " ~ dbt.type_string() ~ ")") -%}
        {%- do values.append('(' ~ cells | join(', ') ~ ')') -%}
    {%- endfor -%}
    {%- set relation -%}
    (select * from (values
        {{ values | join(',\n        ') }}
    ) as t(user_id, name, division, audit_phase__c, is_active, is_deleted,
           lastmodifieddate, systemmodstamp, _extracted_at, _extraction_run_id))
    {%- endset -%}
    {{ scd_flag_version_starts(relation) }}
{%- endmacro %}


{#
  The type raw's timestamps have: Iceberg's microsecond timestamp(6) on Athena and Trino (so a
  fixture's columns match what dbt-athena's unit-test tables hold), DuckDB's timestamp elsewhere.
#}
{% macro scd_timestamp_type() -%}
    {{ return(adapter.dispatch('scd_timestamp_type', 'sf_user_pipeline')()) }}
{%- endmacro %}

{% macro default__scd_timestamp_type() -%}
    {{ return('timestamp') }}
{%- endmacro %}

{% macro trino__scd_timestamp_type() -%}
    {{ return('timestamp(6)') }}
{%- endmacro %}

{% macro athena__scd_timestamp_type() -%}
    {{ return(trino__scd_timestamp_type()) }}
{%- endmacro %}
