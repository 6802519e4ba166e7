{#
  Helpers for the SCD Type 2 dimension. Where DuckDB and the Trino dialect differ,
  the macro goes through adapter.dispatch with a default__ (DuckDB) and a trino__
  version; Athena engine v3 is Trino, so each athena__ version calls the trino__ one.
#}

{# The tracked columns from the dbt var, lower-cased; is_deleted is added by the callers. #}
{% macro scd_tracked_columns() -%}
    {%- set cols = var('scd_tracked_columns', ['division', 'audit_phase__c']) -%}
    {%- if cols is string -%}{%- set cols = [cols] -%}{%- endif -%}
    {%- set out = [] -%}
    {%- for c in cols -%}
        {%- if c | lower not in ['is_deleted'] + out -%}{%- do out.append(c | lower) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}


{#
  A timestamp rendered as text the same way on every engine
  (YYYY-MM-DDTHH:MM:SS.ffffff), so hashes built from it are identical on DuckDB, Athena
  and Trino. Not date_format(…, '%f'): Trino's keeps milliseconds only.
#}
{% macro scd_timestamp_text(expr) -%}
    {{ return(adapter.dispatch('scd_timestamp_text', 'sf_user_pipeline')(expr)) }}
{%- endmacro %}

{% macro default__scd_timestamp_text(expr) -%}
    strftime({{ expr }}, '%Y-%m-%dT%H:%M:%S.%f')
{%- endmacro %}

{% macro trino__scd_timestamp_text(expr) -%}
    to_iso8601(cast({{ expr }} as timestamp(6)))
{%- endmacro %}

{% macro athena__scd_timestamp_text(expr) -%}
    {{ trino__scd_timestamp_text(expr) }}
{%- endmacro %}


{#
  user_key = md5 hex of "<user_id>|<valid_from as YYYY-MM-DDTHH:MM:SS.ffffff>".
  dbt.hash is md5 as lower-case hex on DuckDB, Athena and Trino.
#}
{% macro scd_user_key(user_id, valid_from) -%}
    {{ dbt.hash(dbt.concat([user_id, "'|'", scd_timestamp_text(valid_from)])) }}
{%- endmacro %}


{# The dbt invocation's start time (UTC, naive), as a timestamp literal. #}
{% macro scd_run_timestamp() -%}
    {{ return(adapter.dispatch('scd_run_timestamp', 'sf_user_pipeline')()) }}
{%- endmacro %}

{% macro default__scd_run_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{% macro trino__scd_run_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp(6))
{%- endmacro %}

{% macro athena__scd_run_timestamp() -%}
    {{ trino__scd_run_timestamp() }}
{%- endmacro %}


{#
  A content hash of a row: md5 (lower-case hex, dbt.hash) of its columns' encodings, in order.
  A column encodes as 'N' when null, else as 'V' || length(text) || ':' || text, so no value
  encodes like a null (a name '\N' or 'NULL' included) and no value runs into the next
  column (the length says where it ends). text is the column cast to string, timestamps
  (`timestamps`: their names) through scd_timestamp_text, so the hash is the same on DuckDB,
  Athena and Trino; length counts characters on all three. (Before this encoding, nulls were
  written '\N' and columns joined by '|'. A table built then gets the new _scd_id per user
  when that user is next recomputed, which also moves its _dbt_updated_at; --full-refresh
  renews every row at once.)
#}
{% macro scd_row_hash(columns, timestamps=[]) -%}
    {%- set parts = [] -%}
    {%- for col in columns -%}
        {%- do parts.append(scd_hash_part(col, col in timestamps)) -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{% macro scd_hash_part(expr, is_timestamp=false) -%}
    {%- set text = scd_timestamp_text(expr) if is_timestamp else 'cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')' -%}
    case when {{ expr }} is null then 'N'
         else {{ dbt.concat(["'V'", 'cast(' ~ dbt.length(text) ~ ' as ' ~ dbt.type_string() ~ ')', "':'", text]) }} end
{%- endmacro %}


{#
  is_incremental(), unless var scd_assume_incremental is set (true/false): then
  that answer without looking the table up. `dbt compile --target prod` uses it to
  render the Athena MERGE source offline (the table lookup is a Glue call).
#}
{% macro scd_is_incremental() -%}
    {%- set assumed = var('scd_assume_incremental', none) -%}
    {%- if assumed is none -%}
        {{ return(is_incremental()) }}
    {%- endif -%}
    {{ return((assumed | string | lower) in ['true', '1', 'yes'] and not should_full_refresh()) }}
{%- endmacro %}
