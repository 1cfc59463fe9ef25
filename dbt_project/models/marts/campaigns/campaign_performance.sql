{{ config(order_by='(account_id, campaign_id)') }}
{#-
  Per campaign: sends and their outcomes; unique opens with machine opens (every opened send)
  and without (human opens); rates. Delivery and bounce rates are over sends; open, click,
  complaint and unsubscribe rates over delivered sends; click-to-open over opened sends.
  Summed from campaign_performance_hourly, where each send counts once per outcome (in the hour
  of that outcome) with that outcome's measures: the same totals as over fct_email_sends, from
  a table of one row per campaign and hour instead of one per send.
-#}
with hourly as (
    select * from {{ ref('campaign_performance_hourly') }}
),

campaigns as (
    select * from {{ ref('dim_campaigns') }}
),

totals as (
    select
        account_id,
        campaign_id,
        sum(sends) as sends,
        sum(delivered) as delivered,
        sum(bounced) as bounced,
        sum(hard_bounced) as hard_bounced,
        sum(unique_opens) as unique_opens,
        sum(unique_human_opens) as unique_human_opens,
        sum(machine_only_opens) as machine_only_opens,
        sum(unique_clicks) as unique_clicks,
        sum(unique_human_open_clicks) as unique_human_open_clicks,
        sum(complained) as complained,
        sum(unsubscribed) as unsubscribed,
        sum(total_opens) as total_opens,
        sum(total_clicks) as total_clicks,
        min(first_sent_at) as first_sent_at,
        max(last_sent_at) as last_sent_at
    from hourly
    group by account_id, campaign_id
),

final as (
    select
        -- ids
        totals.account_id as account_id,
        totals.campaign_id as campaign_id,
        -- dimensions
        campaigns.campaign_name as campaign_name,
        campaigns.sending_domain as sending_domain,
        -- measures
        totals.sends as sends,
        totals.delivered as delivered,
        totals.bounced as bounced,
        totals.hard_bounced as hard_bounced,
        toUInt64(totals.bounced - totals.hard_bounced) as soft_bounced,
        totals.unique_opens as unique_opens,
        totals.unique_human_opens as unique_human_opens,
        totals.machine_only_opens as machine_only_opens,
        totals.unique_clicks as unique_clicks,
        totals.unique_human_open_clicks as unique_human_open_clicks,
        totals.complained as complained,
        totals.unsubscribed as unsubscribed,
        totals.total_opens as total_opens,
        totals.total_clicks as total_clicks,
        {{ safe_ratio('totals.delivered', 'totals.sends') }} as delivery_rate,
        {{ safe_ratio('totals.bounced', 'totals.sends') }} as bounce_rate,
        {{ safe_ratio('totals.hard_bounced', 'totals.sends') }} as hard_bounce_rate,
        {{ safe_ratio('totals.unique_opens', 'totals.delivered') }} as open_rate,
        {{ safe_ratio('totals.unique_human_opens', 'totals.delivered') }} as human_open_rate,
        {{ safe_ratio('totals.unique_clicks', 'totals.delivered') }} as click_rate,
        {{ safe_ratio('totals.unique_clicks', 'totals.unique_opens') }} as click_to_open_rate,
        {{ safe_ratio('totals.unique_human_open_clicks', 'totals.unique_human_opens') }}
            as human_click_to_open_rate,
        {{ safe_ratio('totals.complained', 'totals.delivered') }} as complaint_rate,
        {{ safe_ratio('totals.unsubscribed', 'totals.delivered') }} as unsubscribe_rate,
        -- timestamps
        totals.first_sent_at as first_sent_at,
        totals.last_sent_at as last_sent_at,
        now64(3, 'UTC') as refreshed_at
    from totals
    left join campaigns on campaigns.campaign_id = totals.campaign_id
)

select * from final
