{% test unique_combination_of_columns(model, combination_of_columns) %}
{#- rows whose combination of columns is not unique (dbt_utils' test, without the package) -#}
select {{ combination_of_columns | join(', ') }}, count() as n
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having n > 1
{% endtest %}
