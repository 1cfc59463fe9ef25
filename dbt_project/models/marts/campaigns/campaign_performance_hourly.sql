{#-
  Per campaign and hour: each send counted once per outcome, in the hour its outcome first
  happened (sent, delivered, bounced, first open, first human open, first click, complaint,
  unsubscribe), so summing the hours gives campaign_performance's totals. One aggregation per
  outcome (a few columns each), then their sum per hour.
  Incremental by campaign (macros/refresh_keys.sql): a refresh rebuilds every hour of the
  campaigns with a send built since, or whose count of sends changed (sends gone).
-#}
{%- set outcomes = [
    ('sends', 'sent_at', 'true'),
    ('delivered', 'delivered_at', 'is_delivered'),
    ('bounced', 'bounced_at', 'is_bounced'),
    ('unique_opens', 'first_opened_at', 'true'),
    ('unique_human_opens', 'first_human_opened_at', 'true'),
    ('unique_clicks', 'first_clicked_at', 'true'),
    ('complained', 'complained_at', 'true'),
    ('unsubscribed', 'unsubscribed_at', 'true'),
] %}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        order_by='(account_id, campaign_id, hour_at)',
        pre_hook="{{ refresh_keys_pre('campaign_id',"
            ~ " sends_rollup_refresh_keys('campaign_id', 'campaign_id')) }}",
        post_hook="{{ refresh_keys_post('campaign_id') }}",
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
    {%- for measure, at, flag in outcomes %}
    select
        account_id,
        campaign_id,
        toStartOfHour(toDateTime64(assumeNotNull({{ at }}), 6, 'UTC')) as hour_at,
        {%- for other, _, _ in outcomes %}
        {{ 'count()' if other == measure else 'toUInt64(0)' }} as {{ other }}{{ ',' if not loop.last }}
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
        -- measures
        {%- for measure, _, _ in outcomes %}
        sum({{ measure }}) as {{ measure }},
        {%- endfor %}
        -- lineage: the run that built this row
        {{ run_stamp() }} as built_at
    from per_outcome
    group by account_id, campaign_id, hour_at
)

select * from final
