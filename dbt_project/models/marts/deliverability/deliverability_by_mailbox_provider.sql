{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        order_by='(account_id, sent_date, sending_domain, mailbox_provider)',
        pre_hook="{{ refresh_keys_pre('sent_date',"
            ~ " sends_rollup_refresh_keys('sent_date', 'toDate(sent_at)')) }}",
        post_hook="{{ refresh_keys_post('sent_date', rewrite=true) }}",
    )
}}
{#-
  Per account, day sent, sending domain and recipient mailbox provider (seed mailbox_providers).
  Incremental by day sent (macros/refresh_keys.sql): a refresh rebuilds the days with a send
  built since, or whose count of sends changed (sends gone).
-#}
with sends as (
    select * from {{ ref('fct_email_sends') }}
    {% if is_incremental() %}
    where toDate(sent_at) in (select sent_date from {{ refresh_keys_relation() }})
    {% endif %}
),

totals as (
    select
        account_id,
        toDate(sent_at) as sent_date,
        sending_domain,
        mailbox_provider,
        count() as sends,
        countIf(is_delivered) as delivered,
        countIf(is_bounced) as bounced,
        countIf(is_hard_bounced) as hard_bounced,
        countIf(is_complained) as complained,
        countIf(is_opened) as unique_opens,
        countIf(is_human_opened) as unique_human_opens,
        countIf(is_clicked) as unique_clicks
    from sends
    group by account_id, sent_date, sending_domain, mailbox_provider
),

final as (
    select
        -- ids
        account_id,
        -- dimensions
        sent_date,
        sending_domain,
        mailbox_provider,
        -- measures
        sends,
        delivered,
        bounced,
        hard_bounced,
        complained,
        unique_opens,
        unique_human_opens,
        unique_clicks,
        {{ safe_ratio('delivered', 'sends') }} as delivery_rate,
        {{ safe_ratio('bounced', 'sends') }} as bounce_rate,
        {{ safe_ratio('complained', 'delivered') }} as complaint_rate,
        {{ safe_ratio('unique_opens', 'delivered') }} as open_rate,
        {{ safe_ratio('unique_human_opens', 'delivered') }} as human_open_rate,
        -- lineage: the run that built this row
        {{ run_stamp() }} as built_at
    from totals
)

select * from final
