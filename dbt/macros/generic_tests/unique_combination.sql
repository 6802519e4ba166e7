{# Generic test: the combination of columns is unique (dbt_utils-free; no Hub packages). #}
{% test unique_combination(model, columns) %}

select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
