{#
  SCD-integrity (blocking, severity error). Returns one row per violation:
  - valid_from >= valid_to                       (empty or inverted interval)
  - valid_to <> the next version's valid_from    (gap or overlap, per user)
  - a user without exactly one current row
  - is_current disagreeing with valid_to is null (current row with a valid_to,
    or a closed row marked current)
  - a user_key that does not identify one row
  On an incremental run with SFPIPE_DBT_TEST_SCOPE=touched, only the users that run
  could have recomputed (macro scd_test_scope_users; every check here is per user).
#}
{{ config(severity='error', tags=['scd_integrity']) }}

with dim as (

    select
        user_key,
        user_id,
        valid_from,
        valid_to,
        is_current,
        lead(valid_from) over (partition by user_id order by valid_from, user_key) as next_valid_from,
        count(*) over (partition by user_id, valid_from) as versions_at_valid_from
    from {{ ref('dim_sf_user_scd') }}
    {%- set users = scd_test_scope_users() %}
    {%- if users %}
    where user_id in ({{ users }})
    {%- endif %}

),

row_violations as (

    select user_id, user_key, 'valid_from >= valid_to' as violation
    from dim
    where valid_to is not null and valid_from >= valid_to

    union all

    select user_id, user_key, 'gap or overlap with the next version' as violation
    from dim
    where next_valid_from is not null
      and (valid_to is null or valid_to <> next_valid_from)

    union all

    select user_id, user_key, 'two versions start at the same valid_from' as violation
    from dim
    where versions_at_valid_from > 1

    union all

    select user_id, user_key, 'is_current disagrees with valid_to' as violation
    from dim
    where (is_current and valid_to is not null)
       or (not is_current and valid_to is null)
       or is_current is null

),

user_violations as (

    select user_id, cast(null as {{ dbt.type_string() }}) as user_key,
           'not exactly one current row' as violation
    from dim
    group by user_id
    having sum(case when is_current then 1 else 0 end) <> 1

)

select * from row_violations
union all
select * from user_violations
