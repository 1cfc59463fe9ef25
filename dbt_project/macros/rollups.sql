{% macro hourly_outcomes() -%}
    {#- campaign_performance_hourly's outcomes: (measure, the send's time of it, its condition) -#}
    {{ return([
        ('sends', 'sent_at', 'true'),
        ('delivered', 'delivered_at', 'is_delivered'),
        ('bounced', 'bounced_at', 'is_bounced'),
        ('unique_opens', 'first_opened_at', 'true'),
        ('unique_human_opens', 'first_human_opened_at', 'true'),
        ('unique_clicks', 'first_clicked_at', 'true'),
        ('complained', 'complained_at', 'true'),
        ('unsubscribed', 'unsubscribed_at', 'true'),
    ]) }}
{%- endmacro %}

{% macro hourly_measures() -%}
    {#- (measure, when a send counts in it) for sends_rollup_refresh_keys -#}
    {%- set measures = [] -%}
    {%- for measure, at, flag in hourly_outcomes() -%}
        {%- do measures.append((measure, flag ~ ' and ' ~ at ~ ' is not null')) -%}
    {%- endfor -%}
    {{ return(measures) }}
{%- endmacro %}

{% macro deliverability_measures() -%}
    {#- deliverability_by_mailbox_provider's counts: (measure, when a send counts in it) -#}
    {{ return([
        ('sends', 'true'),
        ('delivered', 'is_delivered'),
        ('bounced', 'is_bounced'),
        ('hard_bounced', 'is_hard_bounced'),
        ('complained', 'is_complained'),
        ('unique_opens', 'is_opened'),
        ('unique_human_opens', 'is_human_opened'),
        ('unique_clicks', 'is_clicked'),
    ]) }}
{%- endmacro %}
