{#
  Data tests scoped to the users an incremental run touched (environment variable
  SFPIPE_DBT_TEST_SCOPE; not a dbt var: a change of vars makes dbt re-parse the whole
  project, and this is read only when tests execute, so partial parsing never sees it).

  SFPIPE_DBT_TEST_SCOPE = 'all' (the default, and what a bare `dbt test` or `dbt build` does):
  every test reads its whole model. 'touched': the tests of stg_sf_user and
  dim_sf_user_scd read only the rows of the users this incremental run could have
  recomputed, so an incremental run's tests cost what its model costs. The runtime asks
  for 'touched' on incremental runs and for 'all' on a full refresh and on its periodic
  full test (dbt.full_test_every), so a row changed by anything else (a person, another
  loader) is still found within that period.

  Why the scope is sound. The dimension's incremental path recomputes the users with a raw
  row extracted after (W - lookback), W = max(_dbt_updated_at) before the run; every row
  a run writes is of such a user. The tests cannot read W after the model ran, so they use
  W' = max(_dbt_updated_at) over the rows this invocation did not write (_dbt_updated_at
  < run_started_at). W' <= W: rows stamped W that this run rewrote or deleted no longer
  count, which only makes W' earlier and the scope larger. Tests of stg_sf_user run before
  the model is built in the same invocation, where W' = W. The invariants the tests check
  (one current row per user, contiguous versions, unique keys, non-null columns, accepted
  values, one staged row per version) are per user or per row, so rows of users outside
  the scope are exactly as they were when a previous run tested them.

  W' is null (a full refresh rewrote every row, or the table is new): every user.
#}

{#
  dbt's hook for the model a generic test reads: the `where` config as dbt applies it,
  within our scope. stg_sf_user's scoped rows are the staging logic applied to the
  touched users' raw rows (sf_user_observations filters before its window: a filter on
  the view would not reach below it, and every test would dedupe the whole raw table).
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- set model = relation -%}
    {%- set identifier = relation.identifier | lower -%}
    {%- set users = scd_test_scope_users() if identifier in ['stg_sf_user', 'dim_sf_user_scd'] else '' -%}
    {%- if users and identifier == 'stg_sf_user' -%}
        {%- set model = '(' ~ sf_user_observations(where='id in (' ~ users ~ ')', raw=scd_raw_relation()) ~ ') as scoped' -%}
    {%- elif users -%}
        {%- set model = '(select * from ' ~ relation ~ ' where user_id in (' ~ users ~ ')) as scoped' -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ model ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- elif users -%}
        {%- do return('(select * from ' ~ model ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}


{#
  The ids of the users in scope, as a query, or '' for every user: scope 'all', parse
  time, a dimension that does not exist yet, or (in SQL) W' null.
#}
{% macro scd_test_scope_users() -%}
    {%- if not execute or (env_var('SFPIPE_DBT_TEST_SCOPE', 'all') | lower) != 'touched' -%}
        {{ return('') }}
    {%- endif -%}
    {%- set dim_node = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
                                           | selectattr('name', 'equalto', 'dim_sf_user_scd') | first -%}
    {%- set dim = adapter.get_relation(database=dim_node.database, schema=dim_node.schema, identifier=dim_node.alias) -%}
    {%- if dim is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- set lookback = var('scd_extracted_at_lookback_minutes', 60) | int -%}
    {%- set users -%}
select scope_src.id
        from {{ scd_raw_relation() }} as scope_src
        cross join (
            select max(prior._dbt_updated_at) as seen_until
            from {{ dim }} as prior
            where prior._dbt_updated_at < {{ scd_run_timestamp() }}
        ) as scope_watermark
        where scope_src.id is not null
          and (scope_watermark.seen_until is null
           or scope_src._extracted_at > {{ dbt.dateadd('minute', -1 * lookback, 'scope_watermark.seen_until') }})
    {%- endset -%}
    {{ return(users) }}
{%- endmacro %}


{# The source sf_raw.sf_user as a relation, for tests that do not depend on it. #}
{% macro scd_raw_relation() -%}
    {%- set node = graph.sources.values() | selectattr('source_name', 'equalto', 'sf_raw')
                                         | selectattr('name', 'equalto', 'sf_user') | first -%}
    {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.identifier)) }}
{%- endmacro %}
