{#-
  Per campaign and hour: each send counted once per outcome, in the hour its outcome first
  happened (sent, delivered, bounced, first open, first human open, first click, complaint,
  unsubscribe), so summing the hours gives campaign_performance's totals (it is built from this
  table): with each outcome, the measures of that outcome's sends (hard bounces among the
  bounces, opens and machine-only opens at the first open, clicks and clicks of human-opened
  sends at the first click, the first and last send time at the send). One aggregation per
  outcome (a few columns each), then their sum per hour.
  Incremental by campaign (macros/refresh_keys.sql, macros/mart_refresh.sql): a refresh rebuilds
  every hour of the campaigns with a send built since, or whose count of sends changed (sends
  gone).
-#}
{%- set time = "Nullable(DateTime64(6, 'UTC'))" -%}
{#- (outcome time, flag, its measures: name, aggregate) -#}
{%- set outcomes = [
    ('sent_at', 'true', [
        ('sends', 'count()'),
        ('first_sent_at', "cast(min(sent_at) as " ~ time ~ ")"),
        ('last_sent_at', "cast(max(sent_at) as " ~ time ~ ")"),
    ]),
    ('delivered_at', 'is_delivered', [('delivered', 'count()')]),
    ('bounced_at', 'is_bounced', [
        ('bounced', 'count()'), ('hard_bounced', 'countIf(is_hard_bounced)'),
    ]),
    ('first_opened_at', 'true', [
        ('unique_opens', 'count()'),
        ('machine_only_opens', 'countIf(not is_human_opened)'),
        ('total_opens', 'sum(open_count)'),
    ]),
    ('first_human_opened_at', 'true', [('unique_human_opens', 'count()')]),
    ('first_clicked_at', 'true', [
        ('unique_clicks', 'count()'),
        ('unique_human_open_clicks', 'countIf(is_human_opened)'),
        ('total_clicks', 'sum(click_count)'),
    ]),
    ('complained_at', 'true', [('complained', 'count()')]),
    ('unsubscribed_at', 'true', [('unsubscribed', 'count()')]),
] -%}
{%- set measures = [] -%}
{%- for _, _, items in outcomes -%}
    {%- for name, _ in items -%}
        {%- do measures.append(name) -%}
    {%- endfor -%}
{%- endfor -%}
{%- set times = ['first_sent_at', 'last_sent_at'] -%}
{%- set measures_in_order = [
    'sends', 'delivered', 'bounced', 'unique_opens', 'unique_human_opens', 'unique_clicks',
    'complained', 'unsubscribed', 'hard_bounced', 'machine_only_opens', 'total_opens',
    'unique_human_open_clicks', 'total_clicks',
] -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        order_by='(account_id, campaign_id, hour_at)',
        pre_hook="{{ refresh_keys_pre('campaign_id',"
            ~ " campaign_performance_hourly_refresh_keys()) }}",
        post_hook="{{ refresh_keys_post('campaign_id', rewrite=true) }}",
    )
}}
with sends as (
    select * from {{ ref('fct_email_sends') }}
    {% if is_incremental() %}
    -- by (account, campaign), its sorting key's prefix: each outcome's scan reads only those
    where (account_id, campaign_id) in (
        select account_id, campaign_id from {{ ref('fct_email_sends') }}
        where {{ refreshed_keys('campaign_id') }}
    )
    {% endif %}
),

per_outcome as (
    {%- for at, flag, items in outcomes %}
    {%- set own = dict(items) %}
    select
        account_id,
        campaign_id,
        toStartOfHour(toDateTime64(assumeNotNull({{ at }}), 6, 'UTC')) as hour_at,
        {%- for other in measures %}
        {%- if other in own %}
        {{ own[other] }} as {{ other }}{{ ',' if not loop.last }}
        {%- elif other in times %}
        cast(null as {{ time }}) as {{ other }}{{ ',' if not loop.last }}
        {%- else %}
        toUInt64(0) as {{ other }}{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from sends
    where {{ flag }} and {{ at }} is not null
    group by account_id, campaign_id, hour_at
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

final as (
    select
        -- ids
        account_id,
        campaign_id,
        -- timestamps
        hour_at,
        -- measures: the first eight, then those campaign_performance reads (in the order
        -- campaign_performance_hourly_refresh_keys adds them to an older table)
        {%- for measure in measures_in_order %}
        sum({{ measure }}) as {{ measure }},
        {%- endfor %}
        -- the first and last send time of the hour's sends (null: none sent in the hour)
        min(first_sent_at) as first_sent_at,
        max(last_sent_at) as last_sent_at,
        -- lineage: the run that built this row
        {{ run_stamp() }} as built_at
    from per_outcome
    group by account_id, campaign_id, hour_at
)

select * from final
