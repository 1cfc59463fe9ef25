{#-
  Data tests of the keyed marts in the scheduled refresh: only the rows the refresh rebuilt.
  A test's `where` config names a scope instead of a condition:
  - `refreshed_rows`: the rows of the model's newest build (`built_at` = its latest stamp);
  - `refreshed_keys(column)`: every row, old or new, of the `column` values that have a row of
    the newest build (a `unique` test on them still sees an older row of the same key).
  With var tests_scope = 'refreshed' (the analytics_refresh job passes it) the scope applies;
  otherwise (a full build, a plain `dbt build`, the test suite) the test reads every row.
  Why that is complete: rows are written only by a build, stamped with its start, and a row
  not rebuilt is the row an earlier (tested) build wrote, or gone; deleting rows cannot make a
  null, an unknown value or a duplicate. So a not-null or accepted-values failure lies in the
  newest rows, and a duplicate involves a newest row, whose key the keys scope covers (with
  every other row of that key, across the window's boundary).
-#}
{% macro clickhouse__get_where_subquery(relation) -%}
    {%- set where = config.get('where') or '' -%}
    {%- set scoped = where == 'refreshed_rows' or where.startswith('refreshed_keys(') -%}
    {%- if scoped and var('tests_scope', 'all') != 'refreshed' -%}
        {%- do return(relation) -%}
    {%- endif -%}
    {%- set newest = "built_at = (select max(built_at) from " ~ relation ~ ")" -%}
    {%- if where == 'refreshed_rows' -%}
        {%- set where = newest -%}
    {%- elif scoped -%}
        {%- set column = where[15:-1] | trim -%}
        {%- set where = column ~ " in (select " ~ column ~ " from " ~ relation ~ " where "
            ~ newest ~ ")" -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}
