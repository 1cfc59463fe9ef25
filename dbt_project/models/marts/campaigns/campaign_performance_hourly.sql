{{ config(order_by='(account_id, campaign_id, hour_at)') }}
{#-
  Per campaign and hour: each send counted once per outcome, in the hour its outcome first
  happened (sent, delivered, bounced, first open, first human open, first click, complaint,
  unsubscribe), so summing the hours gives campaign_performance's totals.
-#}
with sends as (
    select * from {{ ref('fct_email_sends') }}
),

touches as (
    select
        account_id,
        campaign_id,
        touch.1 as measure,
        toStartOfHour(assumeNotNull(touch.2)) as hour_at
    from sends
    array join arrayFilter(
        t -> t.2 is not null,
        [
            tuple('sends', sent_at),
            tuple('delivered', if(is_delivered, delivered_at, null)),
            tuple('bounced', if(is_bounced, bounced_at, null)),
            tuple('unique_opens', first_opened_at),
            tuple('unique_human_opens', first_human_opened_at),
            tuple('unique_clicks', first_clicked_at),
            tuple('complained', complained_at),
            tuple('unsubscribed', unsubscribed_at)
        ]
    ) as touch
),

final as (
    select
        -- ids
        account_id,
        campaign_id,
        -- timestamps
        hour_at,
        -- measures
        countIf(measure = 'sends') as sends,
        countIf(measure = 'delivered') as delivered,
        countIf(measure = 'bounced') as bounced,
        countIf(measure = 'unique_opens') as unique_opens,
        countIf(measure = 'unique_human_opens') as unique_human_opens,
        countIf(measure = 'unique_clicks') as unique_clicks,
        countIf(measure = 'complained') as complained,
        countIf(measure = 'unsubscribed') as unsubscribed
    from touches
    group by account_id, campaign_id, hour_at
)

select * from final
