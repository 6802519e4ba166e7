{#
  Generic test: for every value of group_by, exactly one row has column_name = true.
  Fails with the groups that have none or several.
#}
{% test exactly_one_true_per_group(model, column_name, group_by) %}

select
    {{ group_by }} as group_value,
    sum(case when {{ column_name }} then 1 else 0 end) as true_rows
from {{ model }}
group by {{ group_by }}
having sum(case when {{ column_name }} then 1 else 0 end) <> 1

{% endtest %}
