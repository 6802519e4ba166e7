{#
  Schemas are the configured names (sf_staging, sf_curated), without the target-schema prefix
  dbt adds by default, plus the stage's suffix SFPIPE_SCHEMA_SUFFIX, which the runtime sets from
  the environment (assets/config/environment.ts): on a shared warehouse (Athena, Trino) dev
  builds into sf_staging_<developer> / sf_curated_<developer>, staging into sf_staging_staging /
  sf_curated_staging, prod into sf_staging / sf_curated; DuckDB (a file of your own) has none.
  Run by hand without SFPIPE_SCHEMA_SUFFIX, the same default is made from the target (the stage),
  so a hand-run dev build never lands in the stage's own schemas.
  The runtime keys assets by the configured name (sf_curated/dim_sf_user_scd) in every stage.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set suffix = env_var('SFPIPE_SCHEMA_SUFFIX', '__unset__') -%}
    {%- if suffix == '__unset__' -%}
        {%- set suffix = sfpipe_default_schema_suffix() -%}
    {%- endif -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}{{ suffix }}
    {%- endif -%}
{%- endmacro %}

{# The runtime's default suffix of the target's stage: "_<developer>" (SFPIPE_DEVELOPER, else USER) in dev. #}
{% macro sfpipe_default_schema_suffix() -%}
    {%- if target.type == 'duckdb' or target.name == 'prod' -%}
        {{ return('') }}
    {%- elif target.name == 'staging' -%}
        {{ return('_staging') }}
    {%- endif -%}
    {%- set who = modules.re.sub('[^a-z0-9_]', '_', env_var('SFPIPE_DEVELOPER', env_var('USER', '')) | lower) -%}
    {%- if who == '' -%}
        {{ exceptions.raise_compiler_error("the dev target on " ~ target.type ~ " builds into per-developer schemas, but neither SFPIPE_SCHEMA_SUFFIX, SFPIPE_DEVELOPER nor USER is set: set SFPIPE_DEVELOPER=<your name>") }}
    {%- endif -%}
    {{ return('_' ~ who) }}
{%- endmacro %}
