{#
  Schemas are exactly the configured names (sf_staging, sf_curated), without the
  target-schema prefix dbt adds by default: the TypeScript runtime derives asset
  keys (sf_staging/stg_sf_user, sf_curated/dim_sf_user_scd) from them.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
