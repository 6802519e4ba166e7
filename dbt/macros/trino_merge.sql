{#
  dbt-trino's merge with the conditions dbt-athena's merge takes, so that the SCD
  dimension's one MERGE (dim_sf_user_scd.sql) is the same statement on Athena and on
  Trino: `delete_condition` (when matched … then delete), `update_condition` (when
  matched … then update) and `insert_condition` (when not matched … then insert),
  written against the aliases `target` and `src` as dbt-athena's are. Each condition
  is parenthesised here (dbt-athena inserts them bare, so an OR there would bind
  wrongly). Overrides dbt-trino's trino__get_merge_sql for this project; without a
  unique key it appends, as dbt-trino's does.
#}
{% macro trino__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
    {%- set dest_cols = dest_columns | map(attribute='name') | map('lower') | list -%}
    {%- set quoted = [] -%}
    {%- for c in dest_cols -%}{%- do quoted.append(adapter.quote(c)) -%}{%- endfor -%}
    {%- set delete_condition = config.get('delete_condition') -%}
    {%- set update_condition = config.get('update_condition') -%}
    {%- set insert_condition = config.get('insert_condition') -%}
    {%- set keys = [unique_key] if unique_key is string else (unique_key or []) -%}
    {%- set predicates = [] if incremental_predicates is none else [] + incremental_predicates -%}
    {%- for key in keys -%}
        {%- do predicates.append('target.' ~ adapter.quote(key) ~ ' = src.' ~ adapter.quote(key)) -%}
    {%- endfor -%}
    {%- if keys | length == 0 -%}
        insert into {{ target }} ({{ quoted | join(', ') }})
        select {{ quoted | join(', ') }} from {{ source }}
    {%- else -%}
        merge into {{ target }} as target
        using {{ source }} as src
        on ({{ predicates | join(') and (') }})
        {%- if delete_condition %}
        when matched and ({{ delete_condition }}) then delete
        {%- endif %}
        when matched{% if update_condition %} and ({{ update_condition }}){% endif %} then update set
            {%- for c in dest_cols if c not in keys %}
            {{ adapter.quote(c) }} = src.{{ adapter.quote(c) }}{{ ',' if not loop.last }}
            {%- endfor %}
        when not matched{% if insert_condition %} and ({{ insert_condition }}){% endif %} then insert ({{ quoted | join(', ') }})
        values ({% for c in quoted %}src.{{ c }}{{ ', ' if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}
