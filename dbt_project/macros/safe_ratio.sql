{% macro safe_ratio(numerator, denominator) -%}
    {#- numerator / denominator as Float64, NULL when the denominator is 0 -#}
    if(({{ denominator }}) = 0, null, toFloat64({{ numerator }}) / ({{ denominator }}))
{%- endmacro %}
